import { type DynamicModule, Inject, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DemoLedgerController } from './demo-ledger.controller';
import { DemoLedger } from './demo-ledger';

/**
 * The demo participants' side of a process: creates their schema at start, closes their pool at the end, and
 * (with `http`) serves their ledger. Registered by the orchestrator (with http) and the agent (without) until
 * the participants move to their own process.
 */
@Module({})
export class DemoServicesModule implements OnModuleInit, OnApplicationShutdown {
  constructor(@Inject(DemoLedger) private readonly ledger: DemoLedger) {}

  static forRoot(ledger: DemoLedger, { http }: { http: boolean }): DynamicModule {
    return {
      module: DemoServicesModule,
      providers: [{ provide: DemoLedger, useValue: ledger }],
      exports: [DemoLedger],
      controllers: http ? [DemoLedgerController] : [],
    };
  }

  /** After the engine's own store started (it creates the database when missing). */
  async onModuleInit(): Promise<void> {
    await this.ledger.init();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.ledger.close();
  }
}
