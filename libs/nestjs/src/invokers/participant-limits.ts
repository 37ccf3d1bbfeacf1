import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RetryableError } from '@saga-engine/sdk';

/**
 * The error code of a call that a participant's cluster-wide limit (`concurrency`, `ratePerSecond`) did not let
 * through yet. Nothing was sent. The agent does not count it as an attempt: it puts the attempt's job back in the
 * queue, delayed by the error's `retryAfter` (see StepExecutor), so the wait burns neither the attempt's timeout
 * nor its retries.
 */
export const PARTICIPANT_THROTTLED = 'PARTICIPANT_THROTTLED';

/** Limits on calls to one participant, shared by every agent that calls it (kept in Redis). */
export interface ParticipantLimits {
  /** At most this many calls in flight at once across all agents; null for no limit. @defaultValue null */
  concurrency?: number | null;
  /**
   * At most this many calls in any window of one second across all agents (a sliding window, not a fixed one:
   * no second-boundary burst of twice the rate); null for no limit. @defaultValue null
   */
  ratePerSecond?: number | null;
}

/** Limits with both fields decided (null: no limit). */
export interface ResolvedLimits {
  concurrency: number | null;
  ratePerSecond: number | null;
}

/** Upper bound of either limit, so that a typo such as `rate:20000000/s` is refused at start. */
export const MAX_LIMIT = 100_000;

/**
 * Parses `SAGA_PARTICIPANT_LIMITS` (or the module's `participants.limits` string): entries separated by `;`, each
 * `<participant>=<limit>[,<limit>]` where a limit is `concurrency:<n>` or `rate:<n>/s`, or `<participant>=none`
 * (no limit, whatever its code says). Strict: anything else throws an Error whose message names `variable`.
 *
 * `payments=concurrency:5,rate:20/s;ledger=rate:100/s`
 */
export function parseParticipantLimits(spec: string, variable: string): Map<string, ResolvedLimits> {
  const result = new Map<string, ResolvedLimits>();
  const problem = (detail: string) => new Error(`${variable}: ${detail}`);
  for (const raw of spec.split(';')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq < 0) throw problem(`"${entry}" is not <participant>=<limits> (e.g. payments=concurrency:5,rate:20/s)`);
    const name = entry.slice(0, eq).trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/.test(name)) {
      throw problem(`"${name}" is not a participant name (letters, digits, '.', '_', ':' or '-', at most 100)`);
    }
    if (result.has(name)) throw problem(`participant "${name}" is named twice`);
    const body = entry.slice(eq + 1).trim();
    const limits: ResolvedLimits = { concurrency: null, ratePerSecond: null };
    if (body !== 'none') {
      if (body === '') throw problem(`participant "${name}" has no limits (write ${name}=none for no limit)`);
      for (const part of body.split(',').map((p) => p.trim())) {
        const concurrency = /^concurrency:(\d+)$/.exec(part);
        const rate = /^rate:(\d+)\/s$/.exec(part);
        if (concurrency) {
          if (limits.concurrency !== null) throw problem(`participant "${name}" has two concurrency limits`);
          limits.concurrency = boundedCount(Number(concurrency[1]), `${variable}: ${name} concurrency`);
        } else if (rate) {
          if (limits.ratePerSecond !== null) throw problem(`participant "${name}" has two rate limits`);
          limits.ratePerSecond = boundedCount(Number(rate[1]), `${variable}: ${name} rate`);
        } else {
          throw problem(`participant "${name}": "${part}" is not concurrency:<n> or rate:<n>/s`);
        }
      }
    }
    result.set(name, limits);
  }
  return result;
}

/** Checks limits given in code (the invoker's `policy.limits`); throws naming the participant and the field. */
export function resolveLimits(participant: string, limits: ParticipantLimits | undefined): ResolvedLimits {
  const field = (value: number | null | undefined, name: string) =>
    value === undefined || value === null ? null : boundedCount(value, `participant "${participant}": limits.${name}`);
  return {
    concurrency: field(limits?.concurrency, 'concurrency'),
    ratePerSecond: field(limits?.ratePerSecond, 'ratePerSecond'),
  };
}

function boundedCount(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_LIMIT) {
    throw new Error(`${what} must be an integer between 1 and ${MAX_LIMIT} (got ${value})`);
  }
  return value;
}

export function hasLimits(limits: ResolvedLimits): boolean {
  return limits.concurrency !== null || limits.ratePerSecond !== null;
}

/** How a cluster limiter is tuned. Every field documents its default. */
export interface ClusterLimiterOptions {
  /** Prefix of its Redis keys (the queue prefix). */
  prefix: string;
  /**
   * How long a concurrency slot stays taken without being renewed: the slots of an agent killed mid-call free
   * themselves after this long. Renewed every third of it while the call runs. A caller held back keeps its place
   * in line as long, after its turn was due, before it must ask again (an agent killed while its call waited holds
   * no place for longer). @defaultValue 10_000
   */
  leaseMs?: number;
  /**
   * Added to the one-second window of `ratePerSecond`, so that the jitter between the grant (in Redis) and the
   * call's arrival at the participant cannot squeeze 21 calls of a 20/s limit into one second as the participant
   * measures it (a pause of the agent's event loop, the network). Costs that share of the throughput (100 ms: a
   * limit of 20/s lets through about 18.2 calls/s). @defaultValue 100
   */
  windowMarginMs?: number;
  /**
   * A grant that reaches the agent later than this after it asked (its event loop or its process paused meanwhile)
   * is given back, unused, and asked for again at the head of the line: sent that late it could arrive next to calls
   * granted a window later. Half the margin by default, so that a grant is sent within the margin. @defaultValue 50
   */
  grantFreshMs?: number;
  /** The monotonic clock, in ms, that times a grant's way back (tests pause it). @defaultValue performance.now */
  clock?: () => number;
  /** Each Redis call gives up after this long (Redis unreachable: the call is throttled, see below). @defaultValue 1_000 */
  redisTimeoutMs?: number;
}

/** What `GET /v1/participants` shows of a participant's limits, across the cluster. */
export interface LimitsView {
  concurrency: number | null;
  ratePerSecond: number | null;
  /** Calls holding a concurrency slot now (null: no concurrency limit, nothing is counted). */
  inFlight: number | null;
  /** Calls let through in the last second (null: no rate limit). */
  callsLastSecond: number | null;
  /** Calls held back by a limit since the counter started (they ran later, nothing failed). */
  throttled: number;
}

/** A slot taken: `release` gives it back (idempotent). */
export interface LimitPermit {
  release(): void;
}

// KEYS: rate (zset: call id -> grant time), slots (zset: call id -> lease expiry), meta (hash: limits, throttled,
// ticket), waiters (zset: caller -> ticket), seen (zset: caller -> when it is forgotten).
// ARGV: rate per window (0: none), window ms, concurrency (0: none), lease ms, call id, meta ttl ms, caller,
// forget-after ms.
// Redis's own clock (TIME) is the one clock of every agent. The callers held back wait in line (FIFO, by ticket):
// a caller gets through when fewer callers are ahead of it than there are free slots, so a newcomer cannot take
// the slot of one that waited, and nobody waits forever. A caller that stops asking (its saga was cancelled, its
// agent died) leaves the line forget-after ms (the lease) after its turn was due, and until then holds at most one
// slot back: what a killed agent held, slots and places in line, comes back after the same lease.
// Returns {1, 0} (granted) or {0, wait ms}: when its turn should come (-1: the concurrency limit, no estimate).
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local conc = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local ttl = tonumber(ARGV[6])
local caller = ARGV[7]
redis.call('HSET', KEYS[3], 'concurrency', conc, 'rate', rate)
redis.call('PEXPIRE', KEYS[3], ttl)
local gone = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now)
if #gone > 0 then
  redis.call('ZREM', KEYS[4], unpack(gone))
  redis.call('ZREM', KEYS[5], unpack(gone))
end
local ahead = redis.call('ZRANK', KEYS[4], caller)
if not ahead then ahead = redis.call('ZCARD', KEYS[4]) end
local free = 1000000000
local count = 0
if rate > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
  count = redis.call('ZCARD', KEYS[1])
  free = rate - count
end
local concFree = 1000000000
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  concFree = conc - redis.call('ZCARD', KEYS[2])
end
if ahead < free and ahead < concFree then
  redis.call('ZREM', KEYS[4], caller)
  redis.call('ZREM', KEYS[5], caller)
  if rate > 0 then
    redis.call('ZADD', KEYS[1], now, ARGV[5])
    redis.call('PEXPIRE', KEYS[1], window * 2)
  end
  if conc > 0 then
    redis.call('ZADD', KEYS[2], now + lease, ARGV[5])
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  return {1, 0}
end
redis.call('HINCRBY', KEYS[3], 'throttled', 1)
if not redis.call('ZSCORE', KEYS[4], caller) then
  redis.call('ZADD', KEYS[4], redis.call('HINCRBY', KEYS[3], 'ticket', 1), caller)
end
local wait = -1
if ahead >= free then
  -- The callers in line take the slots in turn: the first (free) ones now, the next ones as the grants of the
  -- window leave it (oldest first), and the same again one window later for every (rate) callers further back.
  local f = math.max(free, 0)
  local r = ahead % rate
  local base = now
  if r >= f then
    local entry = redis.call('ZRANGE', KEYS[1], r - f, r - f, 'WITHSCORES')
    base = tonumber(entry[2]) + window
  end
  wait = math.max(1, base + math.floor(ahead / rate) * window - now)
end
local forget = now + math.max(wait, 0) + tonumber(ARGV[8])
redis.call('ZADD', KEYS[5], forget, caller)
redis.call('PEXPIRE', KEYS[4], ttl)
redis.call('PEXPIRE', KEYS[5], ttl)
return {0, wait}
`;

// KEYS: rate, slots, waiters, seen. ARGV: call id, caller, forget-after ms. A grant given back unused: its call
// was not sent, so it leaves the rate log and frees its slot, and its caller goes back to the head of the line.
const GIVE_BACK = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
local ticket = 0
if first[2] then ticket = tonumber(first[2]) - 1 end
redis.call('ZADD', KEYS[3], ticket, ARGV[2])
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[3]), ARGV[2])
return 1
`;

// KEYS: slots. ARGV: lease ms, call id. Pushes the lease's expiry on, if it still holds it (XX).
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
`;

// KEYS: rate, slots, meta. Returns {concurrency, rate, inFlight, callsLastSecond, throttled}.
const VIEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local meta = redis.call('HMGET', KEYS[3], 'concurrency', 'rate', 'throttled')
if not meta[1] then return false end
return {tonumber(meta[1]), tonumber(meta[2]), redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf'),
  redis.call('ZCOUNT', KEYS[1], '(' .. (now - 1000), '+inf'), tonumber(meta[3] or '0')}
`;

/** How many grants in a row may come back late before the call is throttled (see ClusterLimiter.acquire). */
const STALE_GRANT_TRIES = 3;

/** How long the limits and counters of a participant nobody calls any more stay in Redis. */
const META_TTL_MS = 24 * 3_600_000;

/**
 * Concurrency and rate limits per participant, shared by every agent through Redis: one Lua script takes a rate
 * token (a sliding log of grant times: never more than `ratePerSecond` grants in any window of a second plus
 * `windowMarginMs`) and a concurrency slot (a lease that expires unless renewed, so that a killed agent's slots
 * come back after `leaseMs`) together, atomically, on Redis's clock. It never waits: a call that does not get
 * through throws `PARTICIPANT_THROTTLED` with the time to come back, and the agent delays the attempt's job.
 *
 * Redis unreachable (or slower than `redisTimeoutMs`): fail closed. The call is throttled (retry in a second)
 * rather than sent unlimited: a limit is a promise to the participant, and the attempt is not lost (see
 * docs/participants.md).
 */
export class ClusterLimiter {
  readonly leaseMs: number;
  private readonly windowMs: number;
  private readonly timeoutMs: number;
  private readonly freshMs: number;
  private readonly clock: () => number;
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    options: ClusterLimiterOptions,
  ) {
    this.prefix = options.prefix;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.windowMs = 1000 + (options.windowMarginMs ?? 100);
    this.timeoutMs = options.redisTimeoutMs ?? 1000;
    this.clock = options.clock ?? (() => performance.now());
    this.freshMs = options.grantFreshMs ?? Math.floor((this.windowMs - 1000) / 2);
  }

  private keys(participant: string): [string, string, string, string, string] {
    const base = `${this.prefix}:participant:{${participant}}`;
    return [`${base}:rate`, `${base}:slots`, `${base}:meta`, `${base}:waiters`, `${base}:seen`];
  }

  /** The keys GIVE_BACK touches: rate, slots, waiters, seen. */
  private lineKeys(participant: string): [string, string, string, string] {
    const [rate, slots, , waiters, seen] = this.keys(participant);
    return [rate, slots, waiters, seen];
  }

  /**
   * Takes a slot for one call, or throws `PARTICIPANT_THROTTLED` (a RetryableError whose `retryAfter` says when
   * to come back). `caller`: the same on every try of the same call (its idempotency key), which keeps its place
   * in line. The permit renews its lease until released.
   */
  async acquire(participant: string, limits: ResolvedLimits, caller?: string): Promise<LimitPermit> {
    const who = caller ?? randomUUID();
    // A grant that came back late is given back and asked for again, from the head of the line; a few times at most
    // (a process that keeps pausing is throttled instead, and its job comes back shortly).
    for (let tries = 1; ; tries++) {
      const id = randomUUID();
      const asked = this.clock();
      await this.take(participant, limits, id, who);
      if (this.clock() - asked <= this.freshMs) return this.permit(participant, limits, id);
      await this.timed(this.redis.eval(GIVE_BACK, 4, ...this.lineKeys(participant), id, who, this.leaseMs)).catch(
        () => undefined, // (Not given back: the grant stays in the log, the limit only holds tighter meanwhile.)
      );
      if (tries === STALE_GRANT_TRIES) {
        throw new RetryableError(`participant "${participant}": its grants came back late; held back`, {
          code: PARTICIPANT_THROTTLED,
          retryAfter: 25,
        });
      }
    }
  }

  /** Redis's answer for one call: granted, or `PARTICIPANT_THROTTLED` with when to come back. */
  private async take(participant: string, limits: ResolvedLimits, id: string, caller: string): Promise<void> {
    let answer: [number, number];
    try {
      answer = (await this.timed(
        this.redis.eval(
          ACQUIRE,
          5,
          ...this.keys(participant),
          limits.ratePerSecond ?? 0,
          this.windowMs,
          limits.concurrency ?? 0,
          this.leaseMs,
          id,
          META_TTL_MS,
          caller,
          this.leaseMs,
        ),
      )) as [number, number];
    } catch (error) {
      throw new RetryableError(
        `participant "${participant}": its limits could not be checked in Redis (${(error as Error).message}); ` +
          'held back (fail closed)',
        { code: PARTICIPANT_THROTTLED, retryAfter: 1000, cause: error },
      );
    }
    if (answer[0] !== 1) {
      // The concurrency limit: no estimate (calls end when they end); poll, less often when the line is long.
      const waitMs = answer[1] > 0 ? answer[1] : 25 + Math.floor(Math.random() * 75);
      const which = answer[1] > 0 ? `${limits.ratePerSecond}/s rate` : `concurrency of ${limits.concurrency}`;
      throw new RetryableError(`participant "${participant}": held back by its ${which} limit`, {
        code: PARTICIPANT_THROTTLED,
        retryAfter: waitMs,
      });
    }
  }

  /** The permit of a grant: renews its slot's lease until released. */
  private permit(participant: string, limits: ResolvedLimits, id: string): LimitPermit {
    if (limits.concurrency === null) return { release: () => undefined };
    const [, slots] = this.keys(participant);
    const renew = setInterval(
      () => void this.timed(this.redis.eval(RENEW, 1, slots, this.leaseMs, id)).catch(() => undefined),
      Math.max(50, Math.floor(this.leaseMs / 3)),
    );
    renew.unref();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        clearInterval(renew);
        // Not awaited: a lost release only keeps the slot until its lease ends.
        void this.timed(this.redis.zrem(slots, id)).catch(() => undefined);
      },
    };
  }

  /** The limits, in-flight calls, calls of the last second and throttled count of each participant (null: none). */
  async view(participants: readonly string[]): Promise<Map<string, LimitsView | null>> {
    const result = new Map<string, LimitsView | null>();
    await Promise.all(
      participants.map(async (participant) => {
        const row = (await this.timed(this.redis.eval(VIEW, 3, ...this.keys(participant).slice(0, 3)))) as
          number[] | null;
        if (!row) return result.set(participant, null);
        const [concurrency, rate, inFlight, lastSecond, throttled] = row;
        if (concurrency === 0 && rate === 0) return result.set(participant, null);
        return result.set(participant, {
          concurrency: concurrency || null,
          ratePerSecond: rate || null,
          inFlight: concurrency ? inFlight : null,
          callsLastSecond: rate ? lastSecond : null,
          throttled,
        });
      }),
    );
    return result;
  }

  close(): void {
    this.redis.disconnect();
  }

  private async timed<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        promise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
