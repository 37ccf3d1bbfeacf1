import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  DroneDeliveryClientModule,
  demoClientTransport,
  droneDeliverySaga,
  loadDemoConfig,
  parcelOrderSaga,
} from '@demo/sagas';
import {
  SagaLogger,
  SagaModule,
  exitOnStartFailure,
  loadConfig,
  localEncryptionKey,
  resolveBackends,
  sagaOptionsFromEnv,
  startTracingFromEnv,
  startupBanner,
  stopBackendsOnSignals,
} from '@saga-engine/nestjs';

/**
 * `npm run start:agent`: an agent of the drone-delivery demo, the way a service of yours runs its sagas' steps:
 * `SagaModule` with the `agent` role and the saga's code, and the participants' client its steps call. No HTTP.
 * Run as many as you like; they take the jobs of `drone-delivery` from its queue. SIGTERM stops gracefully: no new
 * job, the running ones report (SHUTDOWN_GRACE_MS).
 */
async function bootstrap(): Promise<void> {
  const config = loadConfig();
  const demo = loadDemoConfig();
  const logger = new SagaLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  Logger.overrideLogger(logger);
  const log = new Logger('Bootstrap');
  if (await startTracingFromEnv('saga-agent')) log.log('OpenTelemetry tracing on (OTEL_* variables)');
  // DATABASE_URL unset: the embedded PostgreSQL of `npm start` in ./.saga-data (started here if it is not running).
  const backends = await resolveBackends(config, { log: (line) => log.debug(line) });
  const dataDir = join(process.cwd(), '.saga-data');
  const encryptionKey =
    config.SAGA_ENCRYPTION_KEY ??
    (existsSync(join(dataDir, 'encryption.key')) ? localEncryptionKey(dataDir).value : undefined);
  const { options } = sagaOptionsFromEnv(config);

  @Module({
    imports: [
      SagaModule.forRoot({
        ...options,
        ...(encryptionKey ? { encryptionKey } : {}),
        roles: ['agent'],
        sagas: [droneDeliverySaga, parcelOrderSaga],
        isGlobal: true,
      }),
      DroneDeliveryClientModule.forRoot({
        transport: demoClientTransport(demo),
        demoUrl: demo.demoUrl,
        patternPrefix: config.SAGA_REDIS_PREFIX,
      }),
    ],
  })
  class AgentModule {}

  const app = await NestFactory.createApplicationContext(AgentModule, { bufferLogs: true });
  app.useLogger(logger);
  app.enableShutdownHooks();
  stopBackendsOnSignals(app, backends);
  for (const line of startupBanner('saga agent is ready', [
    ['saga types', [droneDeliverySaga, parcelOrderSaga].map((saga) => `${saga.name} v${saga.version}`).join(', ')],
    ['participants', `${demo.demoUrl} (${config.REDIS_URL ? 'messages over Redis' : `TCP ${demo.DEMO_TCP_PORT}`})`],
    ...backends.summary(),
  ])) {
    log.log(line);
  }
}

void bootstrap().catch(exitOnStartFailure('saga agent'));
