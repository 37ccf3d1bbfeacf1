import type { ErrorInfo, ResolvedRetryPolicy } from './types';

/**
 * Delay before the attempt that follows `failedAttempt` (1-based within the current round).
 *
 * `initialIntervalMs * backoffCoefficient^(failedAttempt - 1)`, capped at `maximumIntervalMs`, then spread
 * uniformly over ±`jitter` of its value (`random` in [0, 1) picks the point), rounded, and kept within
 * [0, maximumIntervalMs]. A participant's explicit hint (`retryAfterMs` >= 0) wins over all of that, cap included:
 * it knows when it will be ready better than our policy does.
 */
export function computeBackoffMs(
  policy: ResolvedRetryPolicy,
  failedAttempt: number,
  random: number,
  retryAfterMs?: number,
): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) {
    return Math.round(retryAfterMs);
  }
  const exponent = Math.max(0, failedAttempt - 1);
  // 0 * Infinity is NaN: a zero interval stays zero however many attempts failed.
  const grown = policy.initialIntervalMs === 0 ? 0 : policy.initialIntervalMs * policy.backoffCoefficient ** exponent;
  const base = Math.min(grown, policy.maximumIntervalMs);
  const jittered = Math.round(base * (1 + policy.jitter * (2 * random - 1)));
  return Math.min(Math.max(jittered, 0), policy.maximumIntervalMs);
}

/** A definite "no": thrown as non-retryable, or carrying a code the policy lists as non-retryable. */
export function isDefiniteFailure(policy: ResolvedRetryPolicy, error: ErrorInfo): boolean {
  return !error.retryable || policy.nonRetryableCodes.includes(error.code);
}

/**
 * Whether the round that `attempt` belongs to may dispatch another attempt. `maximumAttempts` counts attempts of
 * the round (first included); 0 means unlimited.
 */
export function hasAttemptsLeft(policy: ResolvedRetryPolicy, attempt: number, attemptBase = 0): boolean {
  return policy.maximumAttempts === 0 || attempt - attemptBase < policy.maximumAttempts;
}
