import { SagaStatus, StepStatus } from './status';
import type { SagaSpec, SagaState, StepState } from './types';

/** The state of a new instance, before its `SagaStarted` event: RUNNING, every step PENDING, no history. */
export function initialState(def: Pick<SagaSpec, 'steps'>, input: unknown): SagaState {
  const steps: Record<string, StepState> = {};
  for (const step of def.steps) {
    steps[step.name] = {
      status: StepStatus.PENDING,
      attempt: 0,
      attemptBase: 0,
      output: null,
      error: null,
      outcomeUnknown: false,
      compensation: null,
    };
  }
  return {
    status: SagaStatus.RUNNING,
    input,
    output: null,
    error: null,
    cancelRequested: false,
    eventCount: 0,
    steps,
    pendingSignals: [],
  };
}
