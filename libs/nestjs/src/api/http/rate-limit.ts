import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import type { DependencyMonitor } from '../../observability/dependency-monitor';
import type { RateLimiter } from './auth';

/** Requests per key in fixed one-minute windows; null when allowed, else the seconds until the window resets. */
export interface RateLimit {
  take(keyId: string): number | null | Promise<number | null>;
}

const WINDOW_MS = 60_000;

/**
 * How long the shared count may take (the `commandTimeout` of the limiter's own Redis connection). It runs before
 * every request, so it is short: Redis answers it in well under a millisecond when it answers at all.
 */
export const RATE_LIMIT_TIMEOUT_MS = 200;
/** After Redis failed to answer, how long every request counts per process before Redis is asked again. */
export const RATE_LIMIT_RETRY_MS = 5_000;
/** Outages closer than this to the last one logged are the same outage in the log (Redis flapping under load). */
const LOG_OUTAGES_EVERY_MS = 60_000;

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
 * all, not N times it.
 *
 * It fails open, never shut: when Redis does not answer within RATE_LIMIT_TIMEOUT_MS (down, hung, a network path
 * that drops packets) or refuses, each process counts in its own memory instead, without asking Redis again for
 * RATE_LIMIT_RETRY_MS; then one request at a time asks it, until it answers. So a Redis outage costs one request
 * 200 ms every 5 s, never a 500, never an open door, and it is logged once when it starts and once when it ends (a
 * Redis that flaps, answering late now and then under load, is logged at most once a minute).
 */
export class RedisRateLimiter implements RateLimit, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  /** While Redis is away: when it is asked again (Date.now()); null while it answers. */
  private retryAt: number | null = null;
  /** When Redis stopped answering (for the "answers again" line); null while it answers. */
  private since: number | null = null;
  /** A request that asks Redis while it is away: the others count locally meanwhile. */
  private asking = false;
  /** When an outage was last logged; whether its end is still to be logged. */
  private loggedAt = -Infinity;
  private endToLog = false;

  constructor(
    private readonly redis: Redis,
    private readonly perMinute: number,
    private readonly prefix: string,
    private readonly fallback: RateLimiter,
    private readonly now: () => number = Date.now,
    private readonly monitor: DependencyMonitor | null = null,
  ) {}

  async take(keyId: string): Promise<number | null> {
    if (this.perMinute <= 0) return null;
    if (this.since !== null && (this.asking || this.now() < (this.retryAt ?? 0))) return this.fallback.take(keyId);
    const probing = this.since !== null;
    if (probing) this.asking = true;
    try {
      const [count, ttl] = (await this.redis.eval(TAKE_SCRIPT, 1, `${this.prefix}:ratelimit:${keyId}`, WINDOW_MS)) as [
        number,
        number,
      ];
      this.answered();
      if (count <= this.perMinute) return null;
      return Math.max(1, Math.ceil(ttl / 1000));
    } catch (error) {
      this.failed(error);
      return this.fallback.take(keyId);
    } finally {
      if (probing) this.asking = false;
    }
  }

  private failed(error: unknown): void {
    this.retryAt = this.now() + RATE_LIMIT_RETRY_MS;
    if (this.since !== null) return;
    this.since = this.now();
    this.monitor?.failed('redis', error, 'rate limit');
    if (this.now() - this.loggedAt < LOG_OUTAGES_EVERY_MS) return;
    this.loggedAt = this.now();
    this.endToLog = true;
    this.logger.warn(
      `Redis did not answer the rate limit (${error instanceof Error ? error.message : String(error)}); ` +
        `counting per process, and asking Redis again every ${RATE_LIMIT_RETRY_MS / 1000} s, until it does`,
    );
  }

  private answered(): void {
    if (this.since === null) return;
    if (this.endToLog) {
      this.logger.log(`Redis answers the rate limit again after ${((this.now() - this.since) / 1000).toFixed(1)} s`);
      this.endToLog = false;
    }
    this.since = null;
    this.retryAt = null;
    this.monitor?.succeeded('redis');
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
