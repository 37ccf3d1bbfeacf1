import type { ErrorInfo } from '@saga-engine/core';
import type { Duration } from '@saga-engine/core';
import { parseDuration } from '@saga-engine/core';

/*
 * Errors cross queues and the database as plain data (`ErrorInfo`), so nothing here relies on `instanceof`:
 * a class loaded twice (two copies of the SDK) or an error rebuilt from JSON must classify the same way. Each
 * class therefore carries a literal `name` (never `this.constructor.name`, which minifiers mangle) and a
 * `retryable` flag, and `toErrorInfo` reads only those fields.
 */

/** Longest `message` kept in an `ErrorInfo`; the rest is cut (histories and alerts stay readable). */
export const MAX_ERROR_MESSAGE_LENGTH = 2000;

const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface NonRetryableErrorOptions {
  /** A stable, machine-readable reason in SCREAMING_SNAKE_CASE (`ACCOUNT_CLOSED`). Default `NON_RETRYABLE`. */
  code?: string;
  /** Extra facts for the author's own use; not persisted in the step's `ErrorInfo`. */
  details?: unknown;
  cause?: unknown;
}

/**
 * A definite business "no" (account closed, card declined, invalid input): the step is not retried, the steps
 * that completed are compensated in reverse order, and this step's own `compensate` does not run, because a
 * definite "no" means the action took no effect. After the pivot, the saga ends FAILED for an operator instead.
 *
 * Throw it only when you are sure nothing happened; when in doubt, throw anything else and let the retry policy
 * decide.
 *
 * @example
 * if (account.closed) throw new NonRetryableError('Account is closed', { code: 'ACCOUNT_CLOSED' });
 */
export class NonRetryableError extends Error {
  override readonly name = 'NonRetryableError' as const;
  readonly retryable = false as const;
  readonly code: string;
  readonly details: unknown;

  constructor(message: string, options: NonRetryableErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? 'NON_RETRYABLE';
    this.details = options.details;
  }
}

export interface RetryableErrorOptions {
  /** A stable, machine-readable reason in SCREAMING_SNAKE_CASE (`RATE_LIMITED`). Default `RETRYABLE`. */
  code?: string;
  /**
   * When the participant will be ready (HTTP `Retry-After`): the next attempt waits this long instead of the
   * policy's backoff, even beyond `maximumInterval`. It does not add attempts: `maximumAttempts` still counts.
   * An invalid value (negative, NaN) is ignored, so that building the error never throws a different one.
   */
  retryAfter?: Duration;
  cause?: unknown;
}

/**
 * A transient failure, said explicitly, optionally with a hint for when to try again. It behaves like any other
 * thrown error (retried by the step's `retry` policy); use it for its `retryAfter` and its `code`.
 *
 * @example
 * if (res.status === 429) throw new RetryableError('Rate limited', { code: 'RATE_LIMITED', retryAfter: '30s' });
 */
export class RetryableError extends Error {
  override readonly name = 'RetryableError' as const;
  readonly retryable = true as const;
  readonly code: string;
  /** `retryAfter` in milliseconds, or undefined when none (or an invalid one) was given. */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: RetryableErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? 'RETRYABLE';
    this.retryAfterMs = tryParseDuration(options.retryAfter);
  }
}

/** A saga definition that cannot be built. Thrown by `defineSaga`, `.step()`, `.parallel()` and `.build()`. */
export class SagaDefinitionError extends Error {
  override readonly name = 'SagaDefinitionError' as const;
}

/**
 * The plain-data form of anything thrown by a step or a compensation, as the engine stores and reads it.
 *
 * Classification, by fields only (see the note at the top of this file):
 * - `NonRetryableError`, or any error with `retryable: false`: `retryable: false`, its `code` (or `NON_RETRYABLE`).
 * - `RetryableError`, or any error with `retryable: true`: `retryable: true`, its `code` (or `RETRYABLE`),
 *   and `retryAfterMs` when it gives one.
 * - `name` `AbortError` or `TimeoutError` (an aborted `ctx.signal`, `AbortSignal.timeout`): code `TIMEOUT`,
 *   retryable.
 * - Any other error: its string `code` property when it looks like one (`ECONNREFUSED`, `ERR_SOCKET_TIMEOUT`;
 *   `/^[A-Z][A-Z0-9_]{0,63}$/`), else `UNHANDLED`; retryable.
 * - A thrown non-error (`throw 'oops'`): name `Error`, code `UNHANDLED`, the value as the message; retryable.
 *
 * Messages longer than 2000 characters are cut, ending with `…`.
 */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (!isErrorLike(err)) {
    return { name: 'Error', code: 'UNHANDLED', message: truncate(stringify(err)), retryable: true };
  }
  const name = typeof err.name === 'string' && err.name !== '' ? err.name.slice(0, 200) : 'Error';
  const message = truncate(typeof err.message === 'string' ? err.message : '');
  if (name === 'NonRetryableError' || err.retryable === false) {
    return { name, code: ownCode(err.code, 'NON_RETRYABLE'), message, retryable: false };
  }
  if (name === 'RetryableError' || err.retryable === true) {
    const info: ErrorInfo = { name, code: ownCode(err.code, 'RETRYABLE'), message, retryable: true };
    const retryAfterMs = tryParseDuration(err.retryAfterMs ?? err.retryAfter);
    if (retryAfterMs !== undefined) info.retryAfterMs = retryAfterMs;
    return info;
  }
  if (name === 'AbortError' || name === 'TimeoutError') {
    return { name, code: 'TIMEOUT', message, retryable: true };
  }
  const code = typeof err.code === 'string' && CODE_PATTERN.test(err.code) ? err.code : 'UNHANDLED';
  return { name, code, message, retryable: true };
}

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  retryable?: unknown;
  retryAfterMs?: unknown;
  retryAfter?: unknown;
}

// An Error, or its plain-data shape after a trip through JSON (an RPC reply, a queue payload).
function isErrorLike(value: unknown): value is ErrorLike {
  return (
    value instanceof Error ||
    (typeof value === 'object' && value !== null && typeof (value as ErrorLike).message === 'string')
  );
}

// Our own classes may carry any code the author chose; only an empty or non-string one falls back.
function ownCode(code: unknown, fallback: string): string {
  return typeof code === 'string' && code !== '' ? code.slice(0, 64) : fallback;
}

function tryParseDuration(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  try {
    return parseDuration(value, 'retryAfter');
  } catch {
    return undefined;
  }
}

function stringify(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    try {
      const json = JSON.stringify(value);
      if (typeof json === 'string') return json;
    } catch {
      // A cycle or a BigInt: fall back to String().
    }
  }
  try {
    return String(value);
  } catch {
    // An object without a prototype has no toString.
    return Object.prototype.toString.call(value);
  }
}

function truncate(message: string): string {
  if (message.length <= MAX_ERROR_MESSAGE_LENGTH) return message;
  let end = MAX_ERROR_MESSAGE_LENGTH - 1;
  // Do not split a surrogate pair: a lone half is not valid UTF-8 for PostgreSQL.
  const last = message.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${message.slice(0, end)}…`;
}
