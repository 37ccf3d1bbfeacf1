import { type DynamicModule, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { type ClientProxy, ClientProxyFactory } from '@nestjs/microservices';
import { ParticipantPolicies, http, microservice } from '@saga-engine/nestjs';
import { type DemoClientTransport } from './demo-transport';
import {
  type Call,
  DEMO_MESSAGE_OPERATIONS,
  type DemoRequest,
  DroneDeliveryParticipants,
  demoPattern,
} from './drone-delivery.participants';

export interface RemoteParticipantsOptions {
  /** A Nest ClientProxy on the demo services' transport (Redis or TCP, see demo-transport.ts). */
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

const DEMO_CLIENT = Symbol('DEMO_CLIENT');

export interface DroneDeliveryClientOptions {
  /** How to reach the five message services (see demoClientTransport). */
  transport: DemoClientTransport;
  /** The demo services' HTTP side (DEMO_URL), for the ground carrier. */
  demoUrl: string;
  /** The first part of every message pattern (SAGA_REDIS_PREFIX). */
  patternPrefix: string;
}

/**
 * Provides `DroneDeliveryParticipants` (the saga's `deps.p`) to an app that runs the saga's agent: the demo
 * services reached through the engine's invokers, under the circuit breakers of the app's `SagaModule`
 * (`ParticipantPolicies`, so the engine reports their states). Closes its client with the app.
 */
@Module({})
export class DroneDeliveryClientModule implements OnApplicationShutdown {
  constructor(@Inject(DEMO_CLIENT) private readonly client: ClientProxy) {}

  static forRoot(options: DroneDeliveryClientOptions): DynamicModule {
    return {
      module: DroneDeliveryClientModule,
      providers: [
        { provide: DEMO_CLIENT, useFactory: () => ClientProxyFactory.create(options.transport) },
        {
          provide: DroneDeliveryParticipants,
          useFactory: (client: ClientProxy, policies: ParticipantPolicies) =>
            remoteParticipants({
              client,
              policies,
              patternPrefix: options.patternPrefix,
              demoUrl: options.demoUrl.replace(/\/+$/, ''),
            }),
          inject: [DEMO_CLIENT, ParticipantPolicies],
        },
      ],
      exports: [DroneDeliveryParticipants],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}
