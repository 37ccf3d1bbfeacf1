import { type DynamicModule, Module } from '@nestjs/common';
import { StepQueue } from './step-queue';
import { TRANSPORT_OPTIONS, type TransportOptions } from './transport-options';

@Module({})
export class TransportModule {
  static forRoot(options: TransportOptions): DynamicModule {
    return {
      module: TransportModule,
      global: true,
      providers: [{ provide: TRANSPORT_OPTIONS, useValue: options }, StepQueue],
      exports: [TRANSPORT_OPTIONS, StepQueue],
    };
  }
}
