import { NonRetryableError, RetryableError, type Duration } from '@saga-engine/sdk';

/**
 * A scripted outcome for one attempt of a step (or of its compensation), made by `fail.*`. Faults are listed per
 * step, one per attempt in order (`faults: { 'charge-card': [fail.transient(), fail.transient()] }`); an attempt
 * past the list, or whose entry is `null`, runs the step's handler (or its stub).
 */
export type Fault =
  /** The attempt throws `error()` instead of running the handler. */
  | { readonly kind: 'error'; readonly error: () => Error }
  /** The handler runs, but the attempt outlives its timeout: its signal aborts and it fails with `TIMEOUT`. */
  | { readonly kind: 'timeout' }
  /** The handler runs, then its agent dies before reporting: the supervisor fails it at its deadline. */
  | { readonly kind: 'crash' };

/**
 * One entry of a step's fault list: a `Fault`, a function run instead of the handler (what it returns is the
 * output, what it throws is the failure, exactly as for a handler), or `null` for "this attempt runs as usual".
 */
export type FaultEntry<Ctx = any, Deps = any> = Fault | ((ctx: Ctx, deps: Deps) => unknown) | null;

export interface TransientFaultOptions {
  message?: string;
  /** The participant's hint (`RetryableError`'s `retryAfter`): the next attempt waits this long instead of the backoff. */
  retryAfter?: Duration;
}

export interface DefiniteFaultOptions {
  message?: string;
}

/**
 * Scripted failures, each what a real participant or agent does, classified by the engine's own rules
 * (`toErrorInfo`, the step's retry policy and its `nonRetryableCodes`):
 *
 * | fault                       | the handler | the attempt                     | then (by the engine's rules)          |
 * | --------------------------- | ----------- | ------------------------------- | ------------------------------------- |
 * | `fail.transient(code?)`     | not run     | throws a `RetryableError`       | retried with backoff; exhausted: the   |
 * |                             |             |                                 | step is undone too (outcome unknown)   |
 * | `fail.definite(code?)`      | not run     | throws a `NonRetryableError`    | not retried; the earlier steps undone |
 * | `fail.timeout()`            | runs        | its `ctx.signal` aborts at the  | as the agent's timeout: `TIMEOUT`,     |
 * |                             |             | step's timeout (virtual time)   | transient                             |
 * | `fail.crash()`              | runs        | its report is lost              | the supervisor's `DEADLINE_EXCEEDED`  |
 * |                             |             |                                 | at timeout + 5 s: transient, a death; |
 * |                             |             |                                 | the 2nd death: `POISONED`, undone     |
 */
export const fail = {
  /** A transient failure: `RetryableError` with `code` (default `RETRYABLE`) and, optionally, `retryAfter`. */
  transient(code?: string, options: TransientFaultOptions = {}): Fault {
    const message = options.message ?? `scripted transient failure${code ? ` ${code}` : ''}`;
    return Object.freeze({
      kind: 'error' as const,
      error: () => new RetryableError(message, { code, retryAfter: options.retryAfter }),
    });
  },

  /** A definite "no": `NonRetryableError` with `code` (default `NON_RETRYABLE`). Nothing took effect. */
  definite(code?: string, options: DefiniteFaultOptions = {}): Fault {
    const message = options.message ?? `scripted definite failure${code ? ` ${code}` : ''}`;
    return Object.freeze({ kind: 'error' as const, error: () => new NonRetryableError(message, { code }) });
  },

  /**
   * The attempt runs past its timeout. The handler is called (its effect may happen, as in real life, so the
   * outcome is unknown and the step is undone if it ends up failed); its result is discarded; at the step's
   * `timeout` of virtual time, at once, `ctx.signal` aborts with a `TimeoutError` and the attempt fails as the
   * agent's timeout does (`TIMEOUT`, transient).
   */
  timeout(): Fault {
    return TIMEOUT;
  },

  /**
   * The agent dies after the handler ran, before it reported: the handler runs to its end, its outcome is lost, and
   * the supervisor reports `DEADLINE_EXCEEDED` (transient) at the attempt's deadline: its timeout plus 5 s after it
   * was due. The next attempt runs the same idempotency key again: a test of the handler's idempotency. Each is a
   * death of the step: at the environment's `poisonAfterDeaths` (2) the step fails with `POISONED` instead, not
   * retried, and is undone (its outcome is unknown).
   */
  crash(): Fault {
    return CRASH;
  },

  /** `fault` for `count` attempts in a row: `[...fail.times(4, fail.transient()), fail.definite()]`. */
  times(count: number, fault: Fault): Fault[] {
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`fail.times: count must be an integer >= 0`);
    return Array.from({ length: count }, () => fault);
  },
};

const TIMEOUT: Fault = Object.freeze({ kind: 'timeout' as const });
const CRASH: Fault = Object.freeze({ kind: 'crash' as const });

/** Whether `value` is a Fault made by `fail.*`. */
export function isFault(value: unknown): value is Fault {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return (
    kind === 'timeout' ||
    kind === 'crash' ||
    (kind === 'error' && typeof (value as Fault & { error?: unknown }).error === 'function')
  );
}
