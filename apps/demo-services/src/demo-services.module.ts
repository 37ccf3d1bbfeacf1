import {
  type DynamicModule,
  Inject,
  type INestApplication,
  Module,
  type OnApplicationShutdown,
  type LogLevel,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { DemoLedgerController } from './demo-ledger.controller';
import { DemoLedger } from './demo-ledger';
import type { DemoServerTransport } from '@demo/sagas';
import { DeliveryReporter, type SignalTarget } from './delivery-reporter';
import { participantMessageController, TransportController } from './participant.controllers';
import { DemoParticipants } from './participants';

@Module({})
export class DemoServicesModule implements OnApplicationShutdown {
  constructor(
    @Inject(DemoLedger) private readonly ledger: DemoLedger,
    @Inject(DeliveryReporter) private readonly reporter: DeliveryReporter,
  ) {}

  static forRoot(participants: DemoParticipants, reporter: DeliveryReporter, patternPrefix: string): DynamicModule {
    return {
      module: DemoServicesModule,
      providers: [
        { provide: DemoParticipants, useValue: participants },
        { provide: DemoLedger, useValue: participants.ledger },
        { provide: DeliveryReporter, useValue: reporter },
      ],
      controllers: [participantMessageController(patternPrefix), TransportController, DemoLedgerController],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    this.reporter.close();
    await this.ledger.close();
  }
}

export interface DemoServicesOptions {
  databaseUrl: string;
  /** HTTP: the ground carrier and `GET /v1/demo/ledger`. 0 for an ephemeral port. */
  port: number;
  host: string;
  /** The message transport the five services listen on (demo-transport.ts). */
  transport: DemoServerTransport;
  /** SAGA_REDIS_PREFIX: the first part of every message pattern. */
  patternPrefix: string;
  flightMs: number;
  /** Where DeliveryCompleted is reported (read at report time). */
  signalTarget: () => SignalTarget | null;
  poolSize?: number;
  logger?: LogLevel[] | false;
}

export interface DemoServices {
  app: INestApplication;
  /** The HTTP side's URL, e.g. `http://127.0.0.1:3100`. */
  url: string;
  ledger: DemoLedger;
  close(): Promise<void>;
}

/**
 * The demo services (account, delivery, package, drone, notification over @nestjs/microservices; the ground
 * carrier and the ledger over HTTP) as one Nest application: `npm run start:demo` runs it as its own process,
 * `npm start` (all-in-one) and the tests next to the engine. Creates the `demo` schema first.
 */
export async function startDemoServices(options: DemoServicesOptions): Promise<DemoServices> {
  const ledger = new DemoLedger(options.databaseUrl, options.poolSize ?? 10);
  await ledger.init();
  const reporter = new DeliveryReporter(options.flightMs, options.signalTarget);
  const participants = new DemoParticipants(ledger, reporter);
  const app = await NestFactory.create(DemoServicesModule.forRoot(participants, reporter, options.patternPrefix), {
    logger: options.logger ?? ['error', 'warn', 'log'],
  });
  app.connectMicroservice<MicroserviceOptions>(options.transport, { inheritAppConfig: true });
  await app.startAllMicroservices();
  await app.listen(options.port, options.host);
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url, ledger, close: () => app.close() };
}
