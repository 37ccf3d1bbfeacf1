import type { DynamicModule } from '@nestjs/common';
import type { SagaDefinition } from '@app/engine';
import { StoreModule } from '@app/store';
import { type ParticipantPolicies, TransportModule, queueBackendFor } from '@app/transport';
import { databaseUrlOf } from './backends';
import type { EngineConfig } from './config';
import { RuntimeModule } from './runtime.module';

/** A step still running after this long is recorded as RUNNING (fast steps skip that write). */
const RUNNING_MARK_MS = 1000;

/**
 * The engine's core as every process wires it: the store, the step queue and the runtime (scheduler, plus the
 * agent and the supervisor where asked). DATABASE_URL as resolveBackends left it (the embedded PostgreSQL's when
 * unset); no REDIS_URL: BullMQ on its PostgreSQL backend in the same database.
 */
export function engineModules(
  config: EngineConfig,
  {
    sagas,
    agent,
    supervisor,
    participants,
  }: {
    sagas: readonly SagaDefinition[];
    agent: boolean;
    supervisor: boolean;
    /** The circuit breakers of the sagas' invokers (see RuntimeModuleOptions.participants). */
    participants?: ParticipantPolicies;
  },
): DynamicModule[] {
  const databaseUrl = databaseUrlOf(config);
  return [
    StoreModule.forRoot({ databaseUrl, poolSize: config.DB_POOL_SIZE }),
    TransportModule.forRoot({
      queue: queueBackendFor(config.REDIS_URL, databaseUrl),
      prefix: config.SAGA_REDIS_PREFIX,
    }),
    RuntimeModule.forRoot({
      sagas,
      agent,
      participants,
      agentConcurrency: config.AGENT_CONCURRENCY,
      runningMarkMs: RUNNING_MARK_MS,
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      supervisor:
        supervisor && config.SUPERVISOR_ENABLED === 'true'
          ? { intervalMs: config.SUPERVISOR_INTERVAL_MS, scheduleToStartMs: config.SCHEDULE_TO_START_MS }
          : null,
    }),
  ];
}
