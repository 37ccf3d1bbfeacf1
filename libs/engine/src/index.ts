export * from './status';
export * from './types';
