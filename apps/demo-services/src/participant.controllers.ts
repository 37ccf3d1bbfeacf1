import { Body, Controller, Headers, HttpCode, HttpException, Inject, Post, type Type } from '@nestjs/common';
import { MessagePattern, RpcException } from '@nestjs/microservices';
import { NonRetryableError, RetryableError } from '@saga-engine/sdk';
import { DEMO_MESSAGE_OPERATIONS, type DemoRequest, demoPattern } from '@demo/sagas';
import type { MicroserviceRequest } from '@saga-engine/nestjs';
import { DemoParticipants, type ParticipantCall } from './participants';

/** The definite "no" and the transient failure of a participant as a message reply (see the microservice invoker). */
function rpcError(error: unknown): RpcException {
  if (error instanceof NonRetryableError) {
    return new RpcException({ retryable: false, code: error.code, message: error.message });
  }
  if (error instanceof RetryableError) {
    return new RpcException({ retryable: true, code: error.code, message: error.message });
  }
  return new RpcException({ retryable: true, code: 'PARTICIPANT_ERROR', message: (error as Error).message });
}

/** A malformed request: a definite "no" (retrying sends the same thing again). */
function badRequest(message: string): NonRetryableError {
  return new NonRetryableError(message, { code: 'BAD_REQUEST' });
}

/** The demo's request, checked: what the saga's invokers send (remote-participants.ts). */
function participantCall(body: unknown, idempotencyKey: unknown, traceparent: unknown): ParticipantCall {
  if (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0 || idempotencyKey.length > 300) {
    throw badRequest('an idempotency key (1 to 300 characters) is required');
  }
  const request = (typeof body === 'object' && body !== null ? body : {}) as Partial<DemoRequest>;
  if (typeof request.sagaId !== 'string' || !Number.isSafeInteger(request.attempt)) {
    throw badRequest('sagaId (a string) and attempt (an integer) are required');
  }
  if (typeof request.args !== 'object' || request.args === null) throw badRequest('args (an object) is required');
  return {
    sagaId: request.sagaId,
    attempt: request.attempt!,
    fault: request.fault,
    report: request.report,
    args: request.args,
    idempotencyKey,
    ...(typeof traceparent === 'string' ? { traceparent } : {}),
  };
}

/**
 * The account, delivery, package, drone and notification services as @nestjs/microservices handlers: one method
 * per operation, answering the message pattern `<prefix>.<service>.<operation>` (the prefix is known at start,
 * hence a class built here). Replies are the operation's result; failures `RpcException({ retryable, code })`.
 */
export function participantMessageController(prefix: string): Type<unknown> {
  @Controller()
  class ParticipantMessagesController {
    constructor(@Inject(DemoParticipants) readonly participants: DemoParticipants) {}
  }
  const proto = ParticipantMessagesController.prototype as unknown as Record<string, unknown>;
  for (const [service, operations] of Object.entries(DEMO_MESSAGE_OPERATIONS)) {
    for (const operation of operations) {
      const method = `${service}_${operation}`;
      proto[method] = async function (this: ParticipantMessagesController, message: MicroserviceRequest<unknown>) {
        try {
          const call = participantCall(message?.payload, message?.idempotencyKey, message?.metadata?.traceparent);
          // undefined does not travel as a reply: an undo answers null.
          return (await this.participants.run(service, operation, call)) ?? null;
        } catch (error) {
          throw rpcError(error);
        }
      };
      const descriptor = Object.getOwnPropertyDescriptor(proto, method)!;
      MessagePattern(demoPattern(prefix, service, operation))(proto, method, descriptor);
    }
  }
  return ParticipantMessagesController;
}

/**
 * The third-party ground carrier, over plain HTTP as a partner's API would be: `POST /v1/transport/bookings` and
 * `POST /v1/transport/bookings/cancel`, the `Idempotency-Key` and `traceparent` headers. A definite "no" is a 422
 * with `{ code, message }`, a transient failure a 503.
 */
@Controller('v1/transport')
export class TransportController {
  constructor(@Inject(DemoParticipants) private readonly participants: DemoParticipants) {}

  @Post('bookings')
  @HttpCode(201)
  book(@Body() body: unknown, @Headers('idempotency-key') key: unknown, @Headers('traceparent') tp: unknown) {
    return this.answer('book', body, key, tp);
  }

  @Post('bookings/cancel')
  @HttpCode(200)
  async cancel(@Body() body: unknown, @Headers('idempotency-key') key: unknown, @Headers('traceparent') tp: unknown) {
    await this.answer('cancel', body, key, tp);
    return { cancelled: true };
  }

  private async answer(operation: string, body: unknown, key: unknown, traceparent: unknown): Promise<unknown> {
    try {
      return await this.participants.run('transport', operation, participantCall(body, key, traceparent));
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      if (error instanceof NonRetryableError)
        throw new HttpException({ code, message }, code === 'BAD_REQUEST' ? 400 : 422);
      throw new HttpException({ code: code ?? 'PARTICIPANT_ERROR', message }, 503);
    }
  }
}
