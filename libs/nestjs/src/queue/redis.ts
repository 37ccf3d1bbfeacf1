import { Redis, type RedisOptions } from 'ioredis';

/**
 * A connection for BullMQ. Workers need `maxRetriesPerRequest: null` (blocking commands must wait out a Redis
 * restart rather than fail). Producers fail fast instead (`enableOfflineQueue: false`): a step that cannot be
 * enqueued is already durable in PostgreSQL and the supervisor re-drives it.
 */
export function createRedis(url: string, role: 'producer' | 'worker', extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    lazyConnect: false,
    ...extra,
  });
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
