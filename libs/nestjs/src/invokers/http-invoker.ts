import { NonRetryableError, RetryableError } from '@saga-engine/sdk';
import { abortedError, participantCode, retryAfterMs } from './invoke-errors';
import { activeTraceparent } from './trace-context';
import type { ParticipantPolicies, ParticipantPolicy, ParticipantPolicyOptions } from './participant-policies';

export interface HttpInvokerOptions {
  /** The participant's name: one circuit breaker per name and process. */
  participant: string;
  /** e.g. `http://127.0.0.1:3100/v1/transport`. Paths of calls are appended to it. */
  baseUrl: string;
  /** The process's breakers: pass the same registry to every invoker. */
  policies: ParticipantPolicies;
  /**
   * This participant's breaker, per-process concurrency limit and cluster-wide `limits` (first invoker of the
   * participant wins; `SAGA_PARTICIPANT_LIMITS` overrides the `limits`).
   */
  policy?: ParticipantPolicyOptions;
  /** Sent with every request (e.g. an API key). */
  headers?: Record<string, string>;
}

export interface HttpCall {
  /** @defaultValue 'POST' */
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Appended to `baseUrl`, e.g. `/bookings`. */
  path: string;
  /** Sent as JSON. */
  body?: unknown;
  /** `ctx.key` or `ctx.undoKey`: sent as the `Idempotency-Key` header, the same on every attempt. */
  idempotencyKey: string;
  /** `ctx.signal`: aborts the request when the step's attempt times out. */
  signal?: AbortSignal;
  /** Sent as the W3C `traceparent` header (`ctx.traceparent`); by default the active span's, when there is one. */
  traceparent?: string;
}

export interface HttpInvoker {
  readonly participant: string;
  /** The response's JSON body (undefined when it has none). Throws the SDK's error words; see `http`. */
  call<T = unknown>(call: HttpCall): Promise<T>;
}

/**
 * Calls a participant over HTTP with `fetch`, under its circuit breaker.
 *
 * | Answer                                  | Thrown                                                   | Counts for the breaker |
 * | --------------------------------------- | -------------------------------------------------------- | ---------------------- |
 * | 2xx                                     | nothing: the JSON body is returned                       | success                |
 * | 408                                     | `RetryableError` `HTTP_408`                              | yes                    |
 * | 429                                     | `RetryableError` `RATE_LIMITED`, `Retry-After` honoured  | no                     |
 * | other 4xx                               | `NonRetryableError`, the body's `code` or `HTTP_<status>`| no                     |
 * | 5xx                                     | `RetryableError` `HTTP_<status>`, `Retry-After` honoured | yes                    |
 * | no answer: refused, reset, DNS          | `RetryableError`, the socket's code (`ECONNREFUSED`)     | yes                    |
 * | the step's signal aborted (its timeout) | `RetryableError` `TIMEOUT`                               | yes                    |
 * | the circuit is open                     | `RetryableError` `CIRCUIT_OPEN`, nothing sent            | -                      |
 * | a cluster-wide limit holds it back      | `PARTICIPANT_THROTTLED`, nothing sent; the agent delays  | no                     |
 * |                                         | the attempt's job (not an attempt, no retry used)        |                        |
 */
export function http(options: HttpInvokerOptions): HttpInvoker {
  const { participant, headers = {} } = options;
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const policy: ParticipantPolicy = options.policies.for(participant, options.policy);
  return {
    participant,
    call: <T>(call: HttpCall) =>
      policy.execute(
        async (signal) => {
          const method = call.method ?? 'POST';
          const traceparent = call.traceparent ?? activeTraceparent();
          let response: Response;
          try {
            response = await fetch(`${baseUrl}${call.path}`, {
              method,
              signal,
              headers: {
                accept: 'application/json',
                ...(call.body === undefined ? {} : { 'content-type': 'application/json' }),
                ...headers,
                'idempotency-key': call.idempotencyKey,
                ...(traceparent ? { traceparent } : {}),
              },
              body: call.body === undefined ? undefined : JSON.stringify(call.body),
            });
          } catch (error) {
            if (signal.aborted) throw abortedError(participant, signal, error);
            throw connectionError(participant, error);
          }
          const text = await response.text().catch((error: unknown) => {
            throw signal.aborted ? abortedError(participant, signal, error) : connectionError(participant, error);
          });
          const body = parseJson(text);
          if (response.ok) return body as T;
          throw classify(participant, method, call.path, response, body);
        },
        call.signal,
        call.idempotencyKey,
      ),
  };
}

function classify(participant: string, method: string, path: string, response: Response, body: unknown): Error {
  const { status } = response;
  const fields = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const detail = typeof fields.message === 'string' ? fields.message : response.statusText;
  const message = `participant "${participant}": ${method} ${path} answered ${status}${detail ? `: ${detail}` : ''}`;
  const retryAfter = retryAfterMs(response.headers.get('retry-after'));
  if (status === 429) return new RetryableError(message, { code: 'RATE_LIMITED', retryAfter });
  if (status === 408 || status >= 500) {
    return new RetryableError(message, { code: participantCode(fields.code, `HTTP_${status}`), retryAfter });
  }
  return new NonRetryableError(message, { code: participantCode(fields.code, `HTTP_${status}`) });
}

/** fetch rejects with `TypeError: fetch failed`; the socket's reason is its `cause`. */
function connectionError(participant: string, error: unknown): RetryableError {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  const code = participantCode(cause?.code, 'CONNECTION_FAILED');
  const why = typeof cause?.message === 'string' ? cause.message : String(error);
  return new RetryableError(`participant "${participant}" did not answer: ${why}`, { code, cause: error });
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
