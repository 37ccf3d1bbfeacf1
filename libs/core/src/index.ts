export * from './status';
export * from './types';
export * from './history';
export * from './backoff';
export * from './outputs';
export * from './initial-state';
export * from './transition';
