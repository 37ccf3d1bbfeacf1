/**
 * Statuses are persisted as text with CHECK constraints (see libs/store migrations) and are part of the public
 * REST contract (API.md). Renaming a value needs a migration and a changelog entry.
 */

export const SagaStatus = {
  RUNNING: 'RUNNING',
  COMPENSATING: 'COMPENSATING',
  COMPLETED: 'COMPLETED',
  /** A step failed for good and every effect was undone. */
  COMPENSATED: 'COMPENSATED',
  /** An operator cancelled the saga and every effect was undone. */
  CANCELLED: 'CANCELLED',
  /** Needs an operator: a compensation could not finish, or a step after the pivot failed for good. */
  FAILED: 'FAILED',
  /**
   * Accepted with a start time (`startAt` / `startIn`): nothing has run yet. The supervisor starts it (`SagaStarted`)
   * once its start time has passed; an operator's cancel ends it CANCELLED at once.
   */
  DELAYED: 'DELAYED',
} as const;
export type SagaStatus = (typeof SagaStatus)[keyof typeof SagaStatus];

export const TERMINAL_SAGA_STATUSES: readonly SagaStatus[] = [
  SagaStatus.COMPLETED,
  SagaStatus.COMPENSATED,
  SagaStatus.CANCELLED,
];

export function isTerminal(status: SagaStatus): boolean {
  return TERMINAL_SAGA_STATUSES.includes(status);
}

export const StepStatus = {
  /** Not reached yet. */
  PENDING: 'PENDING',
  /** First attempt dispatched to an agent. */
  SCHEDULED: 'SCHEDULED',
  /** An agent reported that the attempt is running (recorded for steps slower than a threshold). */
  RUNNING: 'RUNNING',
  /** An attempt failed transiently; the next one is dispatched with a backoff delay. */
  RETRYING: 'RETRYING',
  SUCCEEDED: 'SUCCEEDED',
  FAILED: 'FAILED',
  /** Its `when` condition was false. */
  SKIPPED: 'SKIPPED',
  /** Waits for an external signal. */
  WAITING: 'WAITING',
  /** A sleep step (`.sleep()`) waits for its timer: the step row's deadline is its wake-up time. */
  SLEEPING: 'SLEEPING',
  COMPENSATING: 'COMPENSATING',
  COMPENSATED: 'COMPENSATED',
  COMPENSATION_FAILED: 'COMPENSATION_FAILED',
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** Status of a step's compensation (the `compensation` object of a step in the API). */
export const CompensationStatus = {
  SCHEDULED: 'SCHEDULED',
  RUNNING: 'RUNNING',
  RETRYING: 'RETRYING',
  SUCCEEDED: 'SUCCEEDED',
  /** Gave up (retries exhausted or a definite "no"); the saga is FAILED until an operator acts. */
  FAILED: 'FAILED',
  /** An operator declared the effect undone by hand. */
  RESOLVED: 'RESOLVED',
} as const;
export type CompensationStatus = (typeof CompensationStatus)[keyof typeof CompensationStatus];

/** Which handler of a step a job runs. Persisted in job ids (`<sagaId>.<step>.<phase>.<attempt>`). */
export const StepPhase = {
  RUN: 'run',
  UNDO: 'undo',
} as const;
export type StepPhase = (typeof StepPhase)[keyof typeof StepPhase];
