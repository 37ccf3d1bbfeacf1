import { isAbsolute, join, relative } from 'node:path';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../store/embedded-postgres';
import { type QueueBackend, describeQueueBackend, queueBackendFor, redactUrl } from '../queue/queue-backend';
import type { EngineConfig } from './engine-config';

/**
 * What the engine runs on, decided before Nest boots:
 *
 * | `DATABASE_URL` | `REDIS_URL` | PostgreSQL                              | step jobs (BullMQ)                 |
 * | -------------- | ----------- | --------------------------------------- | ---------------------------------- |
 * | set            | set         | that one                                | Redis                              |
 * | set            | unset       | that one                                | BullMQ's PostgreSQL backend in it  |
 * | unset          | set         | embedded, data in `./.saga-data`        | Redis                              |
 * | unset          | unset       | embedded, data in `./.saga-data`        | BullMQ's PostgreSQL backend in it  |
 *
 * The engine's guarantees are the same on every row: PostgreSQL is the system of record either way, and the
 * queue backend only carries job ids.
 */
export interface Backends {
  databaseUrl: string;
  queue: QueueBackend;
  /** The embedded server, when `DATABASE_URL` was unset. */
  embedded: EmbeddedPostgres | null;
  /** For the start log: what runs where, and how to use your own servers instead. */
  describe(): string[];
  /** The same, short, for a start-up banner: `[label, value]` rows. */
  summary(): [string, string][];
  /** Stops the embedded PostgreSQL when this process owns it; call after Nest has shut down. */
  stop(): Promise<void>;
}

/** Decides the backends and writes the resolved DATABASE_URL back into `config` for the modules. */
export async function resolveBackends(
  config: Pick<EngineConfig, 'DATABASE_URL' | 'REDIS_URL'>,
  options: { dataDir?: string; log?: (line: string) => void } = {},
): Promise<Backends> {
  const dataDir = options.dataDir ?? join(process.cwd(), '.saga-data');
  const embedded = config.DATABASE_URL ? null : await startEmbeddedPostgres({ dir: dataDir, log: options.log });
  const databaseUrl = config.DATABASE_URL ?? embedded!.url;
  // What the modules connect to from now on (see databaseUrlOf).
  config.DATABASE_URL = databaseUrl;
  const queue = queueBackendFor(config.REDIS_URL, databaseUrl);
  return {
    databaseUrl,
    queue,
    embedded,
    describe: () => [
      embedded
        ? `PostgreSQL: embedded (DATABASE_URL is not set), 127.0.0.1:${embedded.port}, data in ` +
          `${dataDirForLog(embedded.dataDir)}` +
          (process.getuid?.() === 0 ? `, running as user "${embedded.osUser}" (PostgreSQL refuses root)` : '') +
          (embedded.owned ? '' : ', shared with the process that started it') +
          '. To use your own: DATABASE_URL=postgres://user:password@host:5432/sagas'
        : `PostgreSQL: ${redactUrl(databaseUrl)}`,
      queue.kind === 'redis'
        ? `Queue: ${describeQueueBackend(queue)}`
        : `Queue: ${describeQueueBackend(queue)}, since REDIS_URL is not set. ` +
          'For more throughput use Redis: REDIS_URL=redis://host:6379 (maxmemory-policy noeviction)',
    ],
    summary: () => [
      [
        'PostgreSQL',
        embedded
          ? `embedded at 127.0.0.1:${embedded.port}, data in ${dataDirForLog(embedded.dataDir)} ` +
            '(DATABASE_URL for your own)'
          : redactUrl(databaseUrl),
      ],
      [
        'queue',
        queue.kind === 'redis'
          ? `Redis ${redactUrl(queue.url)}`
          : "PostgreSQL, BullMQ's backend (REDIS_URL for Redis: faster under load)",
      ],
    ],
    stop: () => embedded?.stop() ?? Promise.resolve(),
  };
}

/** The data directory, relative to the working directory when inside it (`.saga-data/postgres`), else absolute. */
function dataDirForLog(dataDir: string): string {
  const rel = relative(process.cwd(), dataDir);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dataDir;
}

/** The URL StoreModule gets: DATABASE_URL as resolved by resolveBackends. */
export function databaseUrlOf(config: Pick<EngineConfig, 'DATABASE_URL'>): string {
  if (!config.DATABASE_URL) {
    throw new Error('DATABASE_URL is not resolved: call resolveBackends() before building the modules');
  }
  return config.DATABASE_URL;
}

/**
 * Stops the embedded PostgreSQL after the app's graceful shutdown on SIGTERM/SIGINT, then lets the signal end
 * the process as usual. Nest's own shutdown hooks (enableShutdownHooks) run the app's shutdown; this waits for
 * the same shutdown (`close()` joins it) so that the database outlives every hook that still writes to it.
 */
export function stopBackendsOnSignals(app: { close(): Promise<void> }, backends: Backends): void {
  if (!backends.embedded?.owned) return;
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return; // Nest re-raises the signal once its shutdown is done; we are already on it
    stopping = true;
    void (async () => {
      await app.close().catch(() => undefined);
      await backends.stop().catch((error: unknown) => console.error(`embedded PostgreSQL: ${String(error)}`));
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
      process.kill(process.pid, signal); // end as the signal would have: exit status 128 + its number
    })();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
