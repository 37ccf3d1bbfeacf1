import { type DynamicModule, Module } from '@nestjs/common';
import type { SagaDefinition } from '@saga-engine/core';
import { SagaStore } from '../store/saga-store';
import { ParticipantPolicies } from '../invokers/participant-policies';
import { StepQueue } from '../queue/step-queue';
import { CircuitRecorder } from '../agent/circuit-recorder';
import { AlertService } from '../observability/alert.service';
import { EngineMetrics } from '../observability/engine-metrics';
import type { InputCipher } from '../security/input-cipher';
import {
  INPUT_CIPHER,
  PARTICIPANT_POLICIES,
  RUNTIME_OPTIONS,
  type RuntimeOptions,
  SAGA_DEFINITIONS,
  SUPERVISOR_OPTIONS,
  type SupervisorOptions,
} from './tokens';
import { SagaRegistry } from '../scheduler/saga-registry';
import { SagaRuntime } from '../scheduler/saga-scheduler';
import { SnapshotCache } from '../scheduler/snapshot-cache';
import { StepExecutor } from '../agent/step-executor';
import { StepWorker } from '../agent/step-worker';
import { Supervisor } from '../supervisor/supervisor';

export interface RuntimeModuleOptions extends RuntimeOptions {
  sagas: readonly SagaDefinition[];
  /** Run the agent (step worker) in this process. */
  agent: boolean;
  /** Run the supervisor in this process (the orchestrator's role; any number may run). */
  supervisor?: SupervisorOptions | null;
  /** Seals and opens sensitive input fields; required when a saga declares some (see engineModules). */
  cipher?: InputCipher | null;
  /**
   * The circuit breakers the sagas' invokers use (one registry per process): their states feed the metrics and,
   * in an agent, `participant_circuit` (GET /v1/participants). A fresh, unused one when absent.
   */
  participants?: ParticipantPolicies;
}

/** The scheduler (always), the agent and the supervisor (when asked). Needs StoreModule and TransportModule. */
@Module({})
export class RuntimeModule {
  static forRoot(options: RuntimeModuleOptions): DynamicModule {
    const {
      sagas,
      agent,
      supervisor,
      cipher = null,
      participants = new ParticipantPolicies(),
      ...runtimeOptions
    } = options;
    const sensitive = sagas.filter((s) => s.sensitive.length > 0).map((s) => s.name);
    if (sensitive.length > 0 && !cipher) {
      throw new Error(`saga types ${sensitive.join(', ')} declare sensitive input fields but no cipher is configured`);
    }
    return {
      module: RuntimeModule,
      global: true,
      providers: [
        { provide: SAGA_DEFINITIONS, useValue: sagas },
        { provide: RUNTIME_OPTIONS, useValue: runtimeOptions },
        { provide: INPUT_CIPHER, useValue: cipher },
        { provide: PARTICIPANT_POLICIES, useValue: participants },
        {
          provide: SagaRegistry,
          useFactory: (defs: SagaDefinition[]) => new SagaRegistry(defs),
          inject: [SAGA_DEFINITIONS],
        },
        { provide: SnapshotCache, useValue: new SnapshotCache() },
        {
          provide: EngineMetrics,
          useFactory: (store: SagaStore, queue: StepQueue) => {
            const metrics = new EngineMetrics();
            metrics.setSources({
              failedSagas: async () => {
                const rows: { n: number }[] = await store.dataSource.query(
                  `SELECT count(*)::int AS n FROM saga_instance WHERE status = 'FAILED'`,
                );
                return rows[0].n;
              },
              queue: () => queue.stats(),
              circuits: () => participants.states(),
            });
            return metrics;
          },
          inject: [SagaStore, StepQueue],
        },
        AlertService,
        SagaRuntime,
        StepExecutor,
        ...(agent ? [StepWorker, CircuitRecorder] : []),
        ...(supervisor ? [{ provide: SUPERVISOR_OPTIONS, useValue: supervisor }, Supervisor] : []),
      ],
      exports: [
        EngineMetrics,
        AlertService,
        SagaRegistry,
        SagaRuntime,
        SnapshotCache,
        StepExecutor,
        RUNTIME_OPTIONS,
        INPUT_CIPHER,
        PARTICIPANT_POLICIES,
        ...(supervisor ? [Supervisor] : []),
      ],
    };
  }
}
