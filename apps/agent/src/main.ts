import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { allSagas } from '@app/sagas';
import { inProcessParticipants } from '../../demo-services/src/in-process-participants';
import { type EngineConfig, RuntimeModule, loadConfig } from '@app/runtime';
import { StoreModule } from '@app/store';
import { TransportModule } from '@app/transport';

/** A step agent: BullMQ workers and nothing else. Run as many as you like (npm run start:agent). */
// The demo participants run in-process until they move out to apps/demo-services (issue 4).
const sagas = allSagas({ droneDelivery: inProcessParticipants() });

async function bootstrap(): Promise<void> {
  let config: EngineConfig;
  try {
    config = loadConfig();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }

  @Module({
    imports: [
      StoreModule.forRoot({ databaseUrl: config.DATABASE_URL, poolSize: config.DB_POOL_SIZE }),
      TransportModule.forRoot({ redisUrl: config.REDIS_URL, prefix: config.SAGA_REDIS_PREFIX }),
      RuntimeModule.forRoot({ sagas, agent: true, agentConcurrency: config.AGENT_CONCURRENCY, runningMarkMs: 1000 }),
    ],
  })
  class AgentModule {}

  const app = await NestFactory.createApplicationContext(AgentModule);
  app.enableShutdownHooks();
  new Logger('Bootstrap').log(`agent ready; saga types: ${sagas.map((s) => s.name).join(', ')}`);
}

void bootstrap().catch((error: unknown) => {
  console.error(`agent failed to start: ${(error as Error).message ?? String(error)}`);
  process.exit(1);
});
