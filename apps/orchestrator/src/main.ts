import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger as PinoLogger } from 'nestjs-pino';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { demoSagas, participantPolicies } from '../../demo-services/src/demo-client';
import { type DemoServices, startDemoServices } from '../../demo-services/src/demo-services.module';
import { demoTransport } from '../../demo-services/src/demo-transport';
import { generateEncryptionKey, parseEncryptionKey } from '../../../libs/nestjs/src/security/input-cipher';
import { loadConfigOrExit, logLevels, parseApiKeys } from '../../../libs/nestjs/src/config/engine-config';
import { resolveBackends, stopBackendsOnSignals } from '../../../libs/nestjs/src/config/backends';
import { configureApp } from '../../../libs/nestjs/src/api/configure-app';
import { OrchestratorModule } from '../../../libs/nestjs/src/api/api.module';
import { startTracingFromEnv } from '../../../libs/nestjs/src/observability/otel';

/**
 * `node main.js`        REST API + scheduler + supervisor (npm run start:orchestrator)
 * `node main.js --all`  the whole engine in one process: API, scheduler, supervisor and a step agent, plus the
 *                       demo services (npm start), so that a first try needs nothing else
 *
 * SIGTERM stops gracefully: the supervisor stops sweeping, the agent (with --all) takes no new job and lets the
 * running ones report (SHUTDOWN_GRACE_MS), then the connections close.
 */
async function bootstrap(): Promise<void> {
  const logger = new Logger('Bootstrap');
  const config = loadConfigOrExit();
  if (await startTracingFromEnv('saga-orchestrator')) logger.log('OpenTelemetry tracing on (OTEL_* variables)');
  if (!config.SAGA_API_KEYS) config.SAGA_API_KEYS = generateAdminKey(logger);
  // The key participants report signals with (the demo's DeliveryCompleted): an operator key, so that a compose
  // file can hand the same one to the engine and its participants without listing every other key.
  if (config.SAGA_SIGNAL_KEY && !parseApiKeys(config.SAGA_API_KEYS).has(config.SAGA_SIGNAL_KEY)) {
    config.SAGA_API_KEYS = `${config.SAGA_API_KEYS},${config.SAGA_SIGNAL_KEY}:operator`;
  }
  const all = process.argv.includes('--all');
  // DATABASE_URL unset: an embedded PostgreSQL (./.saga-data); REDIS_URL unset: BullMQ on PostgreSQL.
  const backends = await resolveBackends(config, { log: (line) => logger.log(line) });
  const participants = participantPolicies(config);
  const { sagas, module: demoClient, onShutdown } = demoSagas(config, participants);
  if (all && !config.SAGA_ENCRYPTION_KEY && sagas.some((s) => s.sensitive.length > 0)) {
    config.SAGA_ENCRYPTION_KEY = localEncryptionKey(logger);
  }
  // Split processes refuse to start without the key when a saga has sensitive fields: engineModules (through
  // OrchestratorModule.forRoot) throws the ConfigError naming it, and bootstrap's catch exits 1.
  const app = await NestFactory.create(
    OrchestratorModule.forRoot({ config, sagas, agent: all, participants, modules: [demoClient] }),
    { bodyParser: false, bufferLogs: true },
  );
  // JSON lines through pino from here on (the buffered start-up lines too); LOG_LEVEL applies there.
  app.useLogger(app.get(PinoLogger));
  configureApp(app, config);
  let demo: DemoServices | null = null;
  if (all && config.DEMO_IN_PROCESS === 'true') {
    // The demo services next to the engine, over the same transport a separate `npm run start:demo` would use;
    // they report DeliveryCompleted to this process with its first operator or admin key.
    const host = process.env.HOST ?? '127.0.0.1';
    const signalKey =
      config.SAGA_SIGNAL_KEY ??
      [...parseApiKeys(config.SAGA_API_KEYS)].find(([, role]) => role === 'admin' || role === 'operator')?.[0];
    demo = await startDemoServices({
      databaseUrl: backends.databaseUrl,
      port: config.DEMO_PORT,
      host,
      transport: demoTransport(config, { bindHost: host }),
      patternPrefix: config.SAGA_REDIS_PREFIX,
      flightMs: config.DEMO_FLIGHT_MS,
      signalTarget: () =>
        signalKey ? { url: config.SAGA_URL ?? `http://127.0.0.1:${config.PORT}`, apiKey: signalKey } : null,
      logger: logLevels(config.LOG_LEVEL),
    });
    logger.log(`demo services listening on ${demo.url} (GET /v1/demo/ledger)`);
  }
  if (demo) onShutdown.push(() => demo.close());
  stopBackendsOnSignals(app, backends);
  await app.listen(config.PORT, process.env.HOST ?? '127.0.0.1');
  for (const line of backends.describe()) logger.log(line);
  logger.log(
    `saga engine ${all ? '(all-in-one) ' : ''}listening on ${await app.getUrl()}; ` +
      `saga types: ${sagas.map((s) => s.name).join(', ')}`,
  );
}

/** No keys configured: make one admin key for this machine rather than run open (deny by default). */
function generateAdminKey(logger: Logger): string {
  const key = `sk_${randomBytes(24).toString('base64url')}`;
  const dir = join(process.cwd(), '.saga-data');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'admin.key'), `${key}\n`, { mode: 0o600 });
  logger.warn(`SAGA_API_KEYS is not set: generated an admin key for this run in .saga-data/admin.key`);
  return `${key}:admin`;
}

/**
 * `npm start` with sagas that have sensitive fields and no SAGA_ENCRYPTION_KEY: a key for this machine, kept in
 * `.saga-data/encryption.key` (mode 600) and reused on every start, since the sealed rows need it to open. Unlike
 * admin.key it is never regenerated: losing it loses the sensitive fields of the sagas in flight.
 */
function localEncryptionKey(logger: Logger): string {
  const dir = join(process.cwd(), '.saga-data');
  const file = join(dir, 'encryption.key');
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (!parseEncryptionKey(key)) throw new Error(`${file} does not hold a valid key: set SAGA_ENCRYPTION_KEY`);
    logger.warn('SAGA_ENCRYPTION_KEY is not set: using the key in .saga-data/encryption.key');
    return key;
  }
  const key = generateEncryptionKey();
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  logger.warn(
    'SAGA_ENCRYPTION_KEY is not set: generated a key for sensitive saga inputs in .saga-data/encryption.key ' +
      '(keep it: the sagas it sealed cannot be read without it; set SAGA_ENCRYPTION_KEY in production)',
  );
  return key;
}

void bootstrap().catch((error: unknown) => {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    error = new Error(`port ${process.env.PORT ?? 3000} is taken by another program: set PORT to a free one`);
  }
  console.error(`saga engine failed to start: ${(error as Error).message ?? String(error)}`);
  process.exit(1);
});
