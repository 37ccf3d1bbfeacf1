import type { SagaStatus, SagaView } from './saga-view';

/*
 * Every class carries a literal `name` (never `this.constructor.name`, which minifiers mangle) and a string `code`,
 * so callers can branch on data (`err.code === 'NOT_WAITING'`) even when two copies of this package are loaded and
 * `instanceof` fails. No message, cause or property ever holds the API key.
 */

/**
 * The codes the REST API documents (API.md), plus two of the client's own: `UNAVAILABLE` (no answer: network
 * failure or the per-request timeout; `status` 0) and `UNEXPECTED_RESPONSE` (an answer that is not the API's JSON,
 * e.g. a proxy's HTML error page). A newer engine may send codes not listed here, so `code` is typed open.
 */
export type SagaApiErrorCode =
  | 'AUTH_REQUIRED'
  | 'FORBIDDEN'
  | 'SAGA_TYPE_UNKNOWN'
  | 'INPUT_INVALID'
  | 'IDEMPOTENCY_CONFLICT'
  | 'BUSINESS_KEY_CONFLICT'
  | 'SAGA_NOT_FOUND'
  | 'STEP_NOT_FOUND'
  | 'BULK_JOB_NOT_FOUND'
  | 'CAP_EXCEEDED'
  | 'INVALID_STATE'
  | 'NOT_WAITING'
  | 'VERSION_UNAVAILABLE'
  | 'BODY_INVALID'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_FOUND'
  | 'RATE_LIMITED'
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'UNEXPECTED_RESPONSE';

/**
 * The engine refused a request or did not answer. `status` is the HTTP status (0 when there was no answer), `code`
 * the API's stable code, `message` the API's own message (it names the field, never echoes a value).
 */
export class SagaApiError extends Error {
  override readonly name: string = 'SagaApiError';
  readonly status: number;
  readonly code: SagaApiErrorCode | (string & {});

  constructor(status: number, code: SagaApiErrorCode | (string & {}), message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = code;
  }
}

/** 404 `SAGA_NOT_FOUND`: no saga has this id (or, from a typed `get`, none of this type). */
export class SagaNotFoundError extends SagaApiError {
  override readonly name: string = 'SagaNotFoundError';
}

/**
 * 409: the request conflicts with the saga's state. `code` says which: `IDEMPOTENCY_CONFLICT` (the key started a
 * saga with another type or input), `BUSINESS_KEY_CONFLICT` (a saga of the type that is not over holds the input's
 * business key: the message names it), `INVALID_STATE` (cancel, retry or resolve not allowed now: the message is the
 * engine's reason), `NOT_WAITING` (no step waits for this signal now, nor will).
 */
export class SagaConflictError extends SagaApiError {
  override readonly name: string = 'SagaConflictError';
}

/**
 * The error for an API answer, of the subclass its status and code call for. Transports other than HTTP (the Nest
 * package's in-process one) use it so that callers see the same errors whichever transport they run on.
 */
export function createSagaApiError(
  status: number,
  code: SagaApiErrorCode | (string & {}),
  message: string,
  options?: { cause?: unknown },
): SagaApiError {
  if (status === 404 && code === 'SAGA_NOT_FOUND') return new SagaNotFoundError(status, code, message, options);
  if (status === 409) return new SagaConflictError(status, code, message, options);
  return new SagaApiError(status, code, message, options);
}

/**
 * `waitFor` ran out of time before the saga reached a status it waits for. Not an API error: the saga goes on.
 * `view` is the last state seen (null if no poll answered); `cause` the last poll's error, if the engine was
 * unavailable meanwhile.
 */
export class SagaWaitTimeoutError extends Error {
  override readonly name = 'SagaWaitTimeoutError' as const;
  readonly code = 'WAIT_TIMEOUT' as const;

  constructor(
    readonly sagaId: string,
    /** The statuses it waited for. */
    readonly statuses: readonly SagaStatus[],
    readonly timeoutMs: number,
    readonly view: SagaView<unknown, unknown> | null,
    options?: { cause?: unknown },
  ) {
    const lastStatus = view?.status ?? 'unknown';
    super(
      `saga ${sagaId} did not reach ${statuses.join(' or ')} within ${timeoutMs} ms (last status: ${lastStatus})`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
  }
}
