export * from './data-source-options';
export * from './ensure-database';
export * from './entities/saga-event.entity';
export * from './entities/saga-instance.entity';
export * from './entities/saga-step.entity';
export * from './saga-queries';
export * from './saga-store';
export * from './store.module';
