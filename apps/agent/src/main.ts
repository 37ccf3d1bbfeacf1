import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoLogger } from 'nestjs-pino';
import { demoSagas, participantPolicies } from '../../demo-services/src/demo-client';
import { engineModules } from '../../../libs/nestjs/src/module/engine-modules';
import { loadConfigOrExit } from '../../../libs/nestjs/src/config/engine-config';
import { resolveBackends, stopBackendsOnSignals } from '../../../libs/nestjs/src/config/backends';
import { loggerModule } from '../../../libs/nestjs/src/observability/logger';
import { startTracingFromEnv } from '../../../libs/nestjs/src/observability/otel';

/**
 * A step agent: BullMQ workers and nothing else (no API, no supervisor). Run as many as you like
 * (npm run start:agent). SIGTERM stops it gracefully: no new job, the running ones report (SHUTDOWN_GRACE_MS).
 */
async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit();
  // DATABASE_URL unset: the embedded PostgreSQL of `npm start` in ./.saga-data (started here if it is not
  // running); REDIS_URL unset: BullMQ on PostgreSQL. See resolveBackends.
  const logger = new Logger('Bootstrap');
  if (await startTracingFromEnv('saga-agent')) logger.log('OpenTelemetry tracing on (OTEL_* variables)');
  const backends = await resolveBackends(config, { log: (line) => logger.log(line) });
  // The drone-delivery participants are the demo services (npm run start:demo), reached over the network.
  const participants = participantPolicies(config);
  const { sagas, module: demoClient } = demoSagas(config, participants);

  @Module({
    imports: [
      ...engineModules(config, { sagas, agent: true, supervisor: false, participants }),
      demoClient,
      loggerModule(config.LOG_LEVEL),
    ],
  })
  class AgentModule {}

  const app = await NestFactory.createApplicationContext(AgentModule, { bufferLogs: true });
  app.useLogger(app.get(PinoLogger));
  app.enableShutdownHooks();
  stopBackendsOnSignals(app, backends);
  for (const line of backends.describe()) logger.log(line);
  logger.log(`agent ready; saga types: ${sagas.map((s) => s.name).join(', ')}`);
}

void bootstrap().catch((error: unknown) => {
  // A missing SAGA_ENCRYPTION_KEY (a saga with sensitive fields) ends here too, naming the variable.
  console.error(`agent failed to start: ${(error as Error).message ?? String(error)}`);
  process.exit(1);
});
