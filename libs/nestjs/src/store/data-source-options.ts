import type { DataSourceOptions } from 'typeorm';
import { SagaEventEntity } from './entities/saga-event.entity';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaStepEntity } from './entities/saga-step.entity';
import { Init1763700000000 } from './migrations/1763700000000-init';
import { AuditAndAlerts1763780000000 } from './migrations/1763780000000-audit-and-alerts';
import { Supervisor1763800000000 } from './migrations/1763800000000-supervisor';
import { TraceParent1763900000000 } from './migrations/1763900000000-trace-parent';
import { AuditPrivileges1763960000000 } from './migrations/1763960000000-audit-privileges';
import { SignalInboxAndCircuits1764040000000 } from './migrations/1764040000000-signal-inbox-and-circuits';
import { CompletedAtIndex1764080000000 } from './migrations/1764080000000-completed-at-index';
import { DefinitionsAndAgents1765100000000 } from './migrations/1765100000000-definitions-and-agents';
import { TimersAndSchedules1765200000000 } from './migrations/1765200000000-timers-and-schedules';
import { ChildrenAndFanOuts1765300000000 } from './migrations/1765300000000-children-and-fan-outs';
import { AuditChain1766000000000 } from './migrations/1766000000000-audit-chain';
import { FailFast1766100000000 } from './migrations/1766100000000-fail-fast';
import { BusinessKeysAndSearchAttributes1766200000000 } from './migrations/1766200000000-business-keys-and-search-attributes';
import { OperatorStepActions1766300000000 } from './migrations/1766300000000-operator-step-actions';
import { BulkJobs1766400000000 } from './migrations/1766400000000-bulk-jobs';
import { InstanceFillfactor1766500000000 } from './migrations/1766500000000-instance-fillfactor';
import { HistoryWithoutForeignKeys1766600000000 } from './migrations/1766600000000-history-without-foreign-keys';
import { listenForClientErrors } from './pg-client-errors';
import { DEFAULT_PG_TIMEOUTS, type PgTimeouts, pgPoolOptions } from './pg-timeouts';
import { SagaTypeOrmLogger } from './typeorm-logger';

export const ENTITIES = [SagaInstanceEntity, SagaStepEntity, SagaEventEntity];
export const MIGRATIONS = [
  Init1763700000000,
  AuditAndAlerts1763780000000,
  Supervisor1763800000000,
  TraceParent1763900000000,
  AuditPrivileges1763960000000,
  SignalInboxAndCircuits1764040000000,
  CompletedAtIndex1764080000000,
  DefinitionsAndAgents1765100000000,
  TimersAndSchedules1765200000000,
  ChildrenAndFanOuts1765300000000,
  AuditChain1766000000000,
  FailFast1766100000000,
  BusinessKeysAndSearchAttributes1766200000000,
  OperatorStepActions1766300000000,
  BulkJobs1766400000000,
  InstanceFillfactor1766500000000,
  HistoryWithoutForeignKeys1766600000000,
];

/**
 * Options shared by the app and the tests: migrations run at start (unless `migrate` is false), never
 * `synchronize`. Every connection has the engine's time limits (see PgTimeouts); `null` opens a pool without them,
 * for the migrations (a CREATE INDEX on a large table may take minutes).
 */
export function dataSourceOptions(
  url: string,
  poolSize: number,
  timeouts: PgTimeouts | null = DEFAULT_PG_TIMEOUTS,
  { migrate = true }: { migrate?: boolean } = {},
): DataSourceOptions {
  const pool = timeouts
    ? pgPoolOptions(timeouts)
    : { connectionTimeoutMillis: 10_000, keepAlive: true, onConnect: listenForClientErrors };
  return {
    type: 'postgres',
    url,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: migrate,
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['error', 'warn', 'migration'],
    logger: new SagaTypeOrmLogger(),
    // Failures of idle connections reach whoever uses the pool next; they are not worth a line each.
    poolErrorHandler: () => undefined,
    extra: { ...pool, max: poolSize },
  };
}
