import type { ClientProxy } from '@nestjs/microservices';
import { type Observable, firstValueFrom, fromEvent, takeUntil } from 'rxjs';
import { NonRetryableError, RetryableError } from '@saga-engine/sdk';
import { abortedError, participantCode } from './invoke-errors';
import { activeTraceparent } from './trace-context';
import type { ParticipantPolicies, ParticipantPolicy, ParticipantPolicyOptions } from './participant-policies';

export interface MicroserviceInvokerOptions {
  /** The participant's name: one circuit breaker per name and process. */
  participant: string;
  /** The process's breakers: pass the same registry to every invoker. */
  policies: ParticipantPolicies;
  /** This participant's breaker and concurrency limit (first invoker of the participant wins). */
  policy?: ParticipantPolicyOptions;
}

/** What the participant's `@MessagePattern` handler receives. */
export interface MicroserviceRequest<P> {
  /** `ctx.key` or `ctx.undoKey`: the participant applies the operation at most once per key. */
  idempotencyKey: string;
  payload: P;
  /** The caller's trace context (W3C `traceparent`), for the participant's span to join the step's trace. */
  metadata?: { traceparent?: string };
}

export interface MicroserviceInvoker<P, R> {
  readonly participant: string;
  /** Sends `{ idempotencyKey, payload }` and resolves with the first reply. Throws the SDK's error words. */
  call(payload: P, options: MicroserviceCallOptions): Promise<R>;
}

export interface MicroserviceCallOptions {
  /** `ctx.key` or `ctx.undoKey`. */
  idempotencyKey: string;
  /** `ctx.signal`: the reply is awaited until it aborts (the step's timeout). */
  signal?: AbortSignal;
  /** Sent in the message's `metadata` (`ctx.traceparent`); by default the active span's, when there is one. */
  traceparent?: string;
}

/**
 * Calls a participant's `@MessagePattern(pattern)` through any Nest `ClientProxy` (Redis, NATS, RabbitMQ, TCP...),
 * under its circuit breaker. The reply is awaited until the step's signal aborts; there is no other timeout.
 *
 * | Reply                                                    | Thrown                                   | Breaker |
 * | -------------------------------------------------------- | ---------------------------------------- | ------- |
 * | a value                                                  | nothing: the value is returned           | success |
 * | an error with `retryable: false` (`RpcException({...})`) | `NonRetryableError`, its `code`          | no      |
 * | an error with `retryable: true`                          | `RetryableError`, its `code`/`retryAfter`| yes     |
 * | any other error (a handler bug, a connection error)      | `RetryableError`, its code or `RPC_ERROR`| yes     |
 * | no reply before the step's signal aborts                 | `RetryableError` `TIMEOUT`               | yes     |
 * | the circuit is open                                      | `RetryableError` `CIRCUIT_OPEN`          | -       |
 *
 * A participant says "no for good" by throwing `new RpcException({ retryable: false, code, message })`.
 */
export function microservice<P = unknown, R = unknown>(
  client: ClientProxy,
  pattern: string | Record<string, unknown>,
  options: MicroserviceInvokerOptions,
): MicroserviceInvoker<P, R> {
  const { participant } = options;
  const policy: ParticipantPolicy = options.policies.for(participant, options.policy);
  const label = typeof pattern === 'string' ? pattern : JSON.stringify(pattern);
  return {
    participant,
    call: (payload, { idempotencyKey, signal, traceparent = activeTraceparent() }) =>
      policy.execute(
        async (inner) => {
          const request: MicroserviceRequest<P> = {
            idempotencyKey,
            payload,
            ...(traceparent ? { metadata: { traceparent } } : {}),
          };
          try {
            return await firstReply(client.send<R, MicroserviceRequest<P>>(pattern, request), inner);
          } catch (error) {
            if (inner.aborted) throw abortedError(participant, inner, error);
            throw classify(participant, label, error);
          }
        },
        signal,
        idempotencyKey,
      ),
  };
}

/**
 * The first value of `source`, or its error. When `signal` aborts, the subscription ends (for Nest's clients
 * that drops the pending reply) and the promise rejects; the caller sees `signal.aborted` and says TIMEOUT.
 */
async function firstReply<R>(source: Observable<R>, signal: AbortSignal): Promise<R> {
  signal.throwIfAborted();
  return firstValueFrom(source.pipe(takeUntil(fromEvent(signal, 'abort'))));
}

function classify(participant: string, pattern: string, error: unknown): Error {
  const fields: Record<string, unknown> =
    typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : { message: String(error) };
  const detail = typeof fields.message === 'string' ? fields.message : JSON.stringify(error);
  const message = `participant "${participant}": ${pattern} failed: ${detail}`;
  if (fields.retryable === false) {
    return new NonRetryableError(message, { code: participantCode(fields.code, 'NON_RETRYABLE') });
  }
  const retryAfter = typeof fields.retryAfterMs === 'number' ? fields.retryAfterMs : undefined;
  return new RetryableError(message, { code: participantCode(fields.code, 'RPC_ERROR'), retryAfter, cause: error });
}
