import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import type { SagaDefinition } from '@app/engine';
import { type EngineConfig, RuntimeModule, parseApiKeys } from '@app/runtime';
import { StoreModule } from '@app/store';
import { TransportModule } from '@app/transport';
import { ApiExceptionFilter } from './http/api-exception.filter';
import { API_KEYS, ApiKeyGuard, ApiKeys } from './http/auth';
import { HealthController } from './http/health.controller';
import { SagaTypesController } from './sagas/saga-types.controller';
import { SagasController } from './sagas/sagas.controller';

export interface OrchestratorOptions {
  config: EngineConfig;
  sagas: readonly SagaDefinition[];
  /** Also run a step agent in this process (`npm start`). */
  agent: boolean;
}

/** REST API and scheduler; with `agent`, the whole engine in one process. */
@Module({})
export class OrchestratorModule {
  static forRoot({ config, sagas, agent }: OrchestratorOptions): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [
        StoreModule.forRoot({ databaseUrl: config.DATABASE_URL, poolSize: config.DB_POOL_SIZE }),
        TransportModule.forRoot({ redisUrl: config.REDIS_URL, prefix: config.SAGA_REDIS_PREFIX }),
        RuntimeModule.forRoot({ sagas, agent, agentConcurrency: config.AGENT_CONCURRENCY, runningMarkMs: 1000 }),
        TerminusModule.forRoot({ logger: false }),
      ],
      controllers: [SagasController, SagaTypesController, HealthController],
      providers: [
        { provide: API_KEYS, useValue: new ApiKeys(parseApiKeys(config.SAGA_API_KEYS)) },
        { provide: APP_GUARD, useClass: ApiKeyGuard },
        { provide: APP_FILTER, useClass: ApiExceptionFilter },
      ],
    };
  }
}
