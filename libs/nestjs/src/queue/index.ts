export * from './queue-backend';
export * from './redis';
export * from './step-job';
export * from './step-queue';
export * from './transport-options';
export * from '../invokers';
