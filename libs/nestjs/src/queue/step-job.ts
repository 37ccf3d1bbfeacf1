import type { StepPhase } from '@saga-engine/core';

/** Queue of step attempts. Persisted name (Redis keys): renaming strands the jobs in flight. */
export const STEP_QUEUE = 'saga-steps';

/** A job carries ids only; the agent reads input and earlier outputs from PostgreSQL. */
export interface StepJobData {
  sagaId: string;
  step: string;
  phase: StepPhase;
  attempt: number;
  /** W3C traceparent (trace and span ids) of the span the attempt's span goes under; absent when tracing is off. */
  traceparent?: string;
}

/**
 * Deterministic job id `<sagaId>.<step>.<phase>.<attempt>` (BullMQ forbids `:`), so re-enqueueing the same attempt
 * after a crash or a lost job is a no-op while the first copy exists.
 */
export function stepJobId(job: StepJobData): string {
  return `${job.sagaId}.${job.step}.${job.phase}.${job.attempt}`;
}
