/**
 * The `type` of a history entry (`saga_event.type`). Persisted and shown on the dashboard's timeline: renaming a
 * value needs a migration of existing rows and a changelog entry.
 */
export const HistoryType = {
  SagaStarted: 'SagaStarted',
  StepScheduled: 'StepScheduled',
  StepStarted: 'StepStarted',
  StepSucceeded: 'StepSucceeded',
  /** data `{ error }` (and `reason` when the engine gave up a pending retry because the saga is compensating). */
  StepFailed: 'StepFailed',
  /** data `{ delayMs }`; `attempt` is the attempt scheduled. */
  StepRetryScheduled: 'StepRetryScheduled',
  StepSkipped: 'StepSkipped',
  /** data `{ signal, timeoutMs }`: a wait step began waiting; `attempt` is the wait's number. */
  StepWaiting: 'StepWaiting',
  /** data `{ signal, by? }`: the signal came and completed the waiting step (its payload is the step's output). */
  SignalReceived: 'SignalReceived',
  /**
   * data `{ signal, by? }`: the signal came before the step waiting for it started; it is kept (durably, in the
   * instance) and completes that step as soon as it starts (then `SignalReceived` with `buffered: true`).
   */
  SignalBuffered: 'SignalBuffered',
  /**
   * data `{ signal, timeoutMs, continued: true }`: a wait with `onTimeout: 'continue'` reached its timeout; the step
   * SUCCEEDED with the output `{ timedOut: true }`.
   */
  WaitTimedOut: 'WaitTimedOut',
  /** data `{ delayMs }` or `{ until }`: a sleep step's timer is set; `attempt` is the sleep's number. */
  StepSleeping: 'StepSleeping',
  /** data `{ dueAt, wokeAt }`: the timer of a sleep step fired (the step SUCCEEDED with `{ wokeAt, dueAt }`). */
  TimerFired: 'TimerFired',
  /** data `{ startAt }` or `{ startInMs }`: the saga was accepted to start later (status DELAYED). */
  SagaDelayed: 'SagaDelayed',
  /**
   * data `{ type, version, round }`: a child step started its child saga (linked to the step: `GET /v1/sagas/{id}`
   * shows it), and waits for its end.
   */
  ChildStarted: 'ChildStarted',
  /** data `{ childId, status }`: the child of a step ended (COMPLETED, COMPENSATED or CANCELLED). */
  ChildEnded: 'ChildEnded',
  /** data `{ reason }`: the saga began compensating while the step's child ran: the child is cancelled. */
  ChildCancelRequested: 'ChildCancelRequested',
  /**
   * data `{ by, reason }`: a COMPLETED saga is undoing its steps because its parent compensates the step that
   * started it; it ends COMPENSATED.
   */
  UndoRequested: 'UndoRequested',
  /** data `{ count }`: a fan-out step's list is known; its items run (each entry about an item carries `item`). */
  FanOutStarted: 'FanOutStarted',
  SagaCompleted: 'SagaCompleted',
  /** data `{ reason }`. */
  SagaCompensating: 'SagaCompensating',
  CompensationScheduled: 'CompensationScheduled',
  CompensationStarted: 'CompensationStarted',
  CompensationSucceeded: 'CompensationSucceeded',
  /** data `{ error }`. */
  CompensationFailed: 'CompensationFailed',
  /** data `{ delayMs }`; `attempt` is the attempt scheduled. */
  CompensationRetryScheduled: 'CompensationRetryScheduled',
  /** data `{ by, reason }`: an operator declared the effect undone by hand. */
  CompensationResolved: 'CompensationResolved',
  SagaCompensated: 'SagaCompensated',
  SagaCancelled: 'SagaCancelled',
  /** data `{ error }` (the saga's error). */
  SagaFailed: 'SagaFailed',
  /** data `{ by, reason }`. */
  CancelRequested: 'CancelRequested',
  /** data `{ by, reason }`. */
  RetryRequested: 'RetryRequested',
  /**
   * data `{ by, reason, steps }` (`step`: where the re-run starts): an operator re-runs the saga from this step;
   * `steps` went back to PENDING (each with a new run number, hence a new idempotency key, when it had run).
   */
  RetryFromStepRequested: 'RetryFromStepRequested',
  /** data `{ by, reason }`: an operator skipped the step; it SUCCEEDED with the operator's output (never undone). */
  StepSkippedByOperator: 'StepSkippedByOperator',
} as const;
export type HistoryType = (typeof HistoryType)[keyof typeof HistoryType];
