import type { DynamicModule } from '@nestjs/common';
import type { SagaDefinition } from '@app/engine';
import { StoreModule } from '@app/store';
import { TransportModule, queueBackendFor } from '@app/transport';
import { databaseUrlOf } from './backends';
import { type EngineConfig, retentionMs } from './config';
import { RuntimeModule } from './runtime.module';

/**
 * A step still running after this long is recorded as RUNNING (fast steps skip that write). Kept well under the
 * schedule-to-start time: an attempt run in-process has no job, and its RUNNING mark is what tells the supervisor
 * that an agent holds it (see StepWorker).
 */
export function runningMarkMs(scheduleToStartMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(scheduleToStartMs / 4)));
}

/**
 * The engine's core as every process wires it: the store, the step queue and the runtime (scheduler, plus the
 * agent and the supervisor where asked). DATABASE_URL as resolveBackends left it (the embedded PostgreSQL's when
 * unset); no REDIS_URL: BullMQ on its PostgreSQL backend in the same database.
 */
export function engineModules(
  config: EngineConfig,
  { sagas, agent, supervisor }: { sagas: readonly SagaDefinition[]; agent: boolean; supervisor: boolean },
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
      agentConcurrency: config.AGENT_CONCURRENCY,
      runningMarkMs: runningMarkMs(config.SCHEDULE_TO_START_MS),
      shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
      supervisor:
        supervisor && config.SUPERVISOR_ENABLED === 'true'
          ? {
              intervalMs: config.SUPERVISOR_INTERVAL_MS,
              scheduleToStartMs: config.SCHEDULE_TO_START_MS,
              retentionMs: retentionMs(config),
            }
          : null,
    }),
  ];
}
