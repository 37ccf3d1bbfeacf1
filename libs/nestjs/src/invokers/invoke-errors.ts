import { RetryableError } from '@saga-engine/sdk';

const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

/** A participant's own error code when it gives a sensible one (`ACCOUNT_CLOSED`), else `fallback`. */
export function participantCode(code: unknown, fallback: string): string {
  return typeof code === 'string' && CODE_PATTERN.test(code) ? code : fallback;
}

/**
 * The step's signal aborted (its timeout, or the agent shutting down): a transient `TIMEOUT`, whatever the
 * client library threw.
 */
export function abortedError(participant: string, signal: AbortSignal, cause: unknown): RetryableError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  return new RetryableError(`participant "${participant}": call aborted (${reason})`, { code: 'TIMEOUT', cause });
}

/**
 * `Retry-After` as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or
 * unreadable. `now` is the caller's clock, only for the date form.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
