import type { DynamicModule } from '@nestjs/common';
import type { SagaDefinition } from '@saga-engine/core';
import { StoreModule } from '../store/store.module';
import { type ParticipantPolicies } from '../invokers/participant-policies';
import { TransportModule } from '../queue/transport.module';
import { queueBackendFor } from '../queue/queue-backend';
import { databaseUrlOf } from '../config/backends';
import { ConfigError, type EngineConfig, retentionMs } from '../config/engine-config';
import { InputCipher } from '../security/input-cipher';
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
      cipher: inputCipherFor(config, sagas),
      agent,
      participants,
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

/**
 * The cipher for sensitive input fields, from SAGA_ENCRYPTION_KEY. A ConfigError naming the variable when a saga
 * declares sensitive fields and no key is set: the engine never stores them in plain text instead.
 */
export function inputCipherFor(
  config: { SAGA_ENCRYPTION_KEY?: string; SAGA_ENCRYPTION_KEYS_OLD?: string },
  sagas: readonly SagaDefinition[],
): InputCipher | null {
  const cipher = InputCipher.fromConfig(config);
  const sensitive = sagas.filter((s) => s.sensitive.length > 0).map((s) => s.name);
  if (!cipher && sensitive.length > 0) {
    throw new ConfigError(
      `Invalid configuration:\n  - SAGA_ENCRYPTION_KEY is not set, but saga type(s) ${sensitive.join(', ')} declare ` +
        'sensitive input fields: set it to 32 random bytes (openssl rand -base64 32), the same in every ' +
        'orchestrator and agent',
    );
  }
  return cipher;
}
