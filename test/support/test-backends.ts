import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { Redis } from 'ioredis';
// Relative, not @app/store: global-setup runs outside Jest's module mapping.
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../libs/nestjs/src/store/embedded-postgres';
import { PrivateServices, privateRedisUnavailable } from '../../scripts/support/private-servers';

/**
 * Where the e2e tests run, decided once per run by global-setup and handed to the test files through the
 * environment (`TEST_DATABASE_URL`, `SAGA_TEST_QUEUE`; read by ./urls):
 *
 * - `SAGA_TEST_BACKEND=services` (what CI sets): PostgreSQL at `TEST_DATABASE_URL` and Redis at
 *   `TEST_REDIS_URL` (defaults: 127.0.0.1:5432 and :6379); missing ones fail the run at once.
 * - `SAGA_TEST_BACKEND=embedded`: one embedded PostgreSQL for the whole run (in a temporary directory) and BullMQ
 *   on its PostgreSQL backend. Touches nothing else on the machine.
 * - unset: each service where it answers, else its stand-in: the embedded PostgreSQL; for Redis a private one
 *   (scripts/support/private-servers.ts, on a free port, for the whole run) when `redis-server` is installed, else
 *   BullMQ on PostgreSQL. So `npm test` works on a bare machine too.
 *
 * Without Redis, `SAGA_TEST_NO_REDIS` says why, and the tests that need it skip with that reason (./urls).
 */
export type TestBackendMode = 'services' | 'embedded' | 'auto';

const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

const HANDLE = '__sagaTestEmbeddedPostgres__';
const REDIS_HANDLE = '__sagaTestPrivateRedis__';
type GlobalWithHandle = typeof globalThis & {
  [HANDLE]?: { pg: EmbeddedPostgres; dir: string };
  [REDIS_HANDLE]?: PrivateServices;
};

export async function setUpTestBackends(log: (line: string) => void): Promise<void> {
  const mode = (process.env.SAGA_TEST_BACKEND || 'auto') as TestBackendMode;
  if (!['services', 'embedded', 'auto'].includes(mode)) {
    throw new Error(`SAGA_TEST_BACKEND must be services, embedded or unset, not "${mode}"`);
  }
  const pgUrl = process.env.TEST_DATABASE_URL || DEFAULT_PG;
  let redisUrl = process.env.TEST_REDIS_URL || DEFAULT_REDIS;

  const pgError = mode === 'embedded' ? 'not asked for' : await probePostgres(pgUrl);
  if (pgError && mode === 'services') {
    throw new Error(`e2e tests need PostgreSQL at ${pgUrl} (bash scripts/services.sh starts one): ${pgError}`);
  }
  let redisError = mode === 'embedded' ? 'not asked for' : await probeRedis(redisUrl);
  if (redisError && mode === 'services') {
    throw new Error(`e2e tests need Redis at ${redisUrl} (bash scripts/services.sh starts one): ${redisError}`);
  }

  // Why the step jobs go to PostgreSQL, when they do: the reason the Redis tests give for skipping.
  let noRedis: string | undefined;
  if (redisError && mode === 'auto') {
    const unavailable = privateRedisUnavailable();
    const started = Date.now();
    const redis = unavailable
      ? undefined
      : await PrivateServices.create({ redis: true }).catch((error: Error) => error);
    if (redis instanceof PrivateServices) {
      (globalThis as GlobalWithHandle)[REDIS_HANDLE] = redis;
      stopOnSignals();
      log(`e2e: no Redis answers at ${redisUrl}: a private one on ${redis.redisUrl} (${Date.now() - started} ms)`);
      redisUrl = redis.redisUrl;
      redisError = undefined;
    } else {
      const why = unavailable ?? `a private Redis did not start (${redis?.message})`;
      noRedis = `no Redis answers at ${redisUrl} and ${why}: the step jobs run on BullMQ's PostgreSQL backend`;
    }
  } else if (mode === 'embedded') {
    noRedis = "SAGA_TEST_BACKEND=embedded runs the step jobs on BullMQ's PostgreSQL backend, without Redis";
  }

  if (pgError) {
    // A directory of our own, opened so that the server's user (as root: postgres) can enter it and the data
    // stays in it (see embedded-postgres.ts), to go with it at the end.
    const dir = mkdtempSync(join(tmpdir(), 'saga-test-pg-'));
    chmodSync(dir, 0o755);
    const started = Date.now();
    const pg = await startEmbeddedPostgres({ dir, database: 'postgres' });
    (globalThis as GlobalWithHandle)[HANDLE] = { pg, dir };
    stopOnSignals();
    process.env.TEST_DATABASE_URL = pg.adminUrl;
    log(`e2e: embedded PostgreSQL on 127.0.0.1:${pg.port} (${Date.now() - started} ms)`);
  } else {
    process.env.TEST_DATABASE_URL = pgUrl;
  }
  process.env.SAGA_TEST_QUEUE = redisError ? 'postgres' : 'redis';
  process.env.TEST_REDIS_URL = redisUrl;
  if (noRedis) process.env.SAGA_TEST_NO_REDIS = noRedis;
  else delete process.env.SAGA_TEST_NO_REDIS;
  log(
    `e2e: PostgreSQL ${pgError ? 'embedded' : pgUrl}; step jobs on ${redisError ? "BullMQ's PostgreSQL backend" : `Redis ${redisUrl}`}` +
      (mode === 'auto' && (pgError || redisError) ? ' (set SAGA_TEST_BACKEND=services to require the real ones)' : ''),
  );
}

export async function tearDownTestBackends(): Promise<void> {
  const redis = (globalThis as GlobalWithHandle)[REDIS_HANDLE];
  delete (globalThis as GlobalWithHandle)[REDIS_HANDLE];
  await redis?.dispose();
  const handle = (globalThis as GlobalWithHandle)[HANDLE];
  if (!handle) return;
  delete (globalThis as GlobalWithHandle)[HANDLE];
  await handle.pg.stop();
  rmSync(handle.dir, { recursive: true, force: true });
}

/** Ctrl-C or a kill of the test run: stop what we started too, rather than leave it behind. */
let stoppingOnSignals = false;
function stopOnSignals(): void {
  if (stoppingOnSignals) return;
  stoppingOnSignals = true;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void tearDownTestBackends()
        .catch(() => undefined)
        .finally(() => process.kill(process.pid, signal));
    });
  }
}

async function probePostgres(url: string): Promise<string | undefined> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function probeRedis(url: string): Promise<string | undefined> {
  const redis = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return String(error);
  } finally {
    redis.disconnect();
  }
}
