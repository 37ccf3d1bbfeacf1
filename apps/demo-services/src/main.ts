import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { join } from 'node:path';
import {
  DroneDeliveryClientModule,
  checkInProcessDemoUrl,
  demoClientTransport,
  demoServerTransport,
  droneDeliverySaga,
  loadDemoConfig,
  parcelOrderSaga,
} from '@demo/sagas';
import {
  SagaLogger,
  SagaModule,
  exitOnStartFailure,
  listenOn,
  loadConfig,
  localAdminKey,
  localEncryptionKey,
  logLevels,
  parseApiKeys,
  resolveBackends,
  sagaOptionsFromEnv,
  setupSagaApp,
  startTracingFromEnv,
  startupBanner,
  stopBackendsOnSignals,
} from '@saga-engine/nestjs';
import { type DemoServices, startDemoServices } from './demo-services.module';

/**
 * The drone-delivery demo.
 *
 * - `npm run start:demo` (`main.js`): the demo's participant services as their own process. The account, delivery,
 *   package, drone and notification services answer @nestjs/microservices messages (Redis when REDIS_URL is set,
 *   else TCP on DEMO_TCP_PORT); the ground carrier and `GET /v1/demo/ledger` answer HTTP on DEMO_PORT. Their state
 *   is in schema `demo` of DATABASE_URL. DeliveryCompleted goes to SAGA_URL with SAGA_SIGNAL_KEY.
 * - `npm start` (`main.js --all`): the whole engine in one process for a first try (every role of SagaModule, the
 *   drone-delivery saga and its participants' client), the demo services beside it, an embedded PostgreSQL when
 *   DATABASE_URL is unset, BullMQ on PostgreSQL when REDIS_URL is unset, and an admin key in .saga-data/admin.key.
 *
 * SIGTERM stops gracefully: the agent lets running steps report, then the connections close.
 */
async function bootstrap(): Promise<void> {
  const config = loadConfig();
  const demo = loadDemoConfig();
  const logger = new SagaLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  Logger.overrideLogger(logger);
  const log = new Logger('Bootstrap');
  if (await startTracingFromEnv('saga-demo')) log.log('OpenTelemetry tracing on (OTEL_* variables)');
  const all = process.argv.includes('--all');
  if (all) checkInProcessDemoUrl(demo);
  const host = process.env.HOST ?? '127.0.0.1';
  const backends = await resolveBackends(config, { log: (line) => log.debug(line) });

  if (!all) {
    const engineUrl = demo.SAGA_URL ?? `http://127.0.0.1:${config.PORT}`;
    // Read at each report: a key file may appear after the services started (the engine makes it).
    const signalTarget = () => {
      const apiKey = demo.signalKey();
      return apiKey ? { url: engineUrl, apiKey } : null;
    };
    if (!demo.SAGA_SIGNAL_KEY && !demo.SAGA_SIGNAL_KEY_FILE) {
      log.warn('SAGA_SIGNAL_KEY is not set: the drones cannot report DeliveryCompleted');
    }
    const services = await startDemoServices({
      databaseUrl: backends.databaseUrl,
      port: demo.DEMO_PORT,
      host,
      transport: demoServerTransport(demo, host),
      patternPrefix: config.SAGA_REDIS_PREFIX,
      flightMs: demo.DEMO_FLIGHT_MS,
      signalTarget,
      logger: logLevels(config.LOG_LEVEL),
    });
    stopBackendsOnSignals(services.app, backends);
    for (const line of startupBanner('demo services are ready', [
      ['HTTP', `${services.url} (GET /v1/demo/ledger)`],
      ['messages', config.REDIS_URL ? 'Redis (REDIS_URL)' : `TCP ${host}:${demo.DEMO_TCP_PORT}`],
      ['state', `schema "demo" of ${backends.summary()[0][1]}`],
    ])) {
      log.log(line);
    }
    return;
  }

  const dataDir = join(process.cwd(), '.saga-data');
  const adminKey = config.SAGA_API_KEYS ? null : localAdminKey(dataDir);
  const keys = config.SAGA_API_KEYS ?? `admin:${adminKey!.value}:admin`;
  const encryptionKey = config.SAGA_ENCRYPTION_KEY ?? localEncryptionKey(dataDir).value;
  const { options, app: appSetup } = sagaOptionsFromEnv(config);

  @Module({
    imports: [
      SagaModule.forRoot({
        ...options,
        api: { ...options.api, keys },
        encryptionKey,
        roles: config.SUPERVISOR_ENABLED === 'true' ? ['agent', 'api', 'supervisor'] : ['agent', 'api'],
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
  class AllInOneModule {}

  const app = await NestFactory.create(AllInOneModule, { bodyParser: false, bufferLogs: true });
  app.useLogger(logger);
  setupSagaApp(app, appSetup);
  let services: DemoServices | null = null;
  let engineUrl = `http://127.0.0.1:${config.PORT}`;
  if (demo.DEMO_IN_PROCESS === 'true') {
    // The drones report DeliveryCompleted to this process with its first operator or admin key for their saga type.
    const signalKey =
      demo.SAGA_SIGNAL_KEY ??
      parseApiKeys(keys).find(
        (k) =>
          (k.role === 'admin' || k.role === 'operator') &&
          (!k.sagaTypes || k.sagaTypes.includes(droneDeliverySaga.name)),
      )?.key;
    services = await startDemoServices({
      databaseUrl: backends.databaseUrl,
      port: demo.DEMO_PORT,
      host,
      transport: demoServerTransport(demo, host),
      patternPrefix: config.SAGA_REDIS_PREFIX,
      flightMs: demo.DEMO_FLIGHT_MS,
      signalTarget: () => (signalKey ? { url: demo.SAGA_URL ?? engineUrl, apiKey: signalKey } : null),
      logger: logLevels(config.LOG_LEVEL),
    }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new Error(
          `a demo port is taken (DEMO_PORT ${demo.DEMO_PORT}, or DEMO_TCP_PORT ${demo.DEMO_TCP_PORT}): set free ones`,
        );
      }
      throw error;
    });
  }
  // SIGTERM: the engine shuts down (setupSagaApp enabled its hooks), then the demo services, then PostgreSQL.
  const inProcess = services;
  stopBackendsOnSignals(
    {
      close: async () => {
        await app.close();
        await inProcess?.close();
      },
    },
    backends,
  );
  engineUrl = await listenOn(app, config.PORT, host, 'PORT');
  for (const line of startupBanner('saga engine (all-in-one) is ready', [
    ['API', `${engineUrl}/v1 (OpenAPI: ${engineUrl}/docs)`],
    ['dashboard', `${engineUrl}/dashboard`],
    ['admin key', adminKey ? `${adminKey.file}  (KEY=$(cat ${adminKey.file}))` : 'from SAGA_API_KEYS'],
    ...backends.summary(),
    ['saga types', [droneDeliverySaga, parcelOrderSaga].map((saga) => `${saga.name} v${saga.version}`).join(', ')],
    ['demo', services ? `${services.url} (GET /v1/demo/ledger)` : 'not in this process (DEMO_IN_PROCESS=false)'],
  ])) {
    log.log(line);
  }
}

void bootstrap().catch(exitOnStartFailure('saga engine'));
