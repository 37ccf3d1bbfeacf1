import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  type SagaRole,
  SagaLogger,
  SagaModule,
  exitOnStartFailure,
  listenOn,
  loadConfig,
  localAdminKey,
  migrateDatabase,
  localEncryptionKey,
  resolveBackends,
  sagaOptionsFromEnv,
  setupSagaApp,
  startTracingFromEnv,
  startupBanner,
  stopBackendsOnSignals,
} from '@saga-engine/nestjs';

/**
 * `npm run start:orchestrator`, the Docker image's command: the engine's central server. The REST API, the
 * dashboard and the supervisor, for every saga type of every service: it has none of their code, and drives them
 * from the definitions their agents published in PostgreSQL. The agents run in the services that own the code
 * (`SagaModule` with the `agent` role; the demo's is `npm run start:agent`).
 *
 * Configured by environment variables (docs/configuration.md). Without SAGA_API_KEYS it uses the admin key of
 * this machine (.saga-data/admin.key, made once). SIGTERM stops gracefully.
 *
 * `main.js migrate`: the migration run, then exit (compose's `migrate` service; docs/security.md): as the owner
 * (DATABASE_MIGRATION_URL), applies the migrations and grants the engine's role (DATABASE_URL's user) what it
 * needs, the audit log append-only. The engine then runs as that role and applies nothing itself.
 */
async function migrate(): Promise<void> {
  const config = loadConfig();
  const url = config.DATABASE_MIGRATION_URL ?? config.DATABASE_URL;
  if (!url) {
    console.error("migrate needs DATABASE_MIGRATION_URL (the owner) and DATABASE_URL (the engine's role)");
    process.exit(1);
  }
  const engineUrl = config.DATABASE_MIGRATION_URL ? config.DATABASE_URL : undefined;
  const result = await migrateDatabase(url, engineUrl, (line) => console.log(`migrate: ${line}`));
  console.log(`migrate: done${result.engineRole ? ` (the engine runs as ${result.engineRole})` : ''}`);
}

async function bootstrap(): Promise<void> {
  const config = loadConfig();
  const logger = new SagaLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  Logger.overrideLogger(logger);
  const log = new Logger('Bootstrap');
  if (await startTracingFromEnv('saga-orchestrator')) log.log('OpenTelemetry tracing on (OTEL_* variables)');
  const backends = await resolveBackends(config, { log: (line) => log.debug(line) });
  const dataDir = join(process.cwd(), '.saga-data');
  const adminKey = config.SAGA_API_KEYS ? null : localAdminKey(dataDir);
  // Sensitive fields of the sagas it starts are sealed here: the key of every other process, or this machine's.
  const encryptionKey =
    config.SAGA_ENCRYPTION_KEY ??
    (existsSync(join(dataDir, 'encryption.key')) ? localEncryptionKey(dataDir).value : undefined);
  const { options, app: appSetup } = sagaOptionsFromEnv(config);
  const roles: SagaRole[] = config.SUPERVISOR_ENABLED === 'true' ? ['api', 'supervisor'] : ['api'];

  @Module({
    imports: [
      SagaModule.forRoot({
        ...options,
        api: { ...options.api, keys: config.SAGA_API_KEYS ?? `admin:${adminKey!.value}:admin` },
        ...(encryptionKey ? { encryptionKey } : {}),
        roles,
      }),
    ],
  })
  class OrchestratorModule {}

  const app = await NestFactory.create(OrchestratorModule, { bodyParser: false, bufferLogs: true });
  app.useLogger(logger);
  setupSagaApp(app, appSetup);
  stopBackendsOnSignals(app, backends);
  const url = await listenOn(app, config.PORT, process.env.HOST ?? '127.0.0.1', 'PORT');
  for (const line of startupBanner('saga engine (orchestrator) is ready', [
    ['API', `${url}/v1 (OpenAPI: ${url}/docs)`],
    ['dashboard', `${url}/dashboard`],
    ['admin key', adminKey ? `${adminKey.file}  (KEY=$(cat ${adminKey.file}))` : 'from SAGA_API_KEYS'],
    ['roles', roles.join(', ')],
    ...backends.summary(),
  ])) {
    log.log(line);
  }
}

if (process.argv[2] === 'migrate') {
  migrate().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`migrate failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
} else {
  void bootstrap().catch(exitOnStartFailure('saga orchestrator'));
}
