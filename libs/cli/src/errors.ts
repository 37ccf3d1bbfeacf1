import { ExitCode } from './exit-codes';

/**
 * The command line is wrong: exit 2, nothing sent. The message names the flag or argument (`--input must be a JSON
 * object: ...`) and never quotes a value that may be secret (the API key, an input).
 */
export class UsageError extends Error {
  override readonly name = 'UsageError' as const;
  readonly code = 'USAGE' as const;
}

/** Ctrl-C during a command that waits: exit 130. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError' as const;
  readonly code = 'INTERRUPTED' as const;
}

/** The API's error, read by shape (`SagaApiError` from any copy of the client package). */
export interface ApiErrorLike {
  name: string;
  status: number;
  code: string;
  message: string;
  cause?: unknown;
}

export function isApiError(err: unknown): err is ApiErrorLike {
  const e = err as Partial<ApiErrorLike> | null;
  return err instanceof Error && typeof e?.status === 'number' && typeof e.code === 'string';
}

/** No answer, a 5xx, or an answer that is not the API's (a redirect, a proxy's page): the engine's side. */
export function isEngineUnavailable(err: ApiErrorLike): boolean {
  return err.status === 0 || err.status >= 500 || err.status < 400 || err.code === 'UNEXPECTED_RESPONSE';
}

/** The exit code for an error that ended a command. */
export function exitCodeOf(err: unknown): ExitCode {
  if (err instanceof UsageError) return ExitCode.USAGE;
  if (err instanceof InterruptedError) return ExitCode.INTERRUPTED;
  if (isApiError(err)) return isEngineUnavailable(err) ? ExitCode.UNAVAILABLE : ExitCode.REFUSED;
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'SagaWaitTimeoutError') {
    const cause = (err as { cause?: unknown }).cause;
    return isApiError(cause) && isEngineUnavailable(cause) ? ExitCode.UNAVAILABLE : ExitCode.NOT_COMPLETED;
  }
  return ExitCode.REFUSED;
}
