import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { DestinationStream } from 'pino';
import type { ParticipantPolicies } from '../invokers/participant-policies';
import type { SagaDefinition } from '@saga-engine/core';
import { type EngineConfig, parseApiKeys } from '../config/engine-config';
import { engineModules } from '../module/engine-modules';
import { createRedis } from '../queue/redis';
import { ALERT_SENDER_OPTIONS, AlertSender, DEFAULT_ALERT_SENDER_OPTIONS } from '../supervisor/alert-sender';
import { AuditController } from './audit/audit.controller';
import { DashboardApiController } from './dashboard/dashboard-api.controller';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { API_KEYS, ApiKeyGuard, ApiKeys, RATE_LIMIT_PER_MINUTE, RateLimiter } from './http/auth';
import { HealthController } from './http/health.controller';
import { MetricsController } from './http/metrics.controller';
import { RedisRateLimiter } from './http/rate-limit';
import { ParticipantsController } from './participants/participants.controller';
import { loggerModule } from '../observability/logger';
import { OperatorActions } from './sagas/operator-actions';
import { SagaActionsController } from './sagas/saga-actions.controller';
import { SagaTypesController } from './sagas/saga-types.controller';
import { SagasController } from './sagas/sagas.controller';

export interface OrchestratorOptions {
  config: EngineConfig;
  sagas: readonly SagaDefinition[];
  /** Also run a step agent in this process (`npm start`). */
  agent: boolean;
  /** Feature modules to mount too (the demo services' client, closed with the app). */
  modules?: DynamicModule[];
  /** The circuit breakers of the sagas' invokers (metrics, participant_circuit). */
  participants?: ParticipantPolicies;
  /** Where the pino logger writes (stdout when absent; tests pass a stream to read the lines). */
  logDestination?: DestinationStream;
}

/** REST API, scheduler and supervisor; with `agent`, the whole engine in one process. */
@Module({})
export class OrchestratorModule {
  static forRoot({
    config,
    sagas,
    agent,
    modules = [],
    logDestination,
    participants,
  }: OrchestratorOptions): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [
        ...engineModules(config, { sagas, agent, supervisor: true, participants }),
        TerminusModule.forRoot({ logger: false }),
        loggerModule(config.LOG_LEVEL, logDestination),
        ...modules,
      ],
      controllers: [
        SagasController,
        SagaActionsController,
        SagaTypesController,
        AuditController,
        DashboardApiController,
        HealthController,
        MetricsController,
        ParticipantsController,
      ],
      providers: [
        { provide: API_KEYS, useValue: new ApiKeys(parseApiKeys(config.SAGA_API_KEYS)) },
        { provide: RATE_LIMIT_PER_MINUTE, useFactory: () => rateLimit(config) },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
        OperatorActions,
        {
          provide: ALERT_SENDER_OPTIONS,
          useValue: { ...DEFAULT_ALERT_SENDER_OPTIONS, webhookUrl: config.ALERT_WEBHOOK_URL ?? null },
        },
        AlertSender,
      ],
    };
  }
}

/** Shared by every orchestrator through Redis when REDIS_URL is set; per process otherwise. */
function rateLimit(config: EngineConfig): RedisRateLimiter | RateLimiter {
  const local = new RateLimiter(config.RATE_LIMIT_PER_MINUTE);
  if (!config.REDIS_URL || config.RATE_LIMIT_PER_MINUTE <= 0) return local;
  const redis = createRedis(config.REDIS_URL, 'producer', { connectionName: 'saga-rate-limit' });
  redis.on('error', () => undefined); // reported by take() when it matters; ioredis reconnects by itself
  return new RedisRateLimiter(redis, config.RATE_LIMIT_PER_MINUTE, config.SAGA_REDIS_PREFIX, local);
}
