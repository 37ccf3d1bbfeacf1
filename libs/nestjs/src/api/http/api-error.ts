import { HttpException } from '@nestjs/common';

/** Stable, documented error codes of the REST API (API.md). Clients branch on these, never on messages. */
export type ApiErrorCode =
  | 'AUTH_REQUIRED'
  | 'AUTH_UNAVAILABLE'
  | 'FORBIDDEN'
  | 'SAGA_TYPE_UNKNOWN'
  | 'INPUT_INVALID'
  | 'IDEMPOTENCY_CONFLICT'
  | 'BUSINESS_KEY_CONFLICT'
  | 'SAGA_NOT_FOUND'
  | 'SCHEDULE_NOT_FOUND'
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
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** `Retry-After` of a 503 `UNAVAILABLE`, in seconds: about how often the engine checks whether it is back. */
export const UNAVAILABLE_RETRY_AFTER_S = 2;

export class ApiError extends HttpException {
  constructor(
    status: number,
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message, status);
  }
}
