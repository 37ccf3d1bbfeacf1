import { type DynamicModule, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { type ClientOptions, type ClientProxy, ClientProxyFactory } from '@nestjs/microservices';
import type { SagaDefinition } from '@saga-engine/core';
import type { EngineConfig } from '../../../libs/nestjs/src/config/engine-config';
import { allSagas, type DroneDeliveryParticipants } from '@demo/sagas';
import { ParticipantPolicies } from '../../../libs/nestjs/src/invokers/participant-policies';
import { demoClientOptions } from './demo-transport';
import { remoteParticipants } from './remote-participants';

const DEMO_CLIENT = Symbol('DEMO_CLIENT');
const ON_SHUTDOWN = Symbol('ON_SHUTDOWN');

/** Closes the engine's client of the demo services (and what else was pushed to `onShutdown`) with the app. */
@Module({})
export class DemoClientModule implements OnApplicationShutdown {
  constructor(
    @Inject(DEMO_CLIENT) private readonly client: ClientProxy,
    @Inject(ON_SHUTDOWN) private readonly onShutdown: (() => Promise<void>)[],
  ) {}

  static forRoot(client: ClientProxy, onShutdown: (() => Promise<void>)[]): DynamicModule {
    return {
      module: DemoClientModule,
      providers: [
        { provide: DEMO_CLIENT, useValue: client },
        { provide: ON_SHUTDOWN, useValue: onShutdown },
      ],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    for (const fn of this.onShutdown) await fn().catch(() => undefined);
    await this.client.close();
  }
}

/** The breakers of a process's invokers, from PARTICIPANT_FAILURES_TO_OPEN and PARTICIPANT_HALF_OPEN_MS. */
export function participantPolicies(
  config: Pick<EngineConfig, 'PARTICIPANT_FAILURES_TO_OPEN' | 'PARTICIPANT_HALF_OPEN_MS'>,
): ParticipantPolicies {
  return new ParticipantPolicies({
    consecutiveFailures: config.PARTICIPANT_FAILURES_TO_OPEN,
    halfOpenAfterMs: config.PARTICIPANT_HALF_OPEN_MS,
  });
}

/**
 * The sagas as an orchestrator or agent process runs them, their participants reached over the network: a Nest
 * ClientProxy on the demo services' transport (REDIS_URL, else TCP to DEMO_URL's host on DEMO_TCP_PORT) and DEMO_URL
 * for the HTTP carrier. `module` closes the client with the application.
 */
export function demoSagas(
  config: EngineConfig,
  policies: ParticipantPolicies,
  overrides: { transport?: ClientOptions; demoUrl?: string } = {},
): {
  sagas: SagaDefinition[];
  client: ClientProxy;
  droneDelivery: DroneDeliveryParticipants;
  module: DynamicModule;
  onShutdown: (() => Promise<void>)[];
} {
  const client = ClientProxyFactory.create(overrides.transport ?? demoClientOptions(config));
  const droneDelivery = remoteParticipants({
    client,
    patternPrefix: config.SAGA_REDIS_PREFIX,
    demoUrl: (overrides.demoUrl ?? config.DEMO_URL).replace(/\/+$/, ''),
    policies,
  });
  const onShutdown: (() => Promise<void>)[] = [];
  return {
    sagas: allSagas({ droneDelivery }),
    client,
    droneDelivery,
    module: DemoClientModule.forRoot(client, onShutdown),
    onShutdown,
  };
}
