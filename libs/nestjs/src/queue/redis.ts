import { Redis, type RedisOptions } from 'ioredis';

/** How long a command of the engine's own Redis connections may take (`REDIS_COMMAND_TIMEOUT_MS`). */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 1_000;

/**
 * A connection for BullMQ. Workers need `maxRetriesPerRequest: null` (blocking commands must wait out a Redis
 * restart rather than fail), and no command timeout: their blocking commands (BZPOPMIN) wait on purpose, and BullMQ
 * duplicates this connection for them. Producers fail fast instead: no offline queue (a command while disconnected
 * fails at once) and `commandTimeout` (a command Redis does not answer, hung or behind a network path that drops
 * packets, fails after that long). A step that cannot be enqueued is already durable in PostgreSQL, and the
 * supervisor re-drives it.
 */
export function createRedis(url: string, role: 'producer' | 'worker', extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    lazyConnect: false,
    ...(role === 'producer' ? { commandTimeout: DEFAULT_REDIS_COMMAND_TIMEOUT_MS } : {}),
    ...extra,
  });
}

/**
 * Errors with which Redis refuses writes while it answers: out of memory under `noeviction` (OOM), a failing
 * snapshot with `stop-writes-on-bgsave-error` (MISCONF), a replica (READONLY), too few replicas (NOREPLICAS).
 */
export function refusesWrites(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /^(OOM|MISCONF|READONLY|NOREPLICAS)\b/.test(message);
}

/**
 * BullMQ's locks and job data must never be evicted (an evicted lock runs a job twice; an evicted job is lost
 * until the supervisor notices). Refuse to run on a Redis that may evict.
 */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const info = await redis.info('memory');
  const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
  if (policy !== undefined && policy !== 'noeviction') {
    throw new Error(
      `REDIS_URL: Redis maxmemory-policy is "${policy}"; the engine needs "noeviction" ` +
        `(run: redis-cli CONFIG SET maxmemory-policy noeviction, and set it in redis.conf)`,
    );
  }
}
