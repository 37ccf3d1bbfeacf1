import { computeBackoffMs, hasAttemptsLeft, isDefiniteFailure } from './backoff';
import type { ErrorInfo, ResolvedRetryPolicy } from './types';

const policy = (overrides: Partial<ResolvedRetryPolicy> = {}): ResolvedRetryPolicy => ({
  maximumAttempts: 5,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 30_000,
  jitter: 0,
  nonRetryableCodes: [],
  ...overrides,
});

describe('computeBackoffMs', () => {
  it.each([
    [1, 1_000],
    [2, 2_000],
    [3, 4_000],
    [4, 8_000],
    [5, 16_000],
    [6, 30_000], // 32 s, capped
    [50, 30_000],
    [5_000, 30_000], // coefficient^n overflows to Infinity: still the cap
  ])('grows exponentially without jitter: attempt %i failed -> %i ms', (failedAttempt, expected) => {
    expect(computeBackoffMs(policy(), failedAttempt, 0.123)).toBe(expected);
  });

  it('treats attempt 0 or less as the first', () => {
    expect(computeBackoffMs(policy(), 0, 0.5)).toBe(1_000);
  });

  it('keeps a constant interval with coefficient 1', () => {
    expect(computeBackoffMs(policy({ backoffCoefficient: 1 }), 7, 0.5)).toBe(1_000);
  });

  it('keeps a zero interval at zero however many attempts failed', () => {
    expect(computeBackoffMs(policy({ initialIntervalMs: 0 }), 2_000, 0.9)).toBe(0);
  });

  it.each([
    [0, 800], // 1000 * (1 - 0.2)
    [0.25, 900],
    [0.5, 1_000],
    [0.75, 1_100],
    [0.9999999, 1_200],
  ])('spreads uniformly over ±jitter: random %f -> %i ms', (random, expected) => {
    expect(computeBackoffMs(policy({ jitter: 0.2 }), 1, random)).toBe(expected);
  });

  it('rounds to an integer', () => {
    expect(computeBackoffMs(policy({ initialIntervalMs: 333, jitter: 0.1 }), 1, 0.3)).toBe(320); // 319.68
    expect(Number.isInteger(computeBackoffMs(policy({ initialIntervalMs: 7, backoffCoefficient: 1.5 }), 3, 0))).toBe(
      true,
    );
  });

  it('never exceeds the cap, even with jitter above a capped base', () => {
    expect(computeBackoffMs(policy({ jitter: 1 }), 10, 0.9999)).toBe(30_000);
  });

  it('never goes below zero, with full jitter', () => {
    expect(computeBackoffMs(policy({ jitter: 1 }), 1, 0)).toBe(0);
  });

  it("lets the participant's retryAfterMs win, above the cap and regardless of jitter", () => {
    expect(computeBackoffMs(policy({ jitter: 0.5 }), 1, 0, 90_000)).toBe(90_000);
    expect(computeBackoffMs(policy(), 3, 0.5, 0)).toBe(0);
    expect(computeBackoffMs(policy(), 1, 0.5, 1_234.6)).toBe(1_235);
  });

  it('ignores a negative or non-finite retryAfterMs', () => {
    expect(computeBackoffMs(policy(), 2, 0.5, -1)).toBe(2_000);
    expect(computeBackoffMs(policy(), 2, 0.5, Number.NaN)).toBe(2_000);
    expect(computeBackoffMs(policy(), 2, 0.5, Number.POSITIVE_INFINITY)).toBe(2_000);
  });
});

describe('isDefiniteFailure', () => {
  const error = (retryable: boolean, code = 'X'): ErrorInfo => ({ name: 'Error', code, message: 'm', retryable });

  it('is definite for a non-retryable error', () => {
    expect(isDefiniteFailure(policy(), error(false))).toBe(true);
  });

  it('is not definite for a retryable error', () => {
    expect(isDefiniteFailure(policy(), error(true))).toBe(false);
  });

  it('is definite for a retryable error whose code the policy lists as non-retryable', () => {
    expect(isDefiniteFailure(policy({ nonRetryableCodes: ['ACCOUNT_CLOSED'] }), error(true, 'ACCOUNT_CLOSED'))).toBe(
      true,
    );
    expect(isDefiniteFailure(policy({ nonRetryableCodes: ['ACCOUNT_CLOSED'] }), error(true, 'TIMEOUT'))).toBe(false);
  });
});

describe('hasAttemptsLeft', () => {
  it.each([
    [3, 1, 0, true],
    [3, 2, 0, true],
    [3, 3, 0, false],
    [3, 4, 0, false],
    [1, 1, 0, false],
    // An operator retry starts a new round at attemptBase: attempts 4, 5, 6 are the round's 1st, 2nd, 3rd.
    [3, 4, 3, true],
    [3, 5, 3, true],
    [3, 6, 3, false],
    // 0 means unlimited.
    [0, 1, 0, true],
    [0, 1_000_000, 0, true],
  ])('maximumAttempts %i, attempt %i, attemptBase %i -> %s', (maximumAttempts, attempt, attemptBase, expected) => {
    expect(hasAttemptsLeft(policy({ maximumAttempts }), attempt, attemptBase)).toBe(expected);
  });

  it('defaults attemptBase to 0', () => {
    expect(hasAttemptsLeft(policy({ maximumAttempts: 2 }), 2)).toBe(false);
  });
});
