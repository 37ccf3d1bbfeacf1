import { type Processor, Queue, Worker, createPostgresBackend } from 'bullmq';
import type { Redis } from 'ioredis';
import { DEFAULT_PG_TIMEOUTS, type PgTimeouts, pgPoolOptions } from '../store/pg-timeouts';
import { retryFailedPgBootstraps } from './pg-bootstrap-retry';
import { ensurePgQueueSchema } from './pg-queue-schema';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS, assertNoEviction, createRedis } from './redis';

/**
 * Where BullMQ keeps the step jobs. Redis when `REDIS_URL` is set; otherwise BullMQ's own PostgreSQL backend in
 * the engine's database, so a first try needs no Redis. The engine uses the same BullMQ API on both (job ids,
 * delays, `addBulk`, `removeOnComplete`, job states), so its guarantees do not depend on the choice; Redis is
 * the faster of the two under load.
 */
export type QueueBackend = { kind: 'redis'; url: string } | { kind: 'postgres'; url: string };

/**
 * PostgreSQL schema of BullMQ's tables on the PostgreSQL backend (BullMQ's default, beside the engine's tables
 * in `public`). Persisted name: renaming strands the jobs in flight.
 */
export const PG_QUEUE_SCHEMA = 'bullmq';

/** `REDIS_URL` set: Redis. Unset: BullMQ's PostgreSQL backend in the engine's database. */
export function queueBackendFor(redisUrl: string | undefined, databaseUrl: string): QueueBackend {
  return redisUrl ? { kind: 'redis', url: redisUrl } : { kind: 'postgres', url: databaseUrl };
}

/** For logs and `/health`: which backend, where, with passwords hidden. */
export function describeQueueBackend(backend: QueueBackend): string {
  return backend.kind === 'redis'
    ? `Redis ${redactUrl(backend.url)}`
    : `PostgreSQL (BullMQ's PostgreSQL backend, schema "${PG_QUEUE_SCHEMA}" of the engine's database)`;
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/**
 * The node-postgres settings BullMQ's PostgreSQL backend gets: the engine's time limits (see PgTimeouts) and error
 * listener on every connection. `migrate: false`: a connection only checks that the schema is compatible;
 * openQueue brings it up to date first, when it has to (ensurePgQueueSchema).
 */
function pgConnection(url: string, timeouts: PgTimeouts = DEFAULT_PG_TIMEOUTS) {
  retryFailedPgBootstraps();
  return { connectionString: url, schema: PG_QUEUE_SCHEMA, migrate: false, max: 10, ...pgPoolOptions(timeouts) };
}

/** A producer queue on `backend`, connected and checked; `ping` and `probeWrite` answer for `/health`. */
export interface OpenedQueue<T> {
  queue: Queue<T>;
  ping(): Promise<void>;
  /**
   * Writes a short-lived key (Redis): rejects when Redis refuses writes (OOM, MISCONF, READONLY) although it
   * answers. The PostgreSQL backend has nothing more to check than `ping`.
   */
  probeWrite(): Promise<void>;
  close(): Promise<void>;
}

export interface QueueConnectOptions {
  prefix: string;
  /** How long opening may take before it fails. @defaultValue 10000 */
  timeoutMs?: number;
  onError: (message: string, error: Error) => void;
  /** `commandTimeout` of the Redis connection. @defaultValue DEFAULT_REDIS_COMMAND_TIMEOUT_MS */
  redisCommandTimeoutMs?: number;
  /** Time limits of the PostgreSQL backend's pool. @defaultValue DEFAULT_PG_TIMEOUTS */
  pgTimeouts?: PgTimeouts;
}

/**
 * Opens a queue for producing jobs. Redis: a fail-fast connection (see createRedis), refused when Redis may evict
 * keys. PostgreSQL: waits until BullMQ's schema is in place. Rejects after `timeoutMs` when nothing answers.
 */
export async function openQueue<T>(
  backend: QueueBackend,
  name: string,
  options: QueueConnectOptions,
): Promise<OpenedQueue<T>> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (backend.kind === 'redis') {
    const connection = createRedis(backend.url, 'producer', {
      commandTimeout: options.redisCommandTimeoutMs ?? DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
    });
    connection.on('error', (err) => options.onError(`Redis (producer): ${err.message}`, err));
    try {
      await withTimeout(ready(connection), timeoutMs, `REDIS_URL: no answer from Redis within ${timeoutMs / 1000} s`);
      await assertNoEviction(connection);
    } catch (error) {
      connection.disconnect();
      throw error;
    }
    const queue = new Queue<T>(name, { connection, prefix: options.prefix });
    queue.on('error', (err) => options.onError(`queue: ${err.message}`, err));
    const probeKey = `${options.prefix}:health:${name}`;
    return {
      queue,
      ping: async () => {
        const pong = await connection.ping();
        if (pong !== 'PONG') throw new Error(`unexpected answer ${String(pong)}`);
      },
      probeWrite: async () => {
        await connection.set(probeKey, String(Date.now()), 'PX', 10_000);
      },
      close: async () => {
        await queue.close();
        connection.disconnect();
      },
    };
  }
  await withTimeout(
    ensurePgQueueSchema(backend.url, PG_QUEUE_SCHEMA),
    timeoutMs,
    `the PostgreSQL queue backend's schema was not checked within ${timeoutMs / 1000} s`,
  );
  const queue = new Queue(name, { connection: pgConnection(backend.url, options.pgTimeouts) }, createPostgresBackend);
  queue.on('error', (err) => options.onError(`queue (PostgreSQL): ${err.message}`, err));
  try {
    await withTimeout(
      queue.waitUntilReady(),
      timeoutMs,
      `the PostgreSQL queue backend did not get ready within ${timeoutMs / 1000} s`,
    );
  } catch (error) {
    await queue.close().catch(() => undefined);
    throw error;
  }
  // Same class and API; the backend type parameter only types `queue.backend`, which the engine never touches.
  const typed = queue as unknown as Queue<T>;
  return {
    queue: typed,
    // A lookup by id: one indexed query through BullMQ's own pool and tables.
    ping: async () => {
      await typed.getJobState('health-check');
    },
    probeWrite: () => Promise.resolve(),
    close: () => queue.close(),
  };
}

/** A worker on `backend`; `release` frees what the worker does not own (its Redis connection), after `close`. */
export function openWorker<T>(
  backend: QueueBackend,
  name: string,
  processor: Processor<T>,
  options: {
    prefix: string;
    concurrency: number;
    onError: (message: string, error: Error) => void;
    pgTimeouts?: PgTimeouts;
  },
): { worker: Worker<T>; release: () => void } {
  if (backend.kind === 'redis') {
    // `maxRetriesPerRequest: null`: across a Redis restart the worker waits and reconnects instead of dying. No
    // command timeout: the worker's blocking fetch waits on purpose (see createRedis).
    const connection: Redis = createRedis(backend.url, 'worker');
    connection.on('error', (err) => options.onError(`Redis (worker): ${err.message}`, err));
    const worker = new Worker<T>(name, processor, {
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
    });
    return { worker, release: () => connection.disconnect() };
  }
  const worker = new Worker(
    name,
    processor as Processor,
    { connection: pgConnection(backend.url, options.pgTimeouts), concurrency: options.concurrency },
    createPostgresBackend,
  );
  // BullMQ owns the pool it built from the connection string and ends it in `close()`.
  return { worker: worker as unknown as Worker<T>, release: () => undefined };
}

function ready(connection: Redis): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => connection.once('ready', () => resolve()));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
