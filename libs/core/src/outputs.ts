import { StepStatus } from './status';
import type { SagaSpec, SagaState } from './types';

/**
 * Outputs of the SUCCEEDED steps, keyed by each step's camelCase `key`, in declaration order: `ctx.steps` of a
 * step's `run`, the `steps` of a `when` condition, and a COMPLETED saga's output. A step that was skipped, failed
 * or has been compensated has no entry.
 */
export function stepOutputs(def: Pick<SagaSpec, 'steps'>, state: SagaState): Record<string, unknown> {
  const outputs: Record<string, unknown> = {};
  for (const step of def.steps) {
    const s = Object.hasOwn(state.steps, step.name) ? state.steps[step.name] : undefined;
    if (s?.status === StepStatus.SUCCEEDED) outputs[step.key] = s.output;
  }
  return outputs;
}
