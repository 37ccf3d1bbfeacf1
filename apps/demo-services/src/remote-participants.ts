import type { ClientProxy } from '@nestjs/microservices';
import { http } from '../../../libs/nestjs/src/invokers/http-invoker';
import { microservice } from '../../../libs/nestjs/src/invokers/microservice-invoker';
import { type ParticipantPolicies } from '../../../libs/nestjs/src/invokers/participant-policies';
import {
  type Call,
  DEMO_MESSAGE_OPERATIONS,
  type DemoRequest,
  type DroneDeliveryParticipants,
  demoPattern,
} from '@demo/sagas';

export interface RemoteParticipantsOptions {
  /** A Nest ClientProxy on the demo services' transport (Redis or TCP, see apps/demo-services/demo-transport.ts). */
  client: ClientProxy;
  /** The first part of every message pattern (SAGA_REDIS_PREFIX). */
  patternPrefix: string;
  /** The demo services' HTTP side (DEMO_URL): the ground carrier is at `<url>/v1/transport`. */
  demoUrl: string;
  /** The process's circuit breakers, one per participant. */
  policies: ParticipantPolicies;
}

/**
 * The drone-delivery participants as a saga step reaches them: the account, delivery, package, drone and
 * notification services through `microservice(client, pattern)`, the third-party ground carrier through `http()`.
 * Every call sends the step's idempotency key, its trace context and the demo's fault knobs, is abandoned when the
 * step's signal aborts (its timeout), and runs under its participant's circuit breaker.
 */
export function remoteParticipants(options: RemoteParticipantsOptions): DroneDeliveryParticipants {
  const { client, patternPrefix, policies } = options;
  const request = (c: Call<unknown>): DemoRequest<unknown> => ({
    sagaId: c.sagaId,
    attempt: c.attempt,
    ...(c.fault ? { fault: c.fault } : {}),
    ...(c.report ? { report: c.report } : {}),
    args: c.payload,
  });
  const message = <S extends keyof typeof DEMO_MESSAGE_OPERATIONS>(service: S, operation: string) => {
    const invoker = microservice<DemoRequest<unknown>, unknown>(
      client,
      demoPattern(patternPrefix, service, operation),
      {
        participant: service,
        policies,
      },
    );
    return (c: Call<any>): Promise<any> =>
      invoker.call(request(c), { idempotencyKey: c.idempotencyKey, signal: c.signal, traceparent: c.traceparent });
  };
  const carrier = http({ participant: 'transport', baseUrl: `${options.demoUrl}/v1/transport`, policies });
  const post =
    (path: string) =>
    (c: Call<any>): Promise<any> =>
      carrier.call({
        path,
        body: request(c),
        idempotencyKey: c.idempotencyKey,
        signal: c.signal,
        traceparent: c.traceparent,
      });
  const undo =
    (fn: (c: Call<unknown>) => Promise<unknown>) =>
    async (c: Call<unknown>): Promise<void> => {
      await fn(c);
    };
  return {
    account: {
      verify: message('account', 'verify'),
      charge: message('account', 'charge'),
      refund: undo(message('account', 'refund')),
    },
    delivery: { create: message('delivery', 'create'), cancel: undo(message('delivery', 'cancel')) },
    package: { register: message('package', 'register'), delete: undo(message('package', 'delete')) },
    drone: { schedule: message('drone', 'schedule'), release: undo(message('drone', 'release')) },
    transport: { book: post('/bookings'), cancel: undo(post('/bookings/cancel')) },
    notification: { notify: message('notification', 'notify') },
  };
}
