export * from './http-invoker';
export * from './invoke-errors';
export * from './microservice-invoker';
export * from './participant-policies';
export * from './trace-context';
export * from './participant-limits';
