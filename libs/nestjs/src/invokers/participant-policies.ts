import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CircuitState,
  ConsecutiveBreaker,
  type IPolicy,
  bulkhead,
  circuitBreaker,
  handleWhen,
  wrap,
} from 'cockatiel';
import { RetryableError } from '@saga-engine/sdk';
import {
  type ClusterLimiter,
  PARTICIPANT_THROTTLED,
  type ParticipantLimits,
  type ResolvedLimits,
  hasLimits,
  resolveLimits,
} from './participant-limits';

/** The error code of a call refused at once because its participant's circuit is open (transient). */
export const CIRCUIT_OPEN = 'CIRCUIT_OPEN';
/** The error code of a call refused because its participant's concurrency limit and queue are full (transient). */
export const BULKHEAD_FULL = 'BULKHEAD_FULL';

/** How calls to one participant are guarded. Every field documents its default. */
export interface ParticipantPolicyOptions {
  /** Consecutive transient failures that open the circuit. @defaultValue 5 */
  consecutiveFailures?: number;
  /** How long an open circuit fails fast before it lets one trial call through (half-open). @defaultValue 10_000 */
  halfOpenAfterMs?: number;
  /** At most this many calls in flight at once; null for no limit. @defaultValue null */
  maxConcurrent?: number | null;
  /** Calls that may wait for a slot when `maxConcurrent` are in flight; more are refused. @defaultValue 0 */
  maxQueued?: number;
  /**
   * Limits shared by every agent of the cluster (in Redis, so they need `redisUrl`): calls in flight at once and
   * calls per second. A call held back is not sent and does not count as an attempt: the agent delays the step's
   * job until a slot is free (see docs/participants.md). `SAGA_PARTICIPANT_LIMITS` (or the module's
   * `participants.limits`) overrides them per participant. @defaultValue no limits
   */
  limits?: ParticipantLimits;
}

/** The cluster-wide limits of a ParticipantPolicies: where they are kept, and the configuration's overrides. */
export interface ClusterLimitsOptions {
  /** Null without Redis: then a participant with limits is refused (per-process limits would not be limits). */
  limiter: ClusterLimiter | null;
  /** By participant, from the configuration; they replace the limits the code gives for that participant. */
  overrides?: ReadonlyMap<string, ResolvedLimits>;
}

export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** What a step's invoker runs under its participant's policy. */
export interface ParticipantPolicy {
  readonly participant: string;
  /**
   * Runs `fn` through the cluster-wide limits (if any), the bulkhead (if any) and the circuit breaker. `key`: the
   * call's idempotency key, which keeps its place in line when a limit holds it back (see ClusterLimiter).
   */
  execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal, key?: string): Promise<T>;
  state(): BreakerState;
}

/**
 * One circuit breaker (and optional bulkhead) per participant, shared by every invoker of that participant in
 * the process, so that a participant that is down fails fast for every step that calls it.
 *
 * Only transient failures count towards opening the circuit (timeouts, connection errors, 5xx): a definite "no"
 * (4xx, a business error) proves the participant is up, and a 429 proves it is up and asks us to slow down, which
 * its `Retry-After` already does. An open circuit refuses calls with a `RetryableError` coded `CIRCUIT_OPEN`: the
 * step's retry policy tries again later, and the code shows in the step's error. Each process has its own
 * breakers: an agent learns that a participant is down from its own calls.
 */
export class ParticipantPolicies {
  private readonly policies = new Map<string, ParticipantPolicy & { breaker: { state: CircuitState } }>();
  private readonly since = new Map<string, Date>();
  private readonly listeners = new Set<CircuitListener>();

  private readonly limits = new Map<string, ResolvedLimits>();
  private readonly throttleListeners = new Set<(participant: string) => void>();

  constructor(
    private readonly defaults: ParticipantPolicyOptions = {},
    private readonly cluster: ClusterLimitsOptions = { limiter: null },
  ) {}

  /**
   * The participant's policy, created with `options` (over the defaults) on first use; later options are ignored.
   * Throws when the participant has limits (in `options` or the configuration) and there is no Redis to keep them.
   */
  for(participant: string, options: ParticipantPolicyOptions = {}): ParticipantPolicy {
    const existing = this.policies.get(participant);
    if (existing) return existing;
    const limits = this.cluster.overrides?.get(participant) ?? resolveLimits(participant, options.limits);
    const limiter = hasLimits(limits) ? this.cluster.limiter : null;
    if (hasLimits(limits) && !limiter) {
      throw new Error(
        `participant "${participant}" has cluster-wide limits, which are kept in Redis: set redisUrl (REDIS_URL)`,
      );
    }
    this.limits.set(participant, limits);
    const throttled = () => {
      for (const listener of this.throttleListeners) listener(participant);
    };
    const guard = limiter ? { limiter, limits, throttled } : null;
    const created = createPolicy(participant, { ...this.defaults, ...options }, guard, (state) => {
      const at = new Date();
      this.since.set(participant, at);
      for (const listener of this.listeners) listener({ participant, state, since: at });
    });
    this.policies.set(participant, created);
    for (const listener of this.listeners) listener({ participant, state: created.state(), since: null });
    return created;
  }

  /** Every participant's circuit state, for metrics and health pages. */
  states(): { participant: string; state: BreakerState }[] {
    return [...this.policies.values()].map((p) => ({ participant: p.participant, state: p.state() }));
  }

  /** The cluster-wide limits of every participant this process has a policy for (null fields: no limit). */
  limitsOf(participant: string): ResolvedLimits | null {
    return this.limits.get(participant) ?? null;
  }

  /** Calls `listener` with the participant's name each time a call is held back by its cluster-wide limits. */
  onThrottle(listener: (participant: string) => void): () => void {
    this.throttleListeners.add(listener);
    return () => this.throttleListeners.delete(listener);
  }

  /** Closes the limiter's Redis connection (Nest calls it on shutdown). */
  onApplicationShutdown(): void {
    this.cluster.limiter?.close();
  }

  /** The cluster limiter (null without Redis), for `GET /v1/participants`. */
  get limiter(): ClusterLimiter | null {
    return this.cluster.limiter;
  }

  /** Every participant's circuit state and when it entered it (null: closed since the process started). */
  details(): CircuitChange[] {
    return [...this.policies.values()].map((p) => ({
      participant: p.participant,
      state: p.state(),
      since: this.since.get(p.participant) ?? null,
    }));
  }

  /**
   * Calls `listener` when a participant's breaker is created (`since` null) and on every state change, at once
   * and in the caller's stack (keep it quick). Returns a function that removes it.
   */
  onChange(listener: CircuitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface CircuitChange {
  participant: string;
  state: BreakerState;
  since: Date | null;
}

export type CircuitListener = (change: CircuitChange) => void;

function createPolicy(
  participant: string,
  options: ParticipantPolicyOptions,
  guard: { limiter: ClusterLimiter; limits: ResolvedLimits; throttled: () => void } | null,
  changed: (state: BreakerState) => void,
): ParticipantPolicy & { breaker: { state: CircuitState } } {
  const consecutiveFailures = positiveInteger(options.consecutiveFailures ?? 5, 'consecutiveFailures');
  const halfOpenAfter = positiveInteger(options.halfOpenAfterMs ?? 10_000, 'halfOpenAfterMs');
  const breaker = circuitBreaker(handleWhen(countsAsFailure), {
    halfOpenAfter,
    breaker: new ConsecutiveBreaker(consecutiveFailures),
  });
  breaker.onStateChange((state) => changed(stateName(state)));
  const maxConcurrent = options.maxConcurrent ?? null;
  const policy: IPolicy =
    maxConcurrent === null
      ? breaker
      : wrap(bulkhead(positiveInteger(maxConcurrent, 'maxConcurrent'), Math.max(0, options.maxQueued ?? 0)), breaker);
  return {
    participant,
    breaker,
    state: () => stateName(breaker.state),
    async execute<T>(fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal, key?: string): Promise<T> {
      try {
        // The cluster slot is taken inside the breaker and the bulkhead: a call an open circuit refuses uses none.
        return await policy.execute(async ({ signal: inner }) => {
          if (!guard) return fn(inner);
          const permit = await guard.limiter.acquire(participant, guard.limits, key).catch((error: unknown) => {
            guard.throttled();
            throw error;
          });
          try {
            return await fn(inner);
          } finally {
            permit.release();
          }
        }, signal);
      } catch (error) {
        if (error instanceof BrokenCircuitError) {
          throw new RetryableError(`participant "${participant}": circuit open, failing fast`, {
            code: CIRCUIT_OPEN,
            cause: error,
          });
        }
        if (error instanceof BulkheadRejectedError) {
          throw new RetryableError(`participant "${participant}": too many calls in flight`, {
            code: BULKHEAD_FULL,
            cause: error,
          });
        }
        throw error;
      }
    },
  };
}

/** Transient failures count; a definite "no", a rate limit and our own limits do not (see ParticipantPolicies). */
function countsAsFailure(error: Error): boolean {
  const { retryable, code } = error as { retryable?: unknown; code?: unknown };
  return retryable !== false && code !== 'RATE_LIMITED' && code !== PARTICIPANT_THROTTLED;
}

function stateName(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Closed:
      return 'closed';
    case CircuitState.Open:
      return 'open';
    case CircuitState.HalfOpen:
      return 'half-open';
    case CircuitState.Isolated:
      return 'isolated';
    default: {
      const unknown: never = state;
      throw new Error(`unknown circuit state ${String(unknown)}`);
    }
  }
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${field} must be a positive integer (got ${value})`);
  return value;
}
