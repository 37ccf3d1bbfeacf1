import type { DataSourceOptions } from 'typeorm';
import { SagaEventEntity } from './entities/saga-event.entity';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaStepEntity } from './entities/saga-step.entity';
import { Init1763700000000 } from './migrations/1763700000000-init';
import { AuditAndAlerts1763780000000 } from './migrations/1763780000000-audit-and-alerts';
import { Supervisor1763800000000 } from './migrations/1763800000000-supervisor';
import { TraceParent1763900000000 } from './migrations/1763900000000-trace-parent';
import { Retention1764000000000 } from './migrations/1764000000000-retention';

export const ENTITIES = [SagaInstanceEntity, SagaStepEntity, SagaEventEntity];
export const MIGRATIONS = [
  Init1763700000000,
  AuditAndAlerts1763780000000,
  Supervisor1763800000000,
  TraceParent1763900000000,
  Retention1764000000000,
];

/** Options shared by the app and the tests: migrations run at start, never `synchronize`. */
export function dataSourceOptions(url: string, poolSize: number): DataSourceOptions {
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: true,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error', 'migration'],
    extra: { max: poolSize, connectionTimeoutMillis: 10_000 },
  };
}
