import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterRes,
  type IRateLimiterOptions,
} from 'rate-limiter-flexible';

/** The limits of the API's key check (see SagaApiOptions). */
export interface AuthLimitOptions {
  /** Requests per minute per principal (key name or token subject). 0: no limit. */
  perKeyPerMinute: number;
  /** Wrong credentials one client address may send within `failureWindowSeconds` before it is blocked. 0: off. */
  failuresPerAddress: number;
  /** @defaultValue 600 */
  failureWindowSeconds?: number;
  /** The first block; each further block within `backoffMemorySeconds` lasts twice the one before. @defaultValue 30 */
  firstBlockSeconds?: number;
  /** @defaultValue 3600 */
  maxBlockSeconds?: number;
  /** How long an address's blocks are remembered for the back-off. @defaultValue 86400 */
  backoffMemorySeconds?: number;
}

/** The answer to a wrong credential: refuse with 401, or with 429 for `retryAfter` seconds. */
export interface FailureVerdict {
  /** Seconds the address must wait (429), or null: a plain 401. */
  retryAfter: number | null;
  /** The first failure of this address in the window: log it (later ones are counted, not logged). */
  first: boolean;
  /** This failure started a block of `retryAfter` seconds (the n-th in a row): log it. */
  blockStarted: number | null;
}

/** The limiter's Redis commands give up after this long (the `commandTimeout` of its own connection). */
export const RATE_LIMIT_TIMEOUT_MS = 250;
/** After Redis failed to answer, how long every request counts per process before Redis is asked again. */
export const RATE_LIMIT_RETRY_MS = 5_000;
/** Outages closer than this to the last one logged are the same outage in the log (Redis flapping under load). */
const LOG_OUTAGES_EVERY_MS = 60_000;

/** What AuthRateLimits asks of a limiter. */
type Limiter = Pick<RateLimiterAbstract, 'consume' | 'get' | 'block' | 'delete'>;

/**
 * Whether Redis answers the limits, shared by all of them. When a command fails or does not answer within
 * RATE_LIMIT_TIMEOUT_MS, every limit counts in this process's memory, without asking Redis, for
 * RATE_LIMIT_RETRY_MS; then one request at a time asks it, until it answers. So a Redis that hangs costs one request
 * 250 ms every 5 s, never a wait per request, and its outage is logged once when it starts and once when it ends.
 */
class RedisOutage {
  private since: number | null = null;
  private retryAt = 0;
  private asking = false;
  private loggedAt = -Infinity;
  private endToLog = false;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether this call may ask Redis (true: it must call `answered` or `failed` after). */
  ask(): boolean {
    if (this.since === null) return true;
    if (this.asking || this.now() < this.retryAt) return false;
    this.asking = true;
    return true;
  }

  answered(): void {
    this.asking = false;
    if (this.since === null) return;
    if (this.endToLog) {
      this.logger.log(`Redis answers the rate limit again after ${((this.now() - this.since) / 1000).toFixed(1)} s`);
      this.endToLog = false;
    }
    this.since = null;
  }

  failed(error: unknown): void {
    this.asking = false;
    this.retryAt = this.now() + RATE_LIMIT_RETRY_MS;
    if (this.since !== null) return;
    this.since = this.now();
    if (this.now() - this.loggedAt < LOG_OUTAGES_EVERY_MS) return;
    this.loggedAt = this.now();
    this.endToLog = true;
    this.logger.warn(
      `Redis did not answer the rate limit (${error instanceof Error ? error.message : String(error)}); ` +
        `counting per process, and asking Redis again every ${RATE_LIMIT_RETRY_MS / 1000} s, until it does`,
    );
  }
}

/** A limit counted in Redis, and in this process's memory while Redis is away (see RedisOutage). */
class FailOpenLimiter implements Limiter {
  constructor(
    private readonly redis: RateLimiterRedis,
    private readonly memory: RateLimiterMemory,
    private readonly outage: RedisOutage,
  ) {}

  consume(key: string | number, points?: number) {
    return this.call((l) => l.consume(key, points));
  }
  get(key: string | number) {
    return this.call((l) => l.get(key));
  }
  block(key: string | number, secDuration: number) {
    return this.call((l) => l.block(key, secDuration));
  }
  delete(key: string | number) {
    return this.call((l) => l.delete(key));
  }

  private async call<T>(fn: (limiter: RateLimiterAbstract) => Promise<T>): Promise<T> {
    if (!this.outage.ask()) return fn(this.memory);
    let result: T;
    try {
      result = await fn(this.redis);
    } catch (error) {
      // Over the limit is an answer from Redis; anything else means it is away.
      if (error instanceof RateLimiterRes) {
        this.outage.answered();
        throw error;
      }
      this.outage.failed(error);
      return fn(this.memory);
    }
    this.outage.answered();
    return result;
  }
}

/**
 * The two limits of the API's key check, on rate-limiter-flexible: requests per principal (a fixed one-minute
 * window) and wrong credentials per client address, with exponential back-off. With Redis (REDIS_URL) every
 * orchestrator counts together under `<prefix>:rl:*`; without it, or while Redis is down or slow (a command that
 * takes over RATE_LIMIT_TIMEOUT_MS counts as down), each process counts in its own memory (see RedisOutage). Redis
 * trouble never refuses a request and never makes one wait long: the limit fails open to the per-process count.
 */
export class AuthRateLimits implements OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly perKey: Limiter | null;
  /** Wrong credentials per address in the window. */
  private readonly failures: Limiter | null;
  /** Addresses blocked now, until their block ends. */
  private readonly blocked: Limiter | null;
  /** Blocks per address in the back-off memory: the n-th lasts 2^(n-1) times the first. */
  private readonly blocks: Limiter | null;
  /** Blocks being started in this process, so that failures arriving meanwhile get the same answer. */
  private readonly starting = new Map<string, Promise<number>>();
  /**
   * The blocks this process started or saw, until they end: a block holds in this process even while Redis is slow
   * or down (its per-process count would not know it). Bounded by the addresses blocked at once.
   */
  private readonly knownBlocks = new Map<string, number>();
  private readonly failuresPerAddress: number;
  private readonly firstBlock: number;
  private readonly maxBlock: number;
  private lastWarning = 0;
  private readonly outage = new RedisOutage(this.logger);

  constructor(
    options: AuthLimitOptions,
    private readonly redis: Redis | null = null,
    prefix = 'saga',
  ) {
    this.failuresPerAddress = options.failuresPerAddress;
    this.firstBlock = options.firstBlockSeconds ?? 30;
    this.maxBlock = options.maxBlockSeconds ?? 3600;
    const limiter = (name: string, points: number, duration: number) =>
      this.limiter({ keyPrefix: `${prefix}:rl:${name}`, points, duration });
    this.perKey = options.perKeyPerMinute > 0 ? limiter('key', options.perKeyPerMinute, 60) : null;
    this.failures =
      options.failuresPerAddress > 0
        ? limiter('auth-failures', options.failuresPerAddress, options.failureWindowSeconds ?? 600)
        : null;
    this.blocked = options.failuresPerAddress > 0 ? limiter('auth-blocked', 1, this.maxBlock) : null;
    this.blocks =
      options.failuresPerAddress > 0 ? limiter('auth-blocks', 1_000_000, options.backoffMemorySeconds ?? 86_400) : null;
    // Connection errors show as failed commands (see RedisOutage); ioredis reconnects by itself.
    redis?.on('error', () => undefined);
  }

  /** Counts one request of `principal`; null when allowed, else the seconds until it may send again. */
  async takeRequest(principal: string): Promise<number | null> {
    if (!this.perKey) return null;
    try {
      await this.perKey.consume(principal);
      return null;
    } catch (result) {
      if (result instanceof RateLimiterRes) return seconds(result.msBeforeNext);
      // Neither Redis nor the insurance limiter answered: let the request through.
      this.warn(`per-key limit not counted: ${String(result)}`);
      return null;
    }
  }

  /**
   * Counts a wrong credential from `address`. Past `failuresPerAddress` in the window, the address is blocked:
   * 30 s, then 60 s, 120 s, ... up to an hour for each further block within a day, and every wrong credential
   * meanwhile gets 429 with the time left. Only the failure that crosses the limit starts a block (counted once
   * however many arrive at the same time).
   */
  async failed(address: string): Promise<FailureVerdict> {
    if (!this.failures || !this.blocked || !this.blocks) return { retryAfter: null, first: false, blockStarted: null };
    const pending = this.starting.get(address);
    if (pending) return { retryAfter: await pending, first: false, blockStarted: null };
    const left = await this.blockedFor(address);
    if (left !== null) return { retryAfter: left, first: false, blockStarted: null };
    let counted: RateLimiterRes;
    try {
      counted = await this.failures.consume(address);
      return { retryAfter: null, first: counted.consumedPoints === 1, blockStarted: null };
    } catch (result) {
      if (!(result instanceof RateLimiterRes)) {
        this.warn(`failed key checks not counted: ${String(result)}`);
        return { retryAfter: null, first: false, blockStarted: null };
      }
      counted = result;
    }
    if (counted.consumedPoints !== this.failuresPerAddress + 1) {
      // Past the limit while another process starts the block: wait for it as long as a first block lasts.
      return { retryAfter: (await this.blockedFor(address)) ?? this.firstBlock, first: false, blockStarted: null };
    }
    let nth = 1;
    const start = (async () => {
      try {
        nth = (await this.blocks!.consume(address)).consumedPoints;
      } catch (result) {
        if (result instanceof RateLimiterRes) nth = result.consumedPoints;
      }
      const duration = Math.min(this.maxBlock, this.firstBlock * 2 ** Math.min(nth - 1, 30));
      this.remember(address, Date.now() + duration * 1000);
      try {
        await this.blocked!.block(address, duration);
        // After the block, the address has its full count of tries again (and the next block lasts twice as long).
        await this.failures!.delete(address);
      } catch (error) {
        this.warn(`could not block an address: ${String(error)}`);
      }
      return duration;
    })();
    this.starting.set(address, start);
    try {
      const duration = await start;
      return { retryAfter: duration, first: false, blockStarted: nth };
    } finally {
      this.starting.delete(address);
    }
  }

  /** Seconds left of the address's block, or null when it is not blocked. */
  private async blockedFor(address: string): Promise<number | null> {
    const now = Date.now();
    const until = this.knownBlocks.get(address);
    if (until !== undefined) {
      if (until > now) return seconds(until - now);
      this.knownBlocks.delete(address);
    }
    try {
      const state = await this.blocked!.get(address);
      if (!state || state.consumedPoints <= 1 || state.msBeforeNext <= 0) return null;
      this.remember(address, now + state.msBeforeNext);
      return seconds(state.msBeforeNext);
    } catch {
      return null;
    }
  }

  private remember(address: string, until: number): void {
    if (this.knownBlocks.size >= 100_000) {
      const now = Date.now();
      for (const [known, end] of this.knownBlocks) if (end <= now) this.knownBlocks.delete(known);
      if (this.knownBlocks.size >= 100_000) return;
    }
    this.knownBlocks.set(address, until);
  }

  onApplicationShutdown(): void {
    this.redis?.disconnect();
  }

  private limiter(options: IRateLimiterOptions): Limiter {
    const memory = new RateLimiterMemory(options);
    if (!this.redis) return memory;
    const redis = new RateLimiterRedis({
      ...options,
      storeClient: this.redis,
      // Refused at once while the connection is down, rather than queued: counted in memory instead.
      rejectIfRedisNotReady: true,
    });
    return new FailOpenLimiter(redis, memory, this.outage);
  }

  /** One warning a minute at most, whatever goes wrong how often. */
  private warn(message: string): void {
    const now = Date.now();
    if (now - this.lastWarning < 60_000) return;
    this.lastWarning = now;
    this.logger.warn(`${message}; counting per process until Redis answers`);
  }
}

function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
