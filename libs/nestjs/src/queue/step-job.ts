import type { StepPhase } from '@saga-engine/core';

/**
 * The queue of a saga type's version: `saga-steps.<type>.v<version>`. Only processes that have that version's
 * code consume it (their agents open one worker per version they register), so a step job only ever reaches a
 * process that can run it; a version no agent runs waits in its queue until one starts. Persisted name (Redis
 * keys, PostgreSQL rows): renaming strands the jobs in flight.
 */
export function stepQueueName(type: string, version: number): string {
  return `saga-steps.${type}.v${version}`;
}

/** A job carries ids only; the agent reads input and earlier outputs from PostgreSQL. */
export interface StepJobData {
  sagaId: string;
  /** The saga's type and definition version: which queue the job is on. */
  type: string;
  version: number;
  step: string;
  phase: StepPhase;
  attempt: number;
  /** One item of a fan-out step (its index); absent for a step. */
  item?: number;
  /**
   * Set when a participant's cluster-wide limit held this attempt back and its job went back to the queue (see
   * StepExecutor.deferAttempt): the attempt may already be recorded as started, by this very job.
   */
  throttled?: boolean;
  /** W3C traceparent (trace and span ids) of the span the attempt's span goes under; absent when tracing is off. */
  traceparent?: string;
  /**
   * The attempt may kill its agent: the step did before, or its process died while it ran in-process. The agent
   * that takes it runs it alone (see AttemptIsolation), and records it as started first.
   */
  isolate?: true;
}

/**
 * Deterministic job id `<sagaId>.<step>.<phase>.<attempt>` (an item's: `<sagaId>.<step>.<item>.<phase>.<attempt>`;
 * BullMQ forbids `:`), so re-enqueueing the same attempt after a crash or a lost job is a no-op while the first copy
 * exists.
 */
export function stepJobId(job: Pick<StepJobData, 'sagaId' | 'step' | 'phase' | 'attempt' | 'item'>): string {
  const item = job.item === undefined ? '' : `.${job.item}`;
  return `${job.sagaId}.${job.step}${item}.${job.phase}.${job.attempt}`;
}
