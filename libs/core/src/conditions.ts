import type { ErrorInfo, StepDefinition } from './types';

/** The error of a step whose `when` condition threw: a definite failure. */
export const CONDITION_ERROR = 'CONDITION_ERROR';

/**
 * A step's `when`, as the agent evaluates it before running the step: true or false, or the error to fail the
 * step with when the condition threw. No condition: true.
 */
export function evaluateCondition(
  step: Pick<StepDefinition, 'name' | 'when'>,
  ctx: { input: unknown; steps: Record<string, unknown> },
): boolean | ErrorInfo {
  if (step.when === null) return true;
  try {
    return Boolean(step.when(ctx));
  } catch (thrown) {
    const detail = thrown instanceof Error ? thrown.message : String(thrown);
    return {
      name: 'ConditionError',
      code: CONDITION_ERROR,
      message: `the condition of step "${step.name}" threw: ${detail}`,
      retryable: false,
    };
  }
}
