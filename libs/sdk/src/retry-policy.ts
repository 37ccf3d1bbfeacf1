import type { ResolvedRetryPolicy } from '@saga-engine/core';
import { describeValue, parseDuration, parseSignedDuration, type Duration } from '@saga-engine/core';
import { SagaDefinitionError } from './errors';

/**
 * How a step's action (`retry`) or its compensation (`compensationRetry`) is retried after a transient failure.
 *
 * Every field is optional. A missing field comes from the saga's `defaults.retry` (or `defaults.compensationRetry`),
 * then from the built-in default named on the field. A step's compensation does not inherit the step's `retry`.
 *
 * The delay before attempt n + 1 is `initialInterval * backoffCoefficient^(n - 1)`, capped at `maximumInterval`,
 * then spread over ±`jitter` of its value, so that failed steps of many sagas do not retry in lockstep. A
 * `RetryableError` with `retryAfter` replaces that delay for its next attempt.
 *
 * @example
 * retry: { maximumAttempts: 10, initialInterval: '500ms', maximumInterval: '30s', nonRetryableCodes: ['CARD_LOST'] }
 */
export interface RetryPolicy {
  /**
   * Attempts in total, the first one included: `1` never retries. `0` retries without limit (consider it after
   * the pivot, where giving up means an operator). An integer >= 0.
   * @defaultValue 5
   */
  maximumAttempts?: number;
  /**
   * Delay before the first retry. >= 0.
   * @defaultValue '1s'
   */
  initialInterval?: Duration;
  /**
   * Each delay is the previous one times this. >= 1 (1 keeps the delay constant).
   * @defaultValue 2
   */
  backoffCoefficient?: number;
  /**
   * Cap on one delay. >= `initialInterval`.
   * @defaultValue '60s', or `initialInterval` when that is larger and `maximumInterval` is not given
   */
  maximumInterval?: Duration;
  /**
   * Fraction in [0, 1]: each delay is spread uniformly over ±jitter of its value (0.2: 8 s becomes 6.4 to 9.6 s).
   * @defaultValue 0.2
   */
  jitter?: number;
  /**
   * Error `code`s that are a definite "no" even when thrown as a plain or retryable error (for codes a client
   * library throws that you cannot change). Replaces, does not extend, the inherited list.
   * @defaultValue []
   */
  nonRetryableCodes?: readonly string[];
}

/** The built-in defaults (see each field of `RetryPolicy`). */
export const DEFAULT_RETRY_POLICY: ResolvedRetryPolicy = Object.freeze({
  maximumAttempts: 5,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 60_000,
  jitter: 0.2,
  nonRetryableCodes: Object.freeze<string[]>([]),
});

/** Default `timeout` and `compensationTimeout` of a step: 30 s per attempt. */
export const DEFAULT_TIMEOUT_MS = 30_000;

// setTimeout (and AbortSignal.timeout) fire at once past this, with only a warning.
const MAX_TIMEOUT_MS = 2_147_483_647;

const RETRY_POLICY_FIELDS: readonly string[] = [
  'maximumAttempts',
  'initialInterval',
  'backoffCoefficient',
  'maximumInterval',
  'jitter',
  'nonRetryableCodes',
];

/**
 * `policy` over `defaults`, field by field, validated, with durations in milliseconds.
 *
 * `where` prefixes the field names in error messages, e.g. `Saga "order", step "charge": retry` gives
 * `Saga "order", step "charge": retry.initialInterval must be >= 0 (got -1)`.
 *
 * @throws SagaDefinitionError on an invalid field, with a message naming the field and the value.
 */
export function resolveRetryPolicy(
  policy: RetryPolicy | undefined,
  defaults: ResolvedRetryPolicy,
  where: string,
): ResolvedRetryPolicy {
  if (policy === undefined) return defaults;
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    throw new SagaDefinitionError(`${where} must be an object (got ${describeValue(policy)})`);
  }
  rejectUnknownFields(policy, RETRY_POLICY_FIELDS, where);

  const maximumAttempts = policy.maximumAttempts ?? defaults.maximumAttempts;
  if (!Number.isInteger(maximumAttempts) || maximumAttempts < 0) {
    throw new SagaDefinitionError(
      `${where}.maximumAttempts must be an integer >= 0, 0 for unlimited (got ${describeValue(maximumAttempts)})`,
    );
  }

  const initialIntervalMs =
    policy.initialInterval === undefined
      ? defaults.initialIntervalMs
      : definitionDuration(policy.initialInterval, `${where}.initialInterval`);

  const backoffCoefficient = policy.backoffCoefficient ?? defaults.backoffCoefficient;
  if (typeof backoffCoefficient !== 'number' || !Number.isFinite(backoffCoefficient) || backoffCoefficient < 1) {
    throw new SagaDefinitionError(
      `${where}.backoffCoefficient must be a number >= 1 (got ${describeValue(backoffCoefficient)})`,
    );
  }

  let maximumIntervalMs: number;
  if (policy.maximumInterval === undefined) {
    // Raising only initialInterval should not turn an inherited cap into an error the author never wrote.
    maximumIntervalMs = Math.max(defaults.maximumIntervalMs, initialIntervalMs);
  } else {
    maximumIntervalMs = definitionDuration(policy.maximumInterval, `${where}.maximumInterval`);
    if (maximumIntervalMs < initialIntervalMs) {
      throw new SagaDefinitionError(
        `${where}.maximumInterval must be >= initialInterval (got ${maximumIntervalMs}ms < ${initialIntervalMs}ms)`,
      );
    }
  }

  const jitter = policy.jitter ?? defaults.jitter;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new SagaDefinitionError(`${where}.jitter must be a number between 0 and 1 (got ${describeValue(jitter)})`);
  }

  const codes: unknown = policy.nonRetryableCodes ?? defaults.nonRetryableCodes;
  if (!Array.isArray(codes) || !codes.every((code) => typeof code === 'string')) {
    throw new SagaDefinitionError(
      `${where}.nonRetryableCodes must be an array of strings (got ${describeCodes(codes)})`,
    );
  }

  return {
    maximumAttempts,
    initialIntervalMs,
    backoffCoefficient,
    maximumIntervalMs,
    jitter,
    nonRetryableCodes: [...codes] as string[],
  };
}

/** A duration >= 0 in milliseconds, or a SagaDefinitionError naming `field`. */
export function definitionDuration(value: unknown, field: string): number {
  try {
    return parseDuration(value, field);
  } catch (err) {
    throw asDefinitionError(err);
  }
}

/** A timeout in milliseconds: > 0 and no longer than a Node.js timer can wait. */
export function definitionTimeout(value: unknown, field: string): number {
  let ms: number;
  try {
    ms = parseSignedDuration(value, field);
  } catch (err) {
    throw asDefinitionError(err);
  }
  if (ms <= 0) throw new SagaDefinitionError(`${field} must be > 0 (got ${describeValue(value)})`);
  if (ms > MAX_TIMEOUT_MS) {
    throw new SagaDefinitionError(
      `${field} must be <= ${MAX_TIMEOUT_MS}ms, the longest a Node.js timer can wait (got ${describeValue(value)})`,
    );
  }
  return ms;
}

/** Throws on a key of `options` that is not in `known`: a misspelt option must not be silently ignored. */
export function rejectUnknownFields(options: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new SagaDefinitionError(`${where} has an unknown field "${key}" (known: ${known.join(', ')})`);
    }
  }
}

function asDefinitionError(err: unknown): unknown {
  return err instanceof RangeError ? new SagaDefinitionError(err.message) : err;
}

function describeCodes(codes: unknown): string {
  if (!Array.isArray(codes)) return describeValue(codes);
  const bad: unknown = codes.find((code) => typeof code !== 'string');
  return `an array holding ${describeValue(bad)}`;
}
