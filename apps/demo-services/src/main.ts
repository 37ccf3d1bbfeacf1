import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { loadConfigOrExit, logLevels } from '../../../libs/nestjs/src/config/engine-config';
import { resolveBackends } from '../../../libs/nestjs/src/config/backends';
import { startTracingFromEnv } from '../../../libs/nestjs/src/observability/otel';
import { demoTransport } from './demo-transport';
import { startDemoServices } from './demo-services.module';

/**
 * `npm run start:demo`: the drone-delivery demo participants as their own process. The account, delivery,
 * package, drone and notification services answer @nestjs/microservices messages (Redis when REDIS_URL is set,
 * else TCP on DEMO_TCP_PORT); the ground carrier and `GET /v1/demo/ledger` answer HTTP on DEMO_PORT. Their state
 * is in schema `demo` of DATABASE_URL. DeliveryCompleted goes to SAGA_URL with SAGA_SIGNAL_KEY.
 */
async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = new Logger('DemoServices');
  if (await startTracingFromEnv('saga-demo-services')) logger.log('OpenTelemetry tracing on (OTEL_* variables)');
  const backends = await resolveBackends(config, { log: (line) => logger.log(line) });
  const host = process.env.HOST ?? '127.0.0.1';
  const signalTarget =
    config.SAGA_SIGNAL_KEY !== undefined
      ? { url: config.SAGA_URL ?? `http://127.0.0.1:${config.PORT}`, apiKey: config.SAGA_SIGNAL_KEY }
      : null;
  if (!signalTarget) logger.warn('SAGA_SIGNAL_KEY is not set: the drones cannot report DeliveryCompleted');
  const transport = demoTransport(config, { bindHost: host });
  const demo = await startDemoServices({
    databaseUrl: backends.databaseUrl,
    port: config.DEMO_PORT,
    host,
    transport,
    patternPrefix: config.SAGA_REDIS_PREFIX,
    flightMs: config.DEMO_FLIGHT_MS,
    signalTarget: () => signalTarget,
    logger: logLevels(config.LOG_LEVEL),
  });
  // Graceful stop, then end as the signal would have (exit status 128 + its number), like the engine's processes.
  const stop = (signal: NodeJS.Signals) =>
    void demo
      .close()
      .catch(() => undefined)
      .then(() => backends.stop().catch(() => undefined))
      .then(() => {
        process.removeListener('SIGTERM', stop);
        process.removeListener('SIGINT', stop);
        process.kill(process.pid, signal);
      });
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  logger.log(
    `demo services listening: HTTP ${demo.url}; messages over ` +
      (config.REDIS_URL ? 'Redis (REDIS_URL)' : `TCP ${host}:${config.DEMO_TCP_PORT}`),
  );
}

void bootstrap().catch((error: unknown) => {
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    error = new Error(
      `a demo port is taken (DEMO_PORT ${process.env.DEMO_PORT ?? 3100}, DEMO_TCP_PORT): set free ones`,
    );
  }
  console.error(`demo services failed to start: ${(error as Error).message ?? String(error)}`);
  process.exit(1);
});
