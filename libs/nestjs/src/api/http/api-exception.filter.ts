import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger, Optional } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import type { Response } from 'express';
import { DependencyMonitor } from '../../observability/dependency-monitor';
import { DEPENDENCY_LABEL, unavailability } from '../../observability/unavailable';
import { VersionUnavailableError } from '../../scheduler/saga-registry';
import { ApiError, type ApiErrorCode, UNAVAILABLE_RETRY_AFTER_S } from './api-error';

const CODE_BY_STATUS: Record<number, ApiErrorCode> = {
  400: 'INPUT_INVALID',
  401: 'AUTH_REQUIRED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * Every error leaves as `{ statusCode, error, message, code }`: Nest's shape plus a stable code. No stack traces,
 * and 5xx never carry internal messages.
 *
 * PostgreSQL or Redis down, hung or out of connections is not a bug: 503 `UNAVAILABLE` with `Retry-After`, and no
 * line per request (the DependencyMonitor logs the outage once). Anything else unexpected is a 500 `INTERNAL`,
 * logged with its stack.
 */
@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  constructor(@Optional() private readonly monitor?: DependencyMonitor) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const { statusCode, code, message } = this.describe(exception);
    if (code === 'UNAVAILABLE') {
      if (!response.headersSent) response.setHeader('Retry-After', String(UNAVAILABLE_RETRY_AFTER_S));
    } else if (statusCode >= 500 && code !== 'AUTH_UNAVAILABLE') {
      // An unavailable identity provider is not a bug either: oidc.ts logs it, at most every 10 s.
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    }
    if (response.headersSent) return;
    response.status(statusCode).json({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, code });
  }

  private describe(exception: unknown): { statusCode: number; code: ApiErrorCode; message: string } {
    const unavailable = exception instanceof HttpException ? null : unavailability(exception);
    if (unavailable) {
      // Said once per outage by the monitor (without one, here: a bare filter, as in setupSagaApp's global one).
      if (!this.monitor) this.logger.warn(`${DEPENDENCY_LABEL[unavailable.dependency]}: ${unavailable.reason}`);
      else if ((exception as Error).name !== 'UnavailableError') {
        this.monitor.failed(unavailable.dependency, exception, 'request');
      }
      return {
        statusCode: 503,
        code: 'UNAVAILABLE',
        message: `${DEPENDENCY_LABEL[unavailable.dependency]} is unavailable: retry later`,
      };
    }
    if (exception instanceof ApiError) {
      return { statusCode: exception.getStatus(), code: exception.code, message: exception.message };
    }
    // A saga on a version nobody runs: the operator can act (deploy the code, cancel), so a 409, not a 500.
    if (exception instanceof VersionUnavailableError) {
      return { statusCode: 409, code: exception.code, message: exception.message };
    }
    if (exception instanceof HttpException) {
      const statusCode = exception.getStatus();
      // Errors of the body parser or of URL decoding, wrapped by Nest: say what is wrong, never echo the input.
      const cause = exception.cause as { type?: string } | undefined;
      if (cause instanceof SyntaxError || (typeof cause?.type === 'string' && cause.type.startsWith('entity.'))) {
        if (statusCode === 413)
          return { statusCode, code: 'BODY_TOO_LARGE', message: 'request body is larger than the limit' };
        if (statusCode === 415)
          return { statusCode, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported content encoding or charset' };
        return { statusCode: 400, code: 'BODY_INVALID', message: 'request body is not valid JSON' };
      }
      if (cause instanceof URIError)
        return { statusCode: 400, code: 'INPUT_INVALID', message: 'the URL is not validly encoded' };
      const body = exception.getResponse();
      const raw = typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : body;
      const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : exception.message;
      return {
        statusCode,
        code: CODE_BY_STATUS[statusCode] ?? (statusCode >= 500 ? 'INTERNAL' : 'INPUT_INVALID'),
        message,
      };
    }
    return { statusCode: 500, code: 'INTERNAL', message: 'internal error' };
  }
}
