import { type DynamicModule, Module } from '@nestjs/common';
import type { SagaDefinition } from '@app/engine';
import { RUNTIME_OPTIONS, type RuntimeOptions, SAGA_DEFINITIONS } from './runtime-tokens';
import { SagaRegistry } from './saga-registry';
import { SagaRuntime } from './saga-runtime';
import { SnapshotCache } from './snapshot-cache';
import { StepExecutor } from './step-executor';
import { StepWorker } from './step-worker';

export interface RuntimeModuleOptions extends RuntimeOptions {
  sagas: readonly SagaDefinition[];
  /** Run the agent (step worker) in this process. */
  agent: boolean;
}

/** The scheduler (always) and the agent (when asked). Needs StoreModule and TransportModule. */
@Module({})
export class RuntimeModule {
  static forRoot(options: RuntimeModuleOptions): DynamicModule {
    const { sagas, agent, ...runtimeOptions } = options;
    return {
      module: RuntimeModule,
      global: true,
      providers: [
        { provide: SAGA_DEFINITIONS, useValue: sagas },
        { provide: RUNTIME_OPTIONS, useValue: runtimeOptions },
        {
          provide: SagaRegistry,
          useFactory: (defs: SagaDefinition[]) => new SagaRegistry(defs),
          inject: [SAGA_DEFINITIONS],
        },
        { provide: SnapshotCache, useValue: new SnapshotCache() },
        SagaRuntime,
        StepExecutor,
        ...(agent ? [StepWorker] : []),
      ],
      exports: [SagaRegistry, SagaRuntime, SnapshotCache, StepExecutor, RUNTIME_OPTIONS],
    };
  }
}
