import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { RateLimiter } from './auth';

/** Requests per key in fixed one-minute windows; null when allowed, else the seconds until the window resets. */
export interface RateLimit {
  take(keyId: string): number | null | Promise<number | null>;
}

const WINDOW_MS = 60_000;

/** One round trip: count the request and start the window's expiry on its first request. */
const TAKE_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`;

/**
 * The per-key limit shared by every orchestrator on one Redis (REDIS_URL set): a counter per key and window under
 * `<SAGA_REDIS_PREFIX>:ratelimit:<key id>`, so N processes behind a load balancer allow RATE_LIMIT_PER_MINUTE in
 * all, not N times it. When Redis does not answer, each process falls back to its own in-memory window (logged):
 * a Redis outage must not turn into a 500 or an open door.
 */
export class RedisRateLimiter implements RateLimit, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private lastWarning = 0;

  constructor(
    private readonly redis: Redis,
    private readonly perMinute: number,
    private readonly prefix: string,
    private readonly fallback: RateLimiter,
    private readonly now: () => number = Date.now,
  ) {}

  async take(keyId: string): Promise<number | null> {
    if (this.perMinute <= 0) return null;
    try {
      const [count, ttl] = (await this.redis.eval(TAKE_SCRIPT, 1, `${this.prefix}:ratelimit:${keyId}`, WINDOW_MS)) as [
        number,
        number,
      ];
      if (count <= this.perMinute) return null;
      return Math.max(1, Math.ceil(ttl / 1000));
    } catch (error) {
      if (this.now() - this.lastWarning > WINDOW_MS) {
        this.lastWarning = this.now();
        this.logger.warn(`Redis did not answer; counting per process until it does: ${String(error)}`);
      }
      return this.fallback.take(keyId);
    }
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
