import type { ResolvedRetryPolicy } from '@saga-engine/core';
import { SagaDefinitionError } from './errors';
import { DEFAULT_RETRY_POLICY, resolveRetryPolicy, type RetryPolicy } from './retry-policy';

const WHERE = 'Saga "x", step "y": retry';

function resolve(policy: unknown, defaults: ResolvedRetryPolicy = DEFAULT_RETRY_POLICY): ResolvedRetryPolicy {
  return resolveRetryPolicy(policy as RetryPolicy, defaults, WHERE);
}

describe('resolveRetryPolicy', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      maximumAttempts: 5,
      initialIntervalMs: 1_000,
      backoffCoefficient: 2,
      maximumIntervalMs: 60_000,
      jitter: 0.2,
      nonRetryableCodes: [],
    });
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY.nonRetryableCodes)).toBe(true);
  });

  it('returns the defaults for no policy, and fills missing fields from them', () => {
    expect(resolve(undefined)).toBe(DEFAULT_RETRY_POLICY);
    expect(resolve({})).toEqual(DEFAULT_RETRY_POLICY);
    expect(resolve({ maximumAttempts: 0, initialInterval: '100ms' })).toEqual({
      ...DEFAULT_RETRY_POLICY,
      maximumAttempts: 0,
      initialIntervalMs: 100,
    });
  });

  it('converts every field', () => {
    expect(
      resolve({
        maximumAttempts: 10,
        initialInterval: '2s',
        backoffCoefficient: 1.5,
        maximumInterval: '5m',
        jitter: 0,
        nonRetryableCodes: ['CARD_LOST'],
      }),
    ).toEqual({
      maximumAttempts: 10,
      initialIntervalMs: 2_000,
      backoffCoefficient: 1.5,
      maximumIntervalMs: 300_000,
      jitter: 0,
      nonRetryableCodes: ['CARD_LOST'],
    });
  });

  it('replaces the inherited nonRetryableCodes and copies the array', () => {
    const codes = ['B'];
    const resolved = resolve({ nonRetryableCodes: codes }, { ...DEFAULT_RETRY_POLICY, nonRetryableCodes: ['A'] });
    expect(resolved.nonRetryableCodes).toEqual(['B']);
    expect(resolved.nonRetryableCodes).not.toBe(codes);
  });

  it('raises an inherited maximumInterval to a larger initialInterval, but not an explicit one', () => {
    expect(resolve({ initialInterval: '2m' }).maximumIntervalMs).toBe(120_000);
    expect(() => resolve({ initialInterval: '2m', maximumInterval: '1m' })).toThrow(
      `${WHERE}.maximumInterval must be >= initialInterval (got 60000ms < 120000ms)`,
    );
  });

  it.each<[unknown, string]>([
    [{ maximumAttempts: -1 }, 'maximumAttempts must be an integer >= 0, 0 for unlimited (got -1)'],
    [{ maximumAttempts: 1.5 }, 'maximumAttempts must be an integer >= 0, 0 for unlimited (got 1.5)'],
    [{ maximumAttempts: Infinity }, 'maximumAttempts must be an integer >= 0, 0 for unlimited (got Infinity)'],
    [{ maximumAttempts: '3' }, 'maximumAttempts must be an integer >= 0, 0 for unlimited (got "3")'],
    [{ initialInterval: -1 }, 'initialInterval must be >= 0 (got -1)'],
    [{ initialInterval: '-1s' }, 'initialInterval must be >= 0 (got "-1s")'],
    [
      { initialInterval: 'soon' },
      'initialInterval must be a duration such as 500, "500ms", "2s", "5m", "1h" or "2d" (got "soon")',
    ],
    [{ initialInterval: NaN }, 'initialInterval must be a finite number of milliseconds (got NaN)'],
    [{ backoffCoefficient: 0.5 }, 'backoffCoefficient must be a number >= 1 (got 0.5)'],
    [{ backoffCoefficient: NaN }, 'backoffCoefficient must be a number >= 1 (got NaN)'],
    [{ backoffCoefficient: Infinity }, 'backoffCoefficient must be a number >= 1 (got Infinity)'],
    [{ maximumInterval: 500 }, 'maximumInterval must be >= initialInterval (got 500ms < 1000ms)'],
    [{ maximumInterval: Infinity }, 'maximumInterval must be a finite number of milliseconds (got Infinity)'],
    [{ jitter: -0.1 }, 'jitter must be a number between 0 and 1 (got -0.1)'],
    [{ jitter: 1.5 }, 'jitter must be a number between 0 and 1 (got 1.5)'],
    [{ jitter: NaN }, 'jitter must be a number between 0 and 1 (got NaN)'],
    [{ jitter: '0.1' }, 'jitter must be a number between 0 and 1 (got "0.1")'],
    [{ nonRetryableCodes: 'CARD_LOST' }, 'nonRetryableCodes must be an array of strings (got "CARD_LOST")'],
    [{ nonRetryableCodes: ['A', 1] }, 'nonRetryableCodes must be an array of strings (got an array holding 1)'],
    [
      { maxAttempts: 3 },
      ' has an unknown field "maxAttempts" (known: maximumAttempts, initialInterval, backoffCoefficient, ' +
        'maximumInterval, jitter, nonRetryableCodes)',
    ],
  ])('rejects %p', (policy, message) => {
    const expected = message.startsWith(' ') ? `${WHERE}${message}` : `${WHERE}.${message}`;
    expect(() => resolve(policy)).toThrow(new SagaDefinitionError(expected));
  });

  it.each([null, 5, 'fast', [1]])('rejects a policy that is not an object: %p', (policy) => {
    expect(() => resolve(policy)).toThrow(/^Saga "x", step "y": retry must be an object \(got .+\)$/);
  });

  it('throws SagaDefinitionError', () => {
    expect(() => resolve({ jitter: 2 })).toThrow(SagaDefinitionError);
    expect(() => resolve({ initialInterval: -1 })).toThrow(SagaDefinitionError);
  });
});
