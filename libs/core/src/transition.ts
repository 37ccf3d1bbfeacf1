/**
 * The saga state machine: `(definition, state, event) -> (new state, commands, history)`. Pure: no I/O, no clock,
 * randomness only from `env`. The scheduler loads a checkpoint, calls `transition`, and commits the result as one
 * compare-and-set; the supervisor and the API only ever feed it events.
 *
 * ## What retries, what compensates
 *
 * | A step, saga RUNNING              | The step                        | Then                               |
 * | --------------------------------- | ------------------------------- | ---------------------------------- |
 * | succeeded                         | SUCCEEDED                       | next stage, or COMPLETED           |
 * | `when` false (`StepSkipped`)      | SKIPPED: never run nor undone   | as if it succeeded, no output      |
 * | `when` threw                      | FAILED `CONDITION_ERROR`        | as a definite "no"                 |
 * | transient (retryable, timeout)    | RETRYING after a backoff        | -                                  |
 * | transient, attempts exhausted     | FAILED, outcome unknown         | COMPENSATING, its own undo first   |
 * | definite "no" (NonRetryableError) | FAILED, nothing to undo         | COMPENSATING the earlier steps     |
 * | transient, after the pivot        | RETRYING forever (no limit)     | -                                  |
 * | definite "no", after the pivot    | FAILED                          | saga FAILED + alert, no undo       |
 * | `DEADLINE_EXCEEDED` (its agent    | as transient; `deaths` + 1      | -                                  |
 * |   died, or hung, while running it)|                                 |                                    |
 * | `POISONED` (a death too many)     | FAILED, outcome unknown;        | COMPENSATING (its own undo first)  |
 * |                                   |   `deaths` + 1; not retried     |   + alert; after the pivot: FAILED |
 * | `OUTPUT_INVALID`, not retryable   | FAILED, outcome unknown;        | COMPENSATING, its own undo first;  |
 * |   (output not of its class)       |   not retried (a bug)           |   after the pivot: FAILED          |
 *
 * | A wait step (`signal` set)        | The step                        | Then                               |
 * | --------------------------------- | ------------------------------- | ---------------------------------- |
 * | its stage comes                   | WAITING until `timeoutMs`       | no job: nothing runs               |
 * | its stage comes, it has a `when`  | SCHEDULED: the agent evaluates  | `WaitStarted`: WAITING as above;   |
 * |                                   |   the condition                 |   `StepSkipped`: SKIPPED           |
 * | `SignalReceived` while WAITING    | SUCCEEDED, output = payload     | next stage, or COMPLETED           |
 * | `SignalReceived` while PENDING    | unchanged; the signal buffered  | consumed when the step starts:     |
 * |   (saga RUNNING, not yet waiting) |   in the state (`SignalBuffered`)|   SUCCEEDED at once, no WAITING    |
 * | `SignalReceived`, no step waits   | unchanged (ignored: API 409)    | -                                  |
 * |   nor will (or already buffered)  |                                 |                                    |
 * | `SignalTimedOut` (deadline)       | FAILED `SIGNAL_TIMEOUT`         | as a definite "no": never retried, |
 * |                                   |                                 | the earlier steps are compensated  |
 * | the saga starts compensating      | FAILED `WAIT_ABANDONED`         | nothing to undo for the wait       |
 *
 * | `SignalTimedOut`, `onTimeout:     | SUCCEEDED, output               | next stage, or COMPLETED           |
 * |   'continue'`                     |   `{ timedOut: true }`          |                                    |
 *
 * | A sleep step (`sleep` set)        | The step                        | Then                               |
 * | --------------------------------- | ------------------------------- | ---------------------------------- |
 * | its stage comes (a duration)      | SLEEPING, timer `delayMs`       | no job: nothing runs               |
 * | its stage comes, it has `until`   | SCHEDULED: the agent evaluates  | `SleepStarted { until }`: SLEEPING |
 * |   or a `when`                     |   them                          |   `StepSkipped`: SKIPPED           |
 * | `TimerFired` (its wake-up time)   | SUCCEEDED `{ wokeAt, dueAt }`   | next stage, or COMPLETED           |
 * | `until` threw or is not a time    | FAILED `SLEEP_UNTIL_ERROR`      | as a definite "no"                 |
 * | the saga starts compensating      | FAILED `TIMER_ABANDONED`        | nothing to undo for the sleep      |
 *
 * A sleep's timer is the step row's deadline, on the database clock; the supervisor reports `TimerFired` at its
 * first sweep after it, so a timer fires once and up to one sweep late. Like a WAITING step, a SLEEPING one is in
 * flight, and agents' outcomes never apply to it: only its timer (or compensation) ends it.
 *
 * | A child step (`child` set)        | The step                        | Then                               |
 * | --------------------------------- | ------------------------------- | ---------------------------------- |
 * | its stage comes                   | SCHEDULED: the agent computes   | `ChildRequested { input }`         |
 * |                                   |   the child's input (code)      |                                    |
 * | `ChildRequested`                  | WAITING; `StartChild` (the edge | no job: the child runs             |
 * |                                   |   inserts it in this commit)    |                                    |
 * | `ChildEnded` COMPLETED            | SUCCEEDED, output = the child's | next stage, or COMPLETED           |
 * | `ChildEnded` COMPENSATED/CANCELLED| FAILED `CHILD_COMPENSATED`/     | as a definite "no": nothing to     |
 * |                                   |   `CHILD_CANCELLED`             |   undo for the step                |
 * | the saga starts compensating      | WAITING; `CancelChild`          | the child's end ends the step      |
 * | compensated after it SUCCEEDED    | COMPENSATING; `UndoChild`       | `ChildEnded` COMPENSATED: undone   |
 * | `ChildRequested` while compensating| FAILED `CHILD_ABANDONED`       | no child is started                |
 *
 * A COMPLETED saga accepts one event, `UndoRequested` (its parent compensates the step that started it): it goes
 * COMPENSATING and undoes its completed steps as any compensation, then ends COMPENSATED with the cause as its
 * error (`UNDO_REQUESTED`); refused past its pivot. A child's end reaches its parent as `ChildEnded`, at least once.
 *
 * | A fan-out (`fanOut` set)          | The step, its items             | Then                               |
 * | --------------------------------- | ------------------------------- | ---------------------------------- |
 * | its stage comes                   | SCHEDULED: the agent computes   | `FanOutStarted { items, keys? }`   |
 * |                                   |   the list (code)               |                                    |
 * | `FanOutStarted`                   | RUNNING; `StartFanOut` (the     | the first `concurrency` items      |
 * |                                   |   edge writes the items)        |   dispatched (`item` on commands)  |
 * | an item succeeded                 | the item SUCCEEDED              | the next PENDING item; all done:   |
 * |                                   |                                 |   SUCCEEDED, output the items'     |
 * | an item failed transiently        | the item RETRYING, its backoff  | -                                  |
 * | an item failed for good           | the item FAILED; the step       | as a step failing for good: no     |
 * |                                   |   FAILED ("item n: ...")        |   more item starts                 |
 * | the saga compensates              | pending retries give up (their  | the items that may have had an     |
 * |                                   |   outcome unknown)              |   effect are undone, `concurrency` |
 * |                                   |                                 |   at a time, last first; then the  |
 * |                                   |                                 |   earlier stages                   |
 *
 * Each item is a step of its own for these rules (its attempts, retries, compensation, stale outcomes); the step's
 * stage is in flight while an item's action is, and finished when none needs undoing, is in flight or failed its
 * undo. Counters in the step's `fanOut` keep every event O(1) whatever the number of items (see fan-out.ts).
 *
 * | A saga with a start time          | The saga                        | Then                               |
 * | --------------------------------- | ------------------------------- | ---------------------------------- |
 * | `SagaDelayed` (a fresh state)     | DELAYED, `DelayStart`           | nothing runs                       |
 * | `SagaStarted` (its time came)     | RUNNING                         | the first stage                    |
 * | `CancelRequested`                 | CANCELLED at once               | nothing ran, nothing to undo       |
 * | `SignalReceived` (awaited later)  | unchanged; the signal buffered  | consumed when its wait starts      |
 *
 * A wait that times out is a definite failure, not a transient one: waiting again would only move the deadline,
 * and a wait has no effect of its own to undo (its `compensate`, if any, runs only after it SUCCEEDED). After the
 * pivot, a timed-out wait leaves the saga FAILED; an operator retry waits again, with a fresh deadline. Agents'
 * outcomes (`StepSucceeded`, `StepFailed`) never apply to a WAITING step: only its signal or its deadline end it.
 *
 * | A compensation                    | The compensation                | Then                               |
 * | --------------------------------- | ------------------------------- | ---------------------------------- |
 * | succeeded                         | SUCCEEDED (step COMPENSATED)    | previous stage, or COMPENSATED     |
 * | transient, attempts left          | RETRYING after a backoff        | -                                  |
 * | definite "no", attempts exhausted | FAILED (COMPENSATION_FAILED)    | stage settled: saga FAILED + alert |
 * | `RetryRequested` (saga FAILED)    | SCHEDULED, fresh attempt budget | COMPENSATING                       |
 * | `CompensationResolved`            | RESOLVED (step COMPENSATED)     | none other FAILED: goes on         |
 *
 * Compensation walks the stages backwards, one stage at a time (a parallel group's undos go together). A step
 * needs undoing when it SUCCEEDED, or FAILED with an unknown outcome, and has a `compensate`. Nothing of a stage
 * is undone while a forward attempt of that stage (or a later one) is still in flight: its outcome is awaited (the
 * supervisor reports `DEADLINE_EXCEEDED` if its agent died), and a late success is undone like any other. A step
 * waiting for a retry's backoff when compensation begins gives up (FAILED, outcome unknown, undone); its delayed
 * job finds itself stale. PENDING steps stay PENDING. Outside RUNNING nothing forward is retried: an attempt that
 * fails while the saga is COMPENSATING or FAILED ends FAILED (undone if its outcome is unknown, re-run by an
 * operator retry if it is past the pivot), and one that succeeds while FAILED is recorded.
 *
 * An operator may cancel a RUNNING saga until its pivot succeeded: the saga compensates as above and ends
 * CANCELLED. Terminal sagas (COMPLETED, COMPENSATED, CANCELLED) ignore every event; so do stale attempts,
 * duplicate outcomes and unknown steps. An ignored event returns the input state itself, with `ignored` set.
 *
 * An operator may also re-run a FAILED (past its pivot) or COMPLETED saga from a step after the pivot
 * (`RetryFromStepRequested`: that step and the later ones run again, each with a new run number, hence a new
 * idempotency key), and skip a forward step that FAILED, waits for a retry or has not run (`SkipRequested`: it
 * SUCCEEDED with the operator's output, and is never compensated). See their handlers for what is refused.
 *
 * Attempt numbers only grow (they are part of job ids); an operator retry starts a new round whose budget counts
 * from `attemptBase`, and whose backoff starts again from `initialIntervalMs`.
 *
 * Only started attempts fail by the supervisor: one that never started (its job lost, never enqueued) is enqueued
 * again, so it never counts against `maximumAttempts`. A started one that never reported is a death of the step
 * (`deaths`, either phase, never reset): the supervisor reports `DEADLINE_EXCEEDED`, or `POISONED` once the step has
 * died as often as the engine allows (its `poisonAfterDeaths`; this function only applies the code it is given).
 *
 * Conditions (`when`) are code, and this function reads only data (a SagaSpec), so that a process without a
 * saga's code can drive its instances. A step with a condition is dispatched like any other; the agent, which has
 * the code, evaluates the condition first and reports `StepSkipped` when it is false (or runs the step; a wait
 * step reports `WaitStarted`). A condition that throws is a definite failure of its step (`CONDITION_ERROR`). The
 * siblings of a parallel group are dispatched together, so a sibling's throwing condition is undone like any
 * definite failure of a sibling.
 */
import { computeBackoffMs, hasAttemptsLeft, isDefiniteFailure } from './backoff';
import {
  FAN_OUT_ABANDONED,
  isItemCompensationInFlight,
  isItemInFlight,
  itemMayNeedUndo,
  newFanOut,
  tallyItem,
} from './fan-out';
import { HistoryType } from './history';
import { stepOutputs } from './outputs';
import { CompensationStatus, SagaStatus, StepPhase, StepStatus, isTerminal } from './status';
import {
  type ChildSpec,
  type ErrorInfo,
  type FanOutSpec,
  type FanOutState,
  type HistoryEntry,
  type ItemState,
  MAX_FAN_OUT_ITEMS,
  type SagaCommand,
  type SagaError,
  type SagaEvent,
  type SagaSpec,
  type SagaState,
  type SleepSpec,
  type StageDefinition,
  type StepSpec,
  type StepState,
  type TransitionEnv,
  type TransitionResult,
} from './types';

// WAITING counts as in flight: its outcome (the signal, or its deadline) is still to come, the store keeps its
// deadline, and compensation awaits it like any attempt in flight.
const STEP_IN_FLIGHT: readonly StepStatus[] = [
  StepStatus.SCHEDULED,
  StepStatus.RUNNING,
  StepStatus.RETRYING,
  StepStatus.WAITING,
  StepStatus.SLEEPING,
];
const COMPENSATION_IN_FLIGHT: readonly CompensationStatus[] = [
  CompensationStatus.SCHEDULED,
  CompensationStatus.RUNNING,
  CompensationStatus.RETRYING,
];

/** An attempt of the step's action is dispatched (or a wait step WAITING) and has not reported its outcome yet. */
export function isStepInFlight(step: StepState): boolean {
  return STEP_IN_FLIGHT.includes(step.status);
}

/** An attempt of the step's compensation is dispatched and has not reported its outcome yet. */
export function isCompensationInFlight(step: StepState): boolean {
  return step.compensation !== null && COMPENSATION_IN_FLIGHT.includes(step.compensation.status);
}

/**
 * The supervisor's error for a started attempt (an agent marked it RUNNING) found without an outcome past its
 * deadline: its agent died, or hung, while running it. Transient: retried by the step's policy. Counts a death.
 */
export const DEADLINE_EXCEEDED = 'DEADLINE_EXCEEDED';
/**
 * The same, for the death that reaches the engine's limit (SAGA_POISON_AFTER_DEATHS): not retryable, yet its outcome
 * is unknown (it may have had its effect before it killed its agent), so it is undone like an exhausted retry. Before
 * the pivot the saga compensates, and an alert is raised; after it, the saga goes FAILED (and alerts).
 */
export const POISONED = 'POISONED';
/**
 * A step's (or an item's) action returned an output that its declared `output` class refuses: a bug in the step's
 * code, so it is not retried, yet the action did run (its effect happened), so it is undone like an exhausted
 * retry; the malformed output is never stored, so later steps never read it. (An output that cannot be stored as
 * JSON has the same code but is retryable: see normalizeOutput.)
 */
export const OUTPUT_INVALID = 'OUTPUT_INVALID';

/** The error of a wait step whose signal did not come by its deadline (a definite failure). */
export const SIGNAL_TIMEOUT = 'SIGNAL_TIMEOUT';
/** The error of a wait step that gave up because the saga began compensating. */
export const WAIT_ABANDONED = 'WAIT_ABANDONED';
/** The error of a sleep step whose timer was abandoned because the saga began compensating (or was cancelled). */
export const TIMER_ABANDONED = 'TIMER_ABANDONED';
/** The output of a wait with `onTimeout: 'continue'` whose signal did not come in time. */
export const WAIT_TIMED_OUT_OUTPUT: Readonly<{ timedOut: true }> = Object.freeze({ timedOut: true });
/** The error of a child step whose child ended COMPENSATED (a definite failure of the step). */
export const CHILD_COMPENSATED = 'CHILD_COMPENSATED';
/** The error of a child step whose child ended CANCELLED (a definite failure of the step). */
export const CHILD_CANCELLED = 'CHILD_CANCELLED';
/** The error of a child step that gave up before its child started, because the saga began compensating. */
export const CHILD_ABANDONED = 'CHILD_ABANDONED';
/** The error (`SagaError.code`) of a COMPLETED saga undone because its parent compensates (`UndoRequested`). */
export const UNDO_REQUESTED = 'UNDO_REQUESTED';

export function transition(
  def: SagaSpec,
  state: SagaState,
  event: SagaEvent,
  env: TransitionEnv = { random: () => Math.random() },
): TransitionResult {
  // A COMPLETED saga is final, except to its parent, which may ask it to undo its steps (UndoRequested), and to an
  // operator, who may re-run it from a step (RetryFromStepRequested).
  // (The latter refuses every other terminal status with its own reason.)
  const reopens =
    (event.type === 'UndoRequested' && state.status === SagaStatus.COMPLETED) ||
    event.type === 'RetryFromStepRequested';
  if (isTerminal(state.status) && !reopens) return ignore(state, `saga is ${state.status}`);
  switch (event.type) {
    case 'SagaStarted':
      return onSagaStarted(new Draft(def, state, env));
    case 'StepStarted':
      return onStepStarted(new Draft(def, state, env), event);
    case 'StepSucceeded':
      return onStepSucceeded(new Draft(def, state, env), event);
    case 'StepSkipped':
      return onStepSkipped(new Draft(def, state, env), event);
    case 'WaitStarted':
      return onWaitStarted(new Draft(def, state, env), event);
    case 'StepFailed':
      return onStepFailed(new Draft(def, state, env), event);
    case 'CompensationSucceeded':
      return onCompensationSucceeded(new Draft(def, state, env), event);
    case 'CompensationFailed':
      return onCompensationFailed(new Draft(def, state, env), event);
    case 'CancelRequested':
      return onCancelRequested(new Draft(def, state, env), event);
    case 'RetryRequested':
      return onRetryRequested(new Draft(def, state, env), event);
    case 'CompensationResolved':
      return onCompensationResolved(new Draft(def, state, env), event);
    case 'RetryFromStepRequested':
      return onRetryFromStepRequested(new Draft(def, state, env), event);
    case 'SkipRequested':
      return onSkipRequested(new Draft(def, state, env), event);
    case 'SignalReceived':
      return onSignalReceived(new Draft(def, state, env), event);
    case 'SignalTimedOut':
      return onSignalTimedOut(new Draft(def, state, env), event);
    case 'SleepStarted':
      return onSleepStarted(new Draft(def, state, env), event);
    case 'TimerFired':
      return onTimerFired(new Draft(def, state, env), event);
    case 'SagaDelayed':
      return onSagaDelayed(new Draft(def, state, env), event);
    case 'ChildRequested':
      return onChildRequested(new Draft(def, state, env), event);
    case 'ChildEnded':
      return onChildEnded(new Draft(def, state, env), event);
    case 'UndoRequested':
      return onUndoRequested(new Draft(def, state, env), event);
    case 'FanOutStarted':
      return onFanOutStarted(new Draft(def, state, env), event);
    default: {
      // Events arrive from queues as JSON: an unknown type is ignored, not thrown.
      const _never: never = event;
      return ignore(state, `unknown event type "${String((event as { type?: unknown }).type)}"`);
    }
  }
}

type EventOf<T extends SagaEvent['type']> = Extract<SagaEvent, { type: T }>;

// ---------------------------------------------------------------------------------------------------------------
// Event handlers. Each checks legality against the untouched input state first, then edits the draft.
// ---------------------------------------------------------------------------------------------------------------

function onSagaStarted(d: Draft): TransitionResult {
  // A DELAYED saga starts when its time has come (the supervisor sends this); a fresh one at once.
  const fresh = d.base.eventCount === 0 && d.base.status === SagaStatus.RUNNING;
  if (!fresh && d.base.status !== SagaStatus.DELAYED) return d.ignore('saga already started');
  d.state.status = SagaStatus.RUNNING;
  d.record(HistoryType.SagaStarted, null, null, null);
  advance(d);
  return d.result();
}

function onStepStarted(d: Draft, event: EventOf<'StepStarted'>): TransitionResult {
  const step = d.lookup(event.step);
  if (!step) return d.ignore(`unknown step "${event.step}"`);
  const itemIllegal = checkItemRouting(d, event.step, event.item);
  if (itemIllegal !== null) return d.ignore(itemIllegal);
  if (event.item !== undefined) return onItemStarted(d, event, event.item);
  switch (event.phase) {
    case StepPhase.RUN: {
      if (step.status !== StepStatus.SCHEDULED && step.status !== StepStatus.RETRYING) {
        return d.ignore(`step "${event.step}" is ${step.status}`);
      }
      if (event.attempt !== step.attempt) return d.ignore(staleAttempt(event.step, event.attempt, step.attempt));
      d.edit(event.step).status = StepStatus.RUNNING;
      d.record(HistoryType.StepStarted, event.step, event.attempt, null);
      return d.result();
    }
    case StepPhase.UNDO: {
      const comp = step.compensation;
      if (comp?.status !== CompensationStatus.SCHEDULED && comp?.status !== CompensationStatus.RETRYING) {
        return d.ignore(`compensation of step "${event.step}" is ${comp?.status ?? 'not dispatched'}`);
      }
      if (event.attempt !== comp.attempt) return d.ignore(staleAttempt(event.step, event.attempt, comp.attempt));
      d.editCompensation(event.step).status = CompensationStatus.RUNNING;
      d.record(HistoryType.CompensationStarted, event.step, event.attempt, null);
      return d.result();
    }
    default: {
      const _never: never = event.phase;
      return d.ignore(`unknown phase "${String(event.phase)}"`);
    }
  }
}

function onStepSucceeded(d: Draft, event: EventOf<'StepSucceeded'>): TransitionResult {
  const itemIllegal = checkItemRouting(d, event.step, event.item);
  if (itemIllegal !== null) return d.ignore(itemIllegal);
  if (event.item !== undefined) return onItemSucceeded(d, event, event.item);
  const illegal = checkRunOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  if (isSleep(def)) return d.ignore(`step "${event.step}" is a sleep: its timer ends it`);
  if (isChild(def)) return d.ignore(`step "${event.step}" starts a child saga: the child's end ends it`);
  if (isFanOut(def)) return d.ignore(`step "${event.step}" is a fan-out: its items end it`);
  const step = d.edit(event.step);
  step.status = StepStatus.SUCCEEDED;
  step.output = event.output;
  step.error = null;
  step.outcomeUnknown = false;
  d.record(HistoryType.StepSucceeded, event.step, event.attempt, null);
  // RUNNING: on to the next stage. COMPENSATING: the late success needs undoing. FAILED: recorded only.
  if (d.state.status === SagaStatus.RUNNING) advance(d);
  else continueCompensation(d);
  return d.result();
}

function onStepSkipped(d: Draft, event: EventOf<'StepSkipped'>): TransitionResult {
  const illegal = checkRunOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  if (!d.def.stepsByName[event.step].conditional) return d.ignore(`step "${event.step}" has no condition`);
  const step = d.edit(event.step);
  step.status = StepStatus.SKIPPED;
  step.output = null;
  step.error = null;
  step.outcomeUnknown = false;
  d.record(HistoryType.StepSkipped, event.step, event.attempt, null);
  // RUNNING: the stage may be settled now. COMPENSATING or FAILED: a skipped step has nothing to undo.
  if (d.state.status === SagaStatus.RUNNING) advance(d);
  else continueCompensation(d);
  return d.result();
}

function onWaitStarted(d: Draft, event: EventOf<'WaitStarted'>): TransitionResult {
  const illegal = checkRunOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  if (def.signal === null || !def.conditional) return d.ignore(`step "${event.step}" is not a conditional wait`);
  if (d.state.status !== SagaStatus.RUNNING) {
    // The saga began compensating while the condition was evaluated: the wait gives up, as a WAITING one does.
    const step = d.edit(event.step);
    step.status = StepStatus.FAILED;
    step.error = waitAbandoned();
    step.outcomeUnknown = false;
    d.record(HistoryType.StepFailed, event.step, event.attempt, { error: step.error });
    continueCompensation(d);
    return d.result();
  }
  beginWait(d, event.step);
  advance(d);
  return d.result();
}

function onStepFailed(d: Draft, event: EventOf<'StepFailed'>): TransitionResult {
  const itemIllegal = checkItemRouting(d, event.step, event.item);
  if (itemIllegal !== null) return d.ignore(itemIllegal);
  if (event.item !== undefined) return onItemFailed(d, event, event.item);
  const illegal = checkRunOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  const current = d.base.steps[event.step];
  const { error } = event;
  const definite = isDefiniteFailure(def.retry, error);
  const postPivot = isPostPivot(d, event.step);
  if (isDeath(error)) d.edit(event.step).deaths = (current.deaths ?? 0) + 1;

  if (
    d.base.status === SagaStatus.RUNNING &&
    !definite &&
    (postPivot || hasAttemptsLeft(def.retry, current.attempt, current.attemptBase))
  ) {
    const delayMs = computeBackoffMs(
      def.retry,
      current.attempt - current.attemptBase,
      d.env.random(),
      error.retryAfterMs,
    );
    const next = current.attempt + 1;
    const step = d.edit(event.step);
    step.status = StepStatus.RETRYING;
    step.attempt = next;
    step.error = error;
    step.outcomeUnknown = true;
    d.record(HistoryType.StepFailed, event.step, event.attempt, { error });
    d.record(HistoryType.StepRetryScheduled, event.step, next, { delayMs });
    d.dispatch(def, StepPhase.RUN, next, delayMs);
    return d.result();
  }

  const step = d.edit(event.step);
  step.status = StepStatus.FAILED;
  step.error = error;
  // A definite "no" had no effect to undo; exhausted retries, a timeout, a poisoned attempt or an action whose output
  // its class refused (it ran) may have had one.
  step.outcomeUnknown = !definite || error.code === POISONED || error.code === OUTPUT_INVALID;
  d.record(HistoryType.StepFailed, event.step, event.attempt, { error });
  if (error.code === POISONED && !(d.state.status === SagaStatus.RUNNING && postPivot)) {
    // Compensating is automatic, but someone must look at the step's code: it kills its agent.
    d.commands.push({
      type: 'RaiseAlert',
      status: 'POISONED',
      error: { step: event.step, message: error.message, code: POISONED, transient: false },
    });
  }
  stepFailedForGood(d, event.step, error, definite);
  return d.result();
}

function onCompensationSucceeded(d: Draft, event: EventOf<'CompensationSucceeded'>): TransitionResult {
  const itemIllegal = checkItemRouting(d, event.step, event.item);
  if (itemIllegal !== null) return d.ignore(itemIllegal);
  if (event.item !== undefined) return onItemCompensationSucceeded(d, event, event.item);
  const illegal = checkUndoOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const comp = d.editCompensation(event.step);
  comp.status = CompensationStatus.SUCCEEDED;
  comp.error = null;
  d.edit(event.step).status = StepStatus.COMPENSATED;
  d.record(HistoryType.CompensationSucceeded, event.step, event.attempt, null);
  continueCompensation(d);
  return d.result();
}

function onCompensationFailed(d: Draft, event: EventOf<'CompensationFailed'>): TransitionResult {
  const itemIllegal = checkItemRouting(d, event.step, event.item);
  if (itemIllegal !== null) return d.ignore(itemIllegal);
  if (event.item !== undefined) return onItemCompensationFailed(d, event, event.item);
  const illegal = checkUndoOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  const policy = def.compensationRetry;
  const { error } = event;
  if (isDeath(error)) d.edit(event.step).deaths = (d.base.steps[event.step].deaths ?? 0) + 1;
  const comp = d.editCompensation(event.step);

  // A child's undo is the child's own compensation, retried by its own policies: its refusal is final here.
  const retryable = !isChild(def) && !isDefiniteFailure(policy, error);
  if (retryable && hasAttemptsLeft(policy, comp.attempt, comp.attemptBase)) {
    const delayMs = computeBackoffMs(policy, comp.attempt - comp.attemptBase, d.env.random(), error.retryAfterMs);
    const next = comp.attempt + 1;
    comp.status = CompensationStatus.RETRYING;
    comp.attempt = next;
    comp.error = error;
    d.record(HistoryType.CompensationFailed, event.step, event.attempt, { error });
    d.record(HistoryType.CompensationRetryScheduled, event.step, next, { delayMs });
    d.dispatch(def, StepPhase.UNDO, next, delayMs);
    return d.result();
  }

  comp.status = CompensationStatus.FAILED;
  comp.error = error;
  d.edit(event.step).status = StepStatus.COMPENSATION_FAILED;
  d.record(HistoryType.CompensationFailed, event.step, event.attempt, { error });
  continueCompensation(d);
  return d.result();
}

function onCancelRequested(d: Draft, event: EventOf<'CancelRequested'>): TransitionResult {
  const status = d.base.status;
  switch (status) {
    case SagaStatus.RUNNING: {
      const pivot = succeededPivot(d);
      if (pivot !== null) return d.ignore(`past the pivot step "${pivot.name}"`);
      d.state.cancelRequested = true;
      d.record(HistoryType.CancelRequested, null, null, { by: event.by, reason: event.reason });
      enterCompensating(
        d,
        { step: null, code: 'CANCELLED', message: event.reason, transient: false },
        `cancelled by ${event.by}: ${event.reason}`,
      );
      return d.result();
    }
    case SagaStatus.COMPENSATING:
      if (d.base.cancelRequested) return d.ignore('cancel already requested');
      // Already undoing: it only changes how the saga ends (CANCELLED instead of COMPENSATED).
      d.state.cancelRequested = true;
      d.record(HistoryType.CancelRequested, null, null, { by: event.by, reason: event.reason });
      return d.result();
    case SagaStatus.DELAYED:
      // Nothing has run: it ends at once, and its start time passes unnoticed (the saga is no longer DELAYED).
      d.state.cancelRequested = true;
      d.record(HistoryType.CancelRequested, null, null, { by: event.by, reason: event.reason });
      d.state.status = SagaStatus.CANCELLED;
      d.record(HistoryType.SagaCancelled, null, null, null);
      return d.result();
    case SagaStatus.FAILED:
      return d.ignore('saga is FAILED: retry or resolve it');
    case SagaStatus.COMPLETED:
    case SagaStatus.COMPENSATED:
    case SagaStatus.CANCELLED:
      return d.ignore(`saga is ${status}`);
    default: {
      const _never: never = status;
      return d.ignore(`unknown saga status "${String(status)}"`);
    }
  }
}

function onRetryRequested(d: Draft, event: EventOf<'RetryRequested'>): TransitionResult {
  if (d.base.status !== SagaStatus.FAILED) return d.ignore(`saga is ${d.base.status}`);
  const names = d.def.steps.map((s) => s.name).filter((name) => Object.hasOwn(d.base.steps, name));
  const failedCompensations = names.filter((name) => stepCompensationFailed(d, name));
  const failedSteps = names.filter((name) => d.base.steps[name].status === StepStatus.FAILED && isPostPivot(d, name));
  if (failedCompensations.length === 0 && failedSteps.length === 0) return d.ignore('nothing has FAILED');

  d.record(HistoryType.RetryRequested, null, null, { by: event.by, reason: event.reason });
  d.state.error = null;
  if (failedCompensations.length > 0) {
    d.state.status = SagaStatus.COMPENSATING;
    for (const name of failedCompensations) {
      if (d.step(name).fanOut) {
        retryItemUndos(d, name);
        continue;
      }
      const prev = d.base.steps[name].compensation!.attempt;
      dispatchUndo(d, name, prev + 1, prev);
    }
    continueCompensation(d);
    return d.result();
  }

  d.state.status = SagaStatus.RUNNING;
  for (const name of failedSteps) {
    const step = d.edit(name);
    step.error = null;
    if (step.fanOut) {
      // Its failed items run again, in a new round; the ones that succeeded stay done.
      retryItems(d, name);
      continue;
    }
    if (step.attempt === 0) {
      // Never dispatched (its `when` threw in the scheduler, before conditions moved to the agent): back to
      // PENDING, so that `advance` dispatches it again.
      step.status = StepStatus.PENDING;
    } else {
      step.attemptBase = step.attempt;
      scheduleRun(d, name);
    }
  }
  advance(d);
  return d.result();
}

/**
 * An operator re-runs the saga from a step (Temporal's "reset"). Allowed on a FAILED saga whose failure is a
 * forward step's (past the pivot: nothing was undone) and on a COMPLETED one; refused while compensating, on a
 * COMPENSATED or CANCELLED saga (the steps before were undone: start a new saga) and, once the pivot SUCCEEDED,
 * from the pivot's stage or before (that would run the pivot, whose effects cannot be undone, a second time).
 *
 * `step` (SUCCEEDED, SKIPPED or FAILED) and every step of a later stage go back to PENDING, as do its siblings of
 * the same stage that did not succeed; the earlier stages must be settled (SUCCEEDED or SKIPPED). A step that had
 * run gets a new run number: its idempotency key changes (`stepKey`), so that participants apply the re-run as a
 * new operation. Attempt numbers go on growing (history keeps the earlier attempts), and `deaths` stay (a re-run
 * does not make a step that killed its agent safe). The earlier run's effects are not undone: if the saga
 * compensates later, only the re-run's are. Fan-outs and child steps that ran are not re-run (refused): their items
 * and children are rows of their own.
 */
function onRetryFromStepRequested(d: Draft, event: EventOf<'RetryFromStepRequested'>): TransitionResult {
  const from = d.lookup(event.step);
  if (!from) return d.ignore(`unknown step "${event.step}"`);
  const status = d.base.status;
  if (status !== SagaStatus.FAILED && status !== SagaStatus.COMPLETED) {
    const why =
      status === SagaStatus.COMPENSATED || status === SagaStatus.CANCELLED
        ? ': its steps were undone, start a new saga'
        : ': only a FAILED or COMPLETED saga is re-run from a step';
    return d.ignore(`saga is ${status}${why}`);
  }
  const failedUndo = d.names().find((name) => stepCompensationFailed(d, name));
  if (failedUndo !== undefined) {
    return d.ignore(`the compensation of step "${failedUndo}" FAILED: retry or resolve it, nothing runs forward`);
  }
  const fromDef = d.def.stepsByName[event.step];
  const settledOrFailed: readonly StepStatus[] = [StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.FAILED];
  if (!settledOrFailed.includes(from.status)) {
    return d.ignore(`step "${event.step}" is ${from.status}: only a step that SUCCEEDED, was SKIPPED or FAILED`);
  }
  const pivot = succeededPivot(d);
  if (pivot !== null && fromDef.stage <= pivot.stage) {
    return d.ignore(
      `step "${event.step}" is not after the pivot step "${pivot.name}": re-running it would run the pivot's ` +
        'stage again, whose effects cannot be undone',
    );
  }
  for (const def of d.def.steps) {
    if (def.stage >= fromDef.stage) continue;
    const earlier = d.step(def.name).status;
    if (earlier !== StepStatus.SUCCEEDED && earlier !== StepStatus.SKIPPED) {
      return d.ignore(`step "${def.name}", before step "${event.step}", is ${earlier}: re-run from it, or skip it`);
    }
  }
  const reset = d.def.steps
    .filter((def) => {
      if (def.name === event.step || def.stage > fromDef.stage) return true;
      if (def.stage < fromDef.stage) return false;
      const sibling = d.step(def.name).status;
      return sibling !== StepStatus.SUCCEEDED && sibling !== StepStatus.SKIPPED;
    })
    .map((def) => def.name);
  for (const name of reset) {
    const def = d.def.stepsByName[name];
    const step = d.step(name);
    if (stepInFlight(d, name)) return d.ignore(`step "${name}" is ${step.status}: wait for its outcome`);
    if (step.attempt > 0 && isFanOut(def)) {
      return d.ignore(`step "${name}" is a fan-out that ran: its items cannot be re-run, re-run from a later step`);
    }
    if (step.attempt > 0 && isChild(def)) {
      return d.ignore(`step "${name}" started a child saga: it cannot be re-run, re-run from a later step`);
    }
  }

  d.record(HistoryType.RetryFromStepRequested, event.step, null, {
    by: event.by,
    reason: event.reason,
    steps: reset,
  });
  for (const name of reset) {
    const current = d.step(name);
    if (current.status === StepStatus.PENDING && current.attempt === 0) continue;
    const step = d.edit(name);
    step.run = (current.run ?? 0) + (current.attempt > 0 ? 1 : 0);
    step.status = StepStatus.PENDING;
    step.attemptBase = step.attempt;
    step.output = null;
    step.error = null;
    step.outcomeUnknown = false;
    step.compensation = null;
    step.skipped = false;
  }
  d.state.status = SagaStatus.RUNNING;
  d.state.error = null;
  d.state.output = null;
  advance(d);
  return d.result();
}

/**
 * An operator skips a forward step with an output of their own: a step that FAILED past the pivot (saga FAILED),
 * that waits for its next attempt (RETRYING, saga RUNNING), or that has not run yet (PENDING, saga RUNNING or
 * FAILED). It is SUCCEEDED with `output`, marked `skipped`; later steps read `output` as its output, and it is
 * never compensated (the operator asserts the outcome). A FAILED saga with no other failure goes on (RUNNING).
 * Steps in flight, waiting or sleeping, and fan-outs whose items ran, are refused; so is a saga whose compensation
 * FAILED (resolving it is `CompensationResolved`).
 */
function onSkipRequested(d: Draft, event: EventOf<'SkipRequested'>): TransitionResult {
  const step = d.lookup(event.step);
  if (!step) return d.ignore(`unknown step "${event.step}"`);
  const status = d.base.status;
  if (status !== SagaStatus.RUNNING && status !== SagaStatus.FAILED) {
    return d.ignore(`saga is ${status}: only a RUNNING or FAILED saga's steps are skipped`);
  }
  if (d.base.eventCount === 0) return d.ignore('saga has not started');
  const failedUndo = d.names().find((name) => stepCompensationFailed(d, name));
  if (failedUndo !== undefined) {
    return d.ignore(`the compensation of step "${failedUndo}" FAILED: resolve it instead`);
  }
  const skippable =
    step.status === StepStatus.PENDING ||
    (step.status === StepStatus.RETRYING && status === SagaStatus.RUNNING) ||
    (step.status === StepStatus.FAILED && status === SagaStatus.FAILED);
  if (!skippable) {
    return d.ignore(
      `step "${event.step}" is ${step.status}: only a FAILED, RETRYING or PENDING forward step can be skipped`,
    );
  }
  if (step.fanOut) return d.ignore(`step "${event.step}" is a fan-out whose items ran: it cannot be skipped`);

  const edited = d.edit(event.step);
  edited.status = StepStatus.SUCCEEDED;
  edited.output = event.output;
  edited.error = null;
  edited.outcomeUnknown = false;
  edited.skipped = true;
  d.record(HistoryType.StepSkippedByOperator, event.step, edited.attempt === 0 ? null : edited.attempt, {
    by: event.by,
    reason: event.reason,
  });
  if (d.state.status === SagaStatus.FAILED) {
    const stillFailed = d.names().some((name) => d.step(name).status === StepStatus.FAILED);
    if (stillFailed) return d.result();
    d.state.status = SagaStatus.RUNNING;
    d.state.error = null;
  }
  advance(d);
  return d.result();
}

function onCompensationResolved(d: Draft, event: EventOf<'CompensationResolved'>): TransitionResult {
  const step = d.lookup(event.step);
  if (!step) return d.ignore(`unknown step "${event.step}"`);
  // Of a fan-out, no item means every item whose compensation FAILED.
  const itemIllegal = event.item === undefined ? null : checkItemRouting(d, event.step, event.item);
  if (itemIllegal !== null) return d.ignore(itemIllegal);
  if (step.fanOut) {
    const illegal = resolveItems(d, event);
    if (illegal !== null) return d.ignore(illegal);
  } else {
    if (step.compensation?.status !== CompensationStatus.FAILED) {
      return d.ignore(`compensation of step "${event.step}" is ${step.compensation?.status ?? 'not dispatched'}`);
    }
    d.editCompensation(event.step).status = CompensationStatus.RESOLVED;
    d.edit(event.step).status = StepStatus.COMPENSATED;
    d.record(HistoryType.CompensationResolved, event.step, null, { by: event.by, reason: event.reason });
  }
  if (d.state.status === SagaStatus.FAILED && !d.names().some((name) => stepCompensationFailed(d, name))) {
    d.state.status = SagaStatus.COMPENSATING;
    d.state.error = null;
  }
  continueCompensation(d);
  return d.result();
}

function onSignalReceived(d: Draft, event: EventOf<'SignalReceived'>): TransitionResult {
  if (event.step !== undefined && !d.lookup(event.step)) return d.ignore(`unknown step "${event.step}"`);
  const waiting = d
    .names()
    .filter(
      (name) =>
        (event.step === undefined || event.step === name) &&
        d.def.stepsByName[name].signal === event.signal &&
        d.step(name).status === StepStatus.WAITING,
    );
  if (waiting.length === 0) return bufferSignal(d, event);
  for (const name of waiting) {
    const step = d.edit(name);
    step.status = StepStatus.SUCCEEDED;
    step.output = event.payload;
    step.error = null;
    step.outcomeUnknown = false;
    d.record(HistoryType.SignalReceived, name, step.attempt, {
      signal: event.signal,
      ...(event.by === undefined ? {} : { by: event.by }),
    });
  }
  // RUNNING: on to the next stage. FAILED (a sibling past the pivot failed meanwhile): recorded only.
  if (d.state.status === SagaStatus.RUNNING) advance(d);
  else continueCompensation(d);
  return d.result();
}

/**
 * A signal that came early: a participant may report before the saga reached its wait step (Temporal's users
 * expect signals to be buffered). Kept in the state when a step that waits for it has not started yet and the saga
 * still goes forward; a wait step consumes it as it starts (scheduleRun). Ignored otherwise: no step waits for it
 * now nor will, or the same signal is already buffered (the first one wins).
 */
function bufferSignal(d: Draft, event: EventOf<'SignalReceived'>): TransitionResult {
  const where = event.step === undefined ? '' : ` at step "${event.step}"`;
  const later = d.names().filter(
    (name) =>
      (event.step === undefined || event.step === name) &&
      d.def.stepsByName[name].signal === event.signal &&
      // Not started yet, or its condition is being evaluated (a conditional wait in flight, not WAITING).
      (d.step(name).status === StepStatus.PENDING ||
        (isStepInFlight(d.step(name)) && d.step(name).status !== StepStatus.WAITING)),
  );
  const forward = d.state.status === SagaStatus.RUNNING || d.state.status === SagaStatus.DELAYED;
  if (!forward || d.state.cancelRequested || later.length === 0) {
    return d.ignore(`nothing waits for signal "${event.signal}"${where}`);
  }
  const pending = d.state.pendingSignals ?? [];
  if (pending.some((p) => p.signal === event.signal && p.step === event.step)) {
    return d.ignore(`signal "${event.signal}"${where} is already buffered`);
  }
  d.state.pendingSignals = [
    ...pending,
    {
      signal: event.signal,
      ...(event.step === undefined ? {} : { step: event.step }),
      payload: event.payload,
      ...(event.by === undefined ? {} : { by: event.by }),
    },
  ];
  d.record(HistoryType.SignalBuffered, null, null, {
    signal: event.signal,
    ...(event.step === undefined ? {} : { step: event.step }),
    ...(event.by === undefined ? {} : { by: event.by }),
  });
  return d.result();
}

function onSignalTimedOut(d: Draft, event: EventOf<'SignalTimedOut'>): TransitionResult {
  const step = d.lookup(event.step);
  if (!step) return d.ignore(`unknown step "${event.step}"`);
  if (step.status !== StepStatus.WAITING) return d.ignore(`step "${event.step}" is ${step.status}`);
  if (event.attempt !== step.attempt) return d.ignore(staleAttempt(event.step, event.attempt, step.attempt));
  const def = d.def.stepsByName[event.step];
  if (isChild(def)) return d.ignore(`step "${event.step}" waits for its child saga: only the child's end ends it`);
  if (def.onTimeout === 'continue') {
    // The author chose to go on without the signal: a success whose output says so.
    const edited = d.edit(event.step);
    edited.status = StepStatus.SUCCEEDED;
    edited.output = { ...WAIT_TIMED_OUT_OUTPUT };
    edited.error = null;
    edited.outcomeUnknown = false;
    d.record(HistoryType.WaitTimedOut, event.step, event.attempt, {
      signal: def.signal,
      timeoutMs: def.timeoutMs,
      continued: true,
    });
    if (d.state.status === SagaStatus.RUNNING) advance(d);
    else continueCompensation(d);
    return d.result();
  }
  const error: ErrorInfo = {
    name: 'SignalTimeout',
    code: SIGNAL_TIMEOUT,
    message: `no signal "${def.signal ?? ''}" within ${def.timeoutMs} ms`,
    retryable: false,
  };
  const edited = d.edit(event.step);
  edited.status = StepStatus.FAILED;
  edited.error = error;
  edited.outcomeUnknown = false;
  d.record(HistoryType.StepFailed, event.step, event.attempt, { error });
  stepFailedForGood(d, event.step, error, true);
  return d.result();
}

function onSleepStarted(d: Draft, event: EventOf<'SleepStarted'>): TransitionResult {
  const illegal = checkRunOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  if (!isSleep(def)) return d.ignore(`step "${event.step}" is not a sleep`);
  if (event.until === undefined && def.sleep.durationMs === null) {
    return d.ignore(`step "${event.step}" computes its wake-up time: SleepStarted needs \`until\``);
  }
  if (d.state.status !== SagaStatus.RUNNING) {
    // The saga began compensating while the agent evaluated the sleep: it gives up, as a SLEEPING one does.
    abandonTimer(d, event.step);
    continueCompensation(d);
    return d.result();
  }
  beginSleep(d, event.step, event.until);
  advance(d);
  return d.result();
}

function onTimerFired(d: Draft, event: EventOf<'TimerFired'>): TransitionResult {
  const step = d.lookup(event.step);
  if (!step) return d.ignore(`unknown step "${event.step}"`);
  if (step.status !== StepStatus.SLEEPING) return d.ignore(`step "${event.step}" is ${step.status}`);
  if (event.attempt !== step.attempt) return d.ignore(staleAttempt(event.step, event.attempt, step.attempt));
  const edited = d.edit(event.step);
  edited.status = StepStatus.SUCCEEDED;
  edited.output = { wokeAt: event.firedAt, dueAt: event.dueAt };
  edited.error = null;
  edited.outcomeUnknown = false;
  d.record(HistoryType.TimerFired, event.step, event.attempt, { dueAt: event.dueAt, wokeAt: event.firedAt });
  if (d.state.status === SagaStatus.RUNNING) advance(d);
  else continueCompensation(d);
  return d.result();
}

function onSagaDelayed(d: Draft, event: EventOf<'SagaDelayed'>): TransitionResult {
  if (d.base.eventCount !== 0 || d.base.status !== SagaStatus.RUNNING) return d.ignore('saga already started');
  const at = event.startAt !== undefined ? { startAt: event.startAt } : null;
  const after = event.startInMs !== undefined ? { startInMs: event.startInMs } : null;
  if ((at === null) === (after === null)) return d.ignore('SagaDelayed needs exactly one of startAt and startInMs');
  d.state.status = SagaStatus.DELAYED;
  d.record(HistoryType.SagaDelayed, null, null, at ?? after);
  d.commands.push({ type: 'DelayStart', ...(at ?? after) });
  return d.result();
}

// ---------------------------------------------------------------------------------------------------------------
// Child sagas (the parent's side: ChildRequested, ChildEnded; the child's: UndoRequested).
// ---------------------------------------------------------------------------------------------------------------

function onChildRequested(d: Draft, event: EventOf<'ChildRequested'>): TransitionResult {
  const illegal = checkRunOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  if (!isChild(def)) return d.ignore(`step "${event.step}" does not start a child saga`);
  if (d.state.status !== SagaStatus.RUNNING) {
    // The saga began compensating while the agent computed the child's input: no child is started.
    const step = d.edit(event.step);
    step.status = StepStatus.FAILED;
    step.error = {
      name: 'ChildAbandoned',
      code: CHILD_ABANDONED,
      message: 'the saga began compensating before the child saga started',
      retryable: false,
    };
    step.outcomeUnknown = false;
    d.record(HistoryType.StepFailed, event.step, event.attempt, { error: step.error });
    continueCompensation(d);
    return d.result();
  }
  const step = d.edit(event.step);
  step.status = StepStatus.WAITING;
  step.error = null;
  step.outcomeUnknown = false;
  const round = step.attemptBase;
  d.commands.push({
    type: 'StartChild',
    step: event.step,
    attempt: step.attempt,
    childType: def.child.type,
    childVersion: def.child.version,
    input: event.input,
    round,
  });
  d.record(HistoryType.ChildStarted, event.step, step.attempt, {
    type: def.child.type,
    version: def.child.version,
    round,
  });
  advance(d);
  return d.result();
}

function onChildEnded(d: Draft, event: EventOf<'ChildEnded'>): TransitionResult {
  const step = d.lookup(event.step);
  if (!step) return d.ignore(`unknown step "${event.step}"`);
  const def = d.def.stepsByName[event.step];
  if (!isChild(def)) return d.ignore(`step "${event.step}" does not start a child saga`);
  if (event.attempt !== step.attempt) return d.ignore(staleAttempt(event.step, event.attempt, step.attempt));
  const ended = { childId: event.childId, status: event.status };
  if (step.status === StepStatus.WAITING) {
    d.record(HistoryType.ChildEnded, event.step, event.attempt, ended);
    const edited = d.edit(event.step);
    if (event.status === 'COMPLETED') {
      // The child's output is the step's output.
      edited.status = StepStatus.SUCCEEDED;
      edited.output = event.output ?? null;
      edited.error = null;
      edited.outcomeUnknown = false;
      d.record(HistoryType.StepSucceeded, event.step, event.attempt, null);
      if (d.state.status === SagaStatus.RUNNING) advance(d);
      else continueCompensation(d);
      return d.result();
    }
    // Compensated or cancelled: the child undid what it did, so the step failed for good with nothing to undo.
    const cancelled = event.status === 'CANCELLED';
    const cause = event.error?.message ? `: ${event.error.message}` : '';
    const error: ErrorInfo = {
      name: cancelled ? 'ChildCancelled' : 'ChildCompensated',
      code: cancelled ? CHILD_CANCELLED : CHILD_COMPENSATED,
      message: `child saga ${event.childId} ended ${event.status}${cause}`,
      retryable: false,
    };
    edited.status = StepStatus.FAILED;
    edited.error = error;
    edited.outcomeUnknown = false;
    d.record(HistoryType.StepFailed, event.step, event.attempt, { error });
    stepFailedForGood(d, event.step, error, true);
    return d.result();
  }
  if (isCompensationInFlight(step)) {
    // The parent asked the COMPLETED child to undo its steps: its end is this compensation's.
    if (event.status === 'COMPLETED') return d.ignore(`the child of step "${event.step}" is still being undone`);
    const attempt = step.compensation!.attempt;
    d.record(HistoryType.ChildEnded, event.step, event.attempt, ended);
    const comp = d.editCompensation(event.step);
    comp.status = CompensationStatus.SUCCEEDED;
    comp.error = null;
    d.edit(event.step).status = StepStatus.COMPENSATED;
    d.record(HistoryType.CompensationSucceeded, event.step, attempt, null);
    continueCompensation(d);
    return d.result();
  }
  return d.ignore(`step "${event.step}" is ${step.status}: it does not wait for its child`);
}

function onUndoRequested(d: Draft, event: EventOf<'UndoRequested'>): TransitionResult {
  if (d.base.status !== SagaStatus.COMPLETED) return d.ignore(`saga is ${d.base.status}, not COMPLETED`);
  const pivot = succeededPivot(d);
  if (pivot !== null) return d.ignore(`past the pivot step "${pivot.name}": its effects cannot be undone`);
  d.state.output = null;
  d.record(HistoryType.UndoRequested, null, null, { by: event.by, reason: event.reason });
  enterCompensating(
    d,
    { step: null, code: UNDO_REQUESTED, message: event.reason, transient: false },
    `undo requested by ${event.by}: ${event.reason}`,
  );
  return d.result();
}

// ---------------------------------------------------------------------------------------------------------------
// Fan-outs: the step's own attempt computes the list (FanOutStarted); then each item is a step of its own.
// ---------------------------------------------------------------------------------------------------------------

function onFanOutStarted(d: Draft, event: EventOf<'FanOutStarted'>): TransitionResult {
  const illegal = checkRunOutcome(d, event.step, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  if (!isFanOut(def)) return d.ignore(`step "${event.step}" is not a fan-out`);
  if (d.step(event.step).fanOut) return d.ignore(`the items of step "${event.step}" are already known`);
  const { items, keys } = event;
  if (!Array.isArray(items) || items.length > MAX_FAN_OUT_ITEMS) {
    return d.ignore(`step "${event.step}": items must be an array of at most ${MAX_FAN_OUT_ITEMS}`);
  }
  if (def.fanOut.keyed !== (keys !== undefined) || (keys !== undefined && keys.length !== items.length)) {
    return d.ignore(`step "${event.step}": ${def.fanOut.keyed ? 'one key per item' : 'no keys'} expected`);
  }
  if (d.state.status !== SagaStatus.RUNNING) {
    // The saga began compensating while the agent computed the list: no item runs.
    const step = d.edit(event.step);
    step.status = StepStatus.FAILED;
    step.error = fanOutAbandoned();
    step.outcomeUnknown = false;
    d.record(HistoryType.StepFailed, event.step, event.attempt, { error: step.error });
    continueCompensation(d);
    return d.result();
  }
  const step = d.edit(event.step);
  step.status = StepStatus.RUNNING;
  step.error = null;
  step.outcomeUnknown = false;
  step.fanOut = newFanOut(items.length);
  d.commands.push({ type: 'StartFanOut', step: event.step, attempt: event.attempt, items, keys: keys ?? null });
  d.record(HistoryType.FanOutStarted, event.step, event.attempt, { count: items.length });
  if (items.length === 0) {
    completeFanOut(d, event.step);
    return d.result();
  }
  dispatchItems(d, event.step);
  return d.result();
}

function onItemStarted(d: Draft, event: EventOf<'StepStarted'>, index: number): TransitionResult {
  const item = d.step(event.step).fanOut!.items[index];
  const where = itemLabel(event.step, index);
  if (event.phase === StepPhase.RUN) {
    if (item.status !== StepStatus.SCHEDULED && item.status !== StepStatus.RETRYING) {
      return d.ignore(`${where} is ${item.status}`);
    }
    if (event.attempt !== item.attempt) return d.ignore(staleAttempt(where, event.attempt, item.attempt));
    d.updateItem(event.step, index, (it) => {
      it.status = StepStatus.RUNNING;
    });
    d.record(HistoryType.StepStarted, event.step, event.attempt, null, index);
    return d.result();
  }
  const comp = item.compensation;
  if (comp?.status !== CompensationStatus.SCHEDULED && comp?.status !== CompensationStatus.RETRYING) {
    return d.ignore(`compensation of ${where} is ${comp?.status ?? 'not dispatched'}`);
  }
  if (event.attempt !== comp.attempt) return d.ignore(staleAttempt(where, event.attempt, comp.attempt));
  d.updateItem(event.step, index, (it) => {
    it.compensation!.status = CompensationStatus.RUNNING;
  });
  d.record(HistoryType.CompensationStarted, event.step, event.attempt, null, index);
  return d.result();
}

function onItemSucceeded(d: Draft, event: EventOf<'StepSucceeded'>, index: number): TransitionResult {
  const illegal = checkItemRunOutcome(d, event.step, index, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  d.updateItem(event.step, index, (it) => {
    it.status = StepStatus.SUCCEEDED;
    it.output = event.output;
    it.error = null;
    it.outcomeUnknown = false;
  });
  d.record(HistoryType.StepSucceeded, event.step, event.attempt, null, index);
  const step = d.step(event.step);
  if (d.state.status === SagaStatus.RUNNING && step.status === StepStatus.RUNNING) {
    if (step.fanOut!.succeeded === step.fanOut!.items.length) completeFanOut(d, event.step);
    else dispatchItems(d, event.step);
    return d.result();
  }
  // COMPENSATING: a late success, undone with the others. FAILED: recorded only.
  continueCompensation(d);
  return d.result();
}

function onItemFailed(d: Draft, event: EventOf<'StepFailed'>, index: number): TransitionResult {
  const illegal = checkItemRunOutcome(d, event.step, index, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  const current = d.step(event.step).fanOut!.items[index];
  const { error } = event;
  // An item that killed its agent is a death of its step: its items run alone from then on, and POISONED ends it.
  if (isDeath(error)) d.edit(event.step).deaths = (d.base.steps[event.step].deaths ?? 0) + 1;
  const definite = isDefiniteFailure(def.retry, error);
  const postPivot = isPostPivot(d, event.step);
  if (
    d.base.status === SagaStatus.RUNNING &&
    !definite &&
    (postPivot || hasAttemptsLeft(def.retry, current.attempt, current.attemptBase))
  ) {
    const delayMs = computeBackoffMs(
      def.retry,
      current.attempt - current.attemptBase,
      d.env.random(),
      error.retryAfterMs,
    );
    const next = current.attempt + 1;
    d.updateItem(event.step, index, (it) => {
      it.status = StepStatus.RETRYING;
      it.attempt = next;
      it.error = error;
      it.outcomeUnknown = true;
    });
    d.record(HistoryType.StepFailed, event.step, event.attempt, { error }, index);
    d.record(HistoryType.StepRetryScheduled, event.step, next, { delayMs }, index);
    d.dispatch(def, StepPhase.RUN, next, delayMs, index);
    return d.result();
  }
  d.updateItem(event.step, index, (it) => {
    it.status = StepStatus.FAILED;
    it.error = error;
    // A definite "no" had no effect to undo; exhausted retries or a timeout may have had one.
    it.outcomeUnknown = !definite || error.code === OUTPUT_INVALID;
  });
  d.record(HistoryType.StepFailed, event.step, event.attempt, { error }, index);
  if (d.state.status === SagaStatus.RUNNING && d.step(event.step).status === StepStatus.RUNNING) {
    // One item failing for good fails the step: the items done are undone, then the earlier steps.
    const stepError: ErrorInfo = { ...error, message: `item ${index}: ${error.message}` };
    const step = d.edit(event.step);
    step.status = StepStatus.FAILED;
    step.error = stepError;
    step.outcomeUnknown = false;
    d.record(HistoryType.StepFailed, event.step, step.attempt, { error: stepError, item: index });
    stepFailedForGood(d, event.step, stepError, definite);
    return d.result();
  }
  continueCompensation(d);
  return d.result();
}

function onItemCompensationSucceeded(
  d: Draft,
  event: EventOf<'CompensationSucceeded'>,
  index: number,
): TransitionResult {
  const illegal = checkItemUndoOutcome(d, event.step, index, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  d.updateItem(event.step, index, (it) => {
    it.compensation!.status = CompensationStatus.SUCCEEDED;
    it.compensation!.error = null;
    it.status = StepStatus.COMPENSATED;
  });
  d.record(HistoryType.CompensationSucceeded, event.step, event.attempt, null, index);
  settleFanOutUndo(d, event.step);
  continueCompensation(d);
  return d.result();
}

function onItemCompensationFailed(d: Draft, event: EventOf<'CompensationFailed'>, index: number): TransitionResult {
  const illegal = checkItemUndoOutcome(d, event.step, index, event.attempt);
  if (illegal !== null) return d.ignore(illegal);
  const def = d.def.stepsByName[event.step];
  const policy = def.compensationRetry;
  const { error } = event;
  if (isDeath(error)) d.edit(event.step).deaths = (d.base.steps[event.step].deaths ?? 0) + 1;
  const comp = d.step(event.step).fanOut!.items[index].compensation!;
  if (!isDefiniteFailure(policy, error) && hasAttemptsLeft(policy, comp.attempt, comp.attemptBase)) {
    const delayMs = computeBackoffMs(policy, comp.attempt - comp.attemptBase, d.env.random(), error.retryAfterMs);
    const next = comp.attempt + 1;
    d.updateItem(event.step, index, (it) => {
      it.compensation!.status = CompensationStatus.RETRYING;
      it.compensation!.attempt = next;
      it.compensation!.error = error;
    });
    d.record(HistoryType.CompensationFailed, event.step, event.attempt, { error }, index);
    d.record(HistoryType.CompensationRetryScheduled, event.step, next, { delayMs }, index);
    d.dispatch(def, StepPhase.UNDO, next, delayMs, index);
    return d.result();
  }
  d.updateItem(event.step, index, (it) => {
    it.compensation!.status = CompensationStatus.FAILED;
    it.compensation!.error = error;
    it.status = StepStatus.COMPENSATION_FAILED;
  });
  d.record(HistoryType.CompensationFailed, event.step, event.attempt, { error }, index);
  const step = d.edit(event.step);
  if (step.compensation) {
    step.compensation = { ...step.compensation, error: { ...error, message: `item ${index}: ${error.message}` } };
  }
  settleFanOutUndo(d, event.step);
  continueCompensation(d);
  return d.result();
}

/** An operator declares undone by hand the FAILED compensation of one item, or of every item that has one. */
function resolveItems(d: Draft, event: EventOf<'CompensationResolved'>): string | null {
  const fanOut = d.step(event.step).fanOut!;
  const failed = (it: ItemState) => it.compensation?.status === CompensationStatus.FAILED;
  let indexes: number[];
  if (event.item !== undefined) {
    const item = fanOut.items[event.item];
    if (!failed(item)) {
      return `compensation of ${itemLabel(event.step, event.item)} is ${item.compensation?.status ?? 'not dispatched'}`;
    }
    indexes = [event.item];
  } else {
    if (fanOut.undoFailed === 0) return `no item of step "${event.step}" has a FAILED compensation`;
    indexes = [];
    fanOut.items.forEach((it, index) => {
      if (failed(it)) indexes.push(index);
    });
  }
  for (const index of indexes) {
    d.updateItem(event.step, index, (it) => {
      it.compensation!.status = CompensationStatus.RESOLVED;
      it.status = StepStatus.COMPENSATED;
    });
    d.record(HistoryType.CompensationResolved, event.step, null, { by: event.by, reason: event.reason }, index);
  }
  settleFanOutUndo(d, event.step);
  return null;
}

/** Dispatches PENDING items, in order, while fewer than `concurrency` run. Only while the saga goes forward. */
function dispatchItems(d: Draft, name: string): void {
  if (d.state.status !== SagaStatus.RUNNING) return;
  const def = d.def.stepsByName[name] as StepSpec & { fanOut: FanOutSpec };
  const limit = def.fanOut.concurrency;
  let fanOut = d.step(name).fanOut!;
  while (fanOut.running < limit && fanOut.next < fanOut.items.length) {
    const index = fanOut.next;
    d.editFanOut(name).next = index + 1;
    fanOut = d.step(name).fanOut!;
    if (fanOut.items[index].status !== StepStatus.PENDING) continue;
    let attempt = 0;
    d.updateItem(name, index, (it) => {
      it.attempt += 1;
      it.status = StepStatus.SCHEDULED;
      it.error = null;
      attempt = it.attempt;
    });
    d.dispatch(def, StepPhase.RUN, attempt, 0, index);
    d.record(HistoryType.StepScheduled, name, attempt, null, index);
    fanOut = d.step(name).fanOut!;
  }
}

/** Every item SUCCEEDED: the step did, its output the items' outputs in order. */
function completeFanOut(d: Draft, name: string): void {
  const step = d.edit(name);
  step.status = StepStatus.SUCCEEDED;
  step.output = step.fanOut!.items.map((it) => it.output);
  step.error = null;
  step.outcomeUnknown = false;
  d.record(HistoryType.StepSucceeded, name, step.attempt, { items: step.fanOut!.items.length });
  advance(d);
}

/**
 * Dispatches the undos of the items that need one, from the last item down, while fewer than `concurrency` are in
 * flight. The first one puts the step COMPENSATING.
 */
function dispatchItemUndos(d: Draft, name: string): void {
  const def = d.def.stepsByName[name] as StepSpec & { fanOut: FanOutSpec };
  const limit = def.fanOut.concurrency;
  if (d.step(name).status !== StepStatus.COMPENSATING) {
    const step = d.edit(name);
    step.status = StepStatus.COMPENSATING;
    step.compensation = { status: CompensationStatus.RUNNING, attempt: 0, attemptBase: 0, error: null };
    d.record(HistoryType.CompensationScheduled, name, null, { items: step.fanOut!.undoable });
  }
  let fanOut = d.step(name).fanOut!;
  // The cursor only passes items that need no undo now; should one need it later, look again from the top once.
  let rewound = false;
  while (fanOut.undoing < limit && fanOut.undoable > 0) {
    if (fanOut.undoNext < 0) {
      if (rewound) return;
      rewound = true;
      d.editFanOut(name).undoNext = fanOut.items.length - 1;
      fanOut = d.step(name).fanOut!;
    }
    const index = fanOut.undoNext;
    d.editFanOut(name).undoNext = index - 1;
    fanOut = d.step(name).fanOut!;
    if (!itemMayNeedUndo(fanOut.items[index])) continue;
    d.updateItem(name, index, (it) => {
      it.status = StepStatus.COMPENSATING;
      it.compensation = { status: CompensationStatus.SCHEDULED, attempt: 1, attemptBase: 0, error: null };
    });
    d.dispatch(def, StepPhase.UNDO, 1, 0, index);
    d.record(HistoryType.CompensationScheduled, name, 1, null, index);
    fanOut = d.step(name).fanOut!;
  }
}

/** An operator's retry: every item whose compensation FAILED gets a new round of attempts. */
function retryItemUndos(d: Draft, name: string): void {
  const def = d.def.stepsByName[name];
  const step = d.edit(name);
  step.status = StepStatus.COMPENSATING;
  step.compensation = { status: CompensationStatus.RUNNING, attempt: 0, attemptBase: 0, error: null };
  const failed: number[] = [];
  step.fanOut!.items.forEach((it, index) => {
    if (it.compensation?.status === CompensationStatus.FAILED) failed.push(index);
  });
  for (const index of failed) {
    let attempt = 0;
    d.updateItem(name, index, (it) => {
      const prev = it.compensation!.attempt;
      it.status = StepStatus.COMPENSATING;
      it.compensation = { status: CompensationStatus.SCHEDULED, attempt: prev + 1, attemptBase: prev, error: null };
      attempt = prev + 1;
    });
    d.dispatch(def, StepPhase.UNDO, attempt, 0, index);
    d.record(HistoryType.CompensationScheduled, name, attempt, null, index);
  }
}

/** An operator's retry of a fan-out that failed for good past the pivot: its FAILED items run again (a new round). */
function retryItems(d: Draft, name: string): void {
  const step = d.edit(name);
  step.status = StepStatus.RUNNING;
  const failed: number[] = [];
  step.fanOut!.items.forEach((it, index) => {
    if (it.status === StepStatus.FAILED) failed.push(index);
  });
  for (const index of failed) {
    d.updateItem(name, index, (it) => {
      it.status = StepStatus.PENDING;
      it.attemptBase = it.attempt;
      it.error = null;
      it.outcomeUnknown = false;
    });
  }
  if (failed.length > 0) d.editFanOut(name).next = Math.min(d.step(name).fanOut!.next, failed[0]);
  dispatchItems(d, name);
}

/**
 * The saga begins compensating while a fan-out's items run: no more item starts, an item waiting for a retry's
 * backoff gives up (its outcome unknown: it is undone), the items in flight are awaited. A fan-out that was still
 * running fails (`FAN_OUT_ABANDONED`).
 */
function abandonItems(d: Draft, name: string): void {
  if (d.step(name).status === StepStatus.RUNNING) {
    const step = d.edit(name);
    step.status = StepStatus.FAILED;
    step.error = fanOutAbandoned();
    step.outcomeUnknown = false;
    d.record(HistoryType.StepFailed, name, step.attempt, { error: step.error });
  }
  const retrying: number[] = [];
  d.step(name).fanOut!.items.forEach((it, index) => {
    if (it.status === StepStatus.RETRYING) retrying.push(index);
  });
  for (const index of retrying) {
    let attempt = 0;
    let error: ErrorInfo | null = null;
    d.updateItem(name, index, (it) => {
      it.status = StepStatus.FAILED;
      it.outcomeUnknown = true;
      attempt = it.attempt;
      error = it.error;
    });
    d.record(
      HistoryType.StepFailed,
      name,
      attempt,
      { error, reason: 'retry abandoned: the saga is compensating' },
      index,
    );
  }
}

/** The fan-out's undos are over (none in flight, none left): the step is COMPENSATED, or its compensation FAILED. */
function settleFanOutUndo(d: Draft, name: string): void {
  const step = d.step(name);
  const fanOut = step.fanOut!;
  if (step.status !== StepStatus.COMPENSATING && step.status !== StepStatus.COMPENSATION_FAILED) return;
  if (fanOut.undoing > 0) return;
  if (fanOut.undoFailed > 0) {
    if (step.status === StepStatus.COMPENSATION_FAILED) return;
    const edited = d.edit(name);
    edited.status = StepStatus.COMPENSATION_FAILED;
    edited.compensation = { ...edited.compensation!, status: CompensationStatus.FAILED };
    return;
  }
  if (fanOut.undoable > 0) return;
  const edited = d.edit(name);
  edited.status = StepStatus.COMPENSATED;
  edited.compensation = { ...edited.compensation!, status: CompensationStatus.SUCCEEDED, error: null };
  d.record(HistoryType.CompensationSucceeded, name, null, null);
}

function checkItemRunOutcome(d: Draft, name: string, index: number, attempt: number): string | null {
  const item = d.step(name).fanOut!.items[index];
  const where = itemLabel(name, index);
  if (!isItemInFlight(item)) return `${where} is ${item.status}`;
  if (attempt !== item.attempt) return staleAttempt(where, attempt, item.attempt);
  return null;
}

function checkItemUndoOutcome(d: Draft, name: string, index: number, attempt: number): string | null {
  const item = d.step(name).fanOut!.items[index];
  const where = itemLabel(name, index);
  if (!isItemCompensationInFlight(item)) {
    return `compensation of ${where} is ${item.compensation?.status ?? 'not dispatched'}`;
  }
  if (attempt !== item.compensation!.attempt) return staleAttempt(where, attempt, item.compensation!.attempt);
  return null;
}

function itemLabel(name: string, index: number): string {
  return `item ${index} of step "${name}"`;
}

function fanOutAbandoned(): ErrorInfo {
  return {
    name: 'FanOutAbandoned',
    code: FAN_OUT_ABANDONED,
    message: 'the saga began compensating while the items ran: no more item starts',
    retryable: false,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Moves shared by the handlers.
// ---------------------------------------------------------------------------------------------------------------

/**
 * Saga RUNNING: dispatches the PENDING steps of the first stage that is not settled (every step SUCCEEDED or
 * SKIPPED). A stage can settle at once (a wait whose signal was buffered); the next one follows. Every stage
 * settled: COMPLETED.
 */
function advance(d: Draft): void {
  if (d.state.status !== SagaStatus.RUNNING) return;
  for (const stage of d.def.stages) {
    if (isStageSettled(d, stage)) continue;
    for (const name of stage.steps) {
      if (d.step(name).status === StepStatus.PENDING) scheduleRun(d, name);
    }
    if (!isStageSettled(d, stage)) return;
  }
  d.state.status = SagaStatus.COMPLETED;
  d.state.output = stepOutputs(d.def, d.state);
  d.record(HistoryType.SagaCompleted, null, null, null);
}

/** The step has just ended FAILED (no more retries): what it means for the saga. */
function stepFailedForGood(d: Draft, name: string, error: ErrorInfo, definite: boolean): void {
  const status = d.state.status;
  switch (status) {
    case SagaStatus.RUNNING: {
      const sagaError: SagaError = { step: name, message: error.message, code: error.code, transient: !definite };
      // After the pivot only a definite "no" ends up here (anything else retries forever): an operator must act.
      if (isPostPivot(d, name)) enterFailed(d, sagaError);
      else enterCompensating(d, sagaError, `step "${name}" failed: ${error.message}`);
      return;
    }
    case SagaStatus.COMPENSATING:
      // A parallel sibling or an attempt in flight when the saga began compensating: it is awaited, not retried.
      continueCompensation(d);
      return;
    case SagaStatus.FAILED:
    case SagaStatus.COMPLETED:
    case SagaStatus.COMPENSATED:
    case SagaStatus.CANCELLED:
    case SagaStatus.DELAYED:
      return;
    default: {
      const _never: never = status;
      return;
    }
  }
}

function enterCompensating(d: Draft, error: SagaError, reason: string): void {
  d.state.status = SagaStatus.COMPENSATING;
  d.state.error = error;
  d.record(HistoryType.SagaCompensating, null, null, { reason });
  // A step waiting for a retry's backoff gives up now; its delayed job will find itself stale. Steps SCHEDULED or
  // RUNNING are awaited: their outcome is unknown until they report.
  for (const name of d.names()) {
    const current = d.step(name);
    const def = d.def.stepsByName[name];
    if (current.status === StepStatus.WAITING && isChild(def)) {
      // The child runs on: it is cancelled, and its end (CANCELLED, or COMPLETED if it was past its pivot, then
      // undone) ends the step.
      d.commands.push({ type: 'CancelChild', step: name, attempt: current.attempt, reason });
      d.record(HistoryType.ChildCancelRequested, name, current.attempt, { reason });
      continue;
    }
    if (current.fanOut) {
      abandonItems(d, name);
      continue;
    }
    if (current.status === StepStatus.WAITING) {
      // A wait has no effect of its own: it gives up, with nothing to undo.
      const error = waitAbandoned();
      const step = d.edit(name);
      step.status = StepStatus.FAILED;
      step.error = error;
      step.outcomeUnknown = false;
      d.record(HistoryType.StepFailed, name, step.attempt, { error });
      continue;
    }
    if (current.status === StepStatus.SLEEPING) {
      // Nor has a sleep: its timer is abandoned (the row's deadline goes with the status).
      abandonTimer(d, name);
      continue;
    }
    if (current.status !== StepStatus.RETRYING) continue;
    const step = d.edit(name);
    step.status = StepStatus.FAILED;
    step.outcomeUnknown = true;
    d.record(HistoryType.StepFailed, name, step.attempt, {
      error: step.error,
      reason: 'retry abandoned: the saga is compensating',
    });
  }
  continueCompensation(d);
}

function enterFailed(d: Draft, error: SagaError): void {
  d.state.status = SagaStatus.FAILED;
  d.state.error = error;
  d.record(HistoryType.SagaFailed, null, null, { error });
  d.commands.push({ type: 'RaiseAlert', error });
}

/**
 * Saga COMPENSATING: walks the stages backwards to the first one not finished, and dispatches its undos once no
 * forward attempt from that stage on is in flight. A stage is finished when none of its steps needs undoing, none
 * is in flight (either way) and none's compensation FAILED. A FAILED compensation, once its stage has nothing in
 * flight, makes the saga FAILED. Every stage finished: COMPENSATED, or CANCELLED when an operator asked.
 */
function continueCompensation(d: Draft): void {
  if (d.state.status !== SagaStatus.COMPENSATING) return;
  const stages = d.def.stages;
  for (let k = stages.length - 1; k >= 0; k--) {
    const stage = stages[k];
    if (isStageFinished(d, stage)) continue;
    if (stages.slice(k).some((s) => s.steps.some((name) => stepInFlight(d, name)))) return;
    for (const name of stage.steps) {
      if (!needsUndo(d, name)) continue;
      if (d.step(name).fanOut) dispatchItemUndos(d, name);
      else dispatchUndo(d, name, 1, 0);
    }
    if (stage.steps.some((name) => stepCompensationInFlight(d, name))) return;
    const failed = stage.steps.find((name) => stepCompensationFailed(d, name));
    if (failed !== undefined) {
      const error = d.step(failed).compensation?.error ?? null;
      const policy = d.def.stepsByName[failed].compensationRetry;
      enterFailed(d, {
        step: failed,
        message: error?.message ?? 'compensation failed',
        code: error?.code ?? 'COMPENSATION_FAILED',
        transient: error !== null && !isDefiniteFailure(policy, error),
      });
    }
    return;
  }
  if (d.state.cancelRequested) {
    d.state.status = SagaStatus.CANCELLED;
    d.record(HistoryType.SagaCancelled, null, null, null);
  } else {
    d.state.status = SagaStatus.COMPENSATED;
    d.record(HistoryType.SagaCompensated, null, null, null);
  }
}

function scheduleRun(d: Draft, name: string): void {
  const def = d.def.stepsByName[name];
  const step = d.edit(name);
  step.attempt += 1;
  // (typeof: a definition built by hand before wait steps existed has no `signal` field at all.)
  if (typeof def.signal === 'string' && !def.conditional) {
    beginWait(d, name);
    return;
  }
  if (isSleep(def) && !def.conditional && !def.sleep.until) {
    // A fixed length needs no code: the timer is set in this commit, on the database clock.
    beginSleep(d, name, undefined);
    return;
  }
  // An action, or a conditional wait whose condition the agent evaluates first (then WaitStarted or StepSkipped).
  step.status = StepStatus.SCHEDULED;
  d.dispatch(def, StepPhase.RUN, step.attempt, 0);
  d.record(HistoryType.StepScheduled, name, step.attempt, null);
}

/** A wait step's attempt begins: a buffered signal ends it at once, in this same commit; else it goes WAITING. */
function beginWait(d: Draft, name: string): void {
  const def = d.def.stepsByName[name];
  const signalName = def.signal!;
  const step = d.edit(name);
  const pending = d.state.pendingSignals ?? [];
  const buffered = pending.findIndex((p) => p.signal === signalName && (p.step === undefined || p.step === name));
  if (buffered >= 0) {
    const signal = pending[buffered];
    d.state.pendingSignals = pending.filter((_, i) => i !== buffered);
    step.status = StepStatus.SUCCEEDED;
    step.output = signal.payload;
    step.error = null;
    step.outcomeUnknown = false;
    d.record(HistoryType.SignalReceived, name, step.attempt, {
      signal: signalName,
      buffered: true,
      ...(signal.by === undefined ? {} : { by: signal.by }),
    });
    return;
  }
  step.status = StepStatus.WAITING;
  d.commands.push({
    type: 'AwaitSignal',
    step: name,
    signal: signalName,
    attempt: step.attempt,
    timeoutMs: def.timeoutMs,
  });
  d.record(HistoryType.StepWaiting, name, step.attempt, { signal: signalName, timeoutMs: def.timeoutMs });
}

/** A sleep step's attempt begins: SLEEPING until `until`, or for its duration (a timer on the step row). */
function beginSleep(d: Draft, name: string, until: string | undefined): void {
  const def = d.def.stepsByName[name];
  const step = d.edit(name);
  step.status = StepStatus.SLEEPING;
  const when = until !== undefined ? { until } : { delayMs: def.sleep!.durationMs! };
  d.commands.push({ type: 'StartTimer', step: name, attempt: step.attempt, ...when });
  d.record(HistoryType.StepSleeping, name, step.attempt, when);
}

/** The sleep gives up: its timer is dropped (a sleep has no effect, so nothing to undo). */
function abandonTimer(d: Draft, name: string): void {
  const step = d.edit(name);
  step.status = StepStatus.FAILED;
  step.error = {
    name: 'TimerAbandoned',
    code: TIMER_ABANDONED,
    message: 'the saga began compensating while the step slept',
    retryable: false,
  };
  step.outcomeUnknown = false;
  d.record(HistoryType.StepFailed, name, step.attempt, { error: step.error });
}

/** The supervisor found a started attempt without an outcome past its deadline: its agent died (or hung). */
function isDeath(error: ErrorInfo): boolean {
  return error.code === DEADLINE_EXCEEDED || error.code === POISONED;
}

function isSleep(def: StepSpec): def is StepSpec & { sleep: SleepSpec } {
  return typeof def.sleep === 'object' && def.sleep !== null;
}

function waitAbandoned(): ErrorInfo {
  return {
    name: 'WaitAbandoned',
    code: WAIT_ABANDONED,
    message: 'the saga began compensating while the step waited for its signal',
    retryable: false,
  };
}

function dispatchUndo(d: Draft, name: string, attempt: number, attemptBase: number): void {
  const step = d.edit(name);
  step.status = StepStatus.COMPENSATING;
  step.compensation = { status: CompensationStatus.SCHEDULED, attempt, attemptBase, error: null };
  const def = d.def.stepsByName[name];
  if (isChild(def)) {
    // No job: the child undoes its own steps, and its end (COMPENSATED) is this compensation's success.
    const reason = d.state.error?.message ?? 'the saga is compensating';
    d.commands.push({ type: 'UndoChild', step: name, attempt: step.attempt, compensationAttempt: attempt, reason });
    d.record(HistoryType.CompensationScheduled, name, attempt, { child: true });
    return;
  }
  d.dispatch(def, StepPhase.UNDO, attempt, 0);
  d.record(HistoryType.CompensationScheduled, name, attempt, null);
}

// ---------------------------------------------------------------------------------------------------------------
// Predicates.
// ---------------------------------------------------------------------------------------------------------------

/** Why an outcome of the step's action is not applicable, or null when it is. */
function checkRunOutcome(d: Draft, name: string, attempt: number): string | null {
  const step = d.lookup(name);
  if (!step) return `unknown step "${name}"`;
  if (!isStepInFlight(step)) return `step "${name}" is ${step.status}`;
  if (step.status === StepStatus.WAITING) return `step "${name}" is WAITING: only its signal or deadline ends it`;
  if (step.status === StepStatus.SLEEPING) return `step "${name}" is SLEEPING: only its timer ends it`;
  if (attempt !== step.attempt) return staleAttempt(name, attempt, step.attempt);
  return null;
}

/** Why an outcome of the step's compensation is not applicable, or null when it is. */
function checkUndoOutcome(d: Draft, name: string, attempt: number): string | null {
  const step = d.lookup(name);
  if (!step) return `unknown step "${name}"`;
  if (!isCompensationInFlight(step)) {
    return `compensation of step "${name}" is ${step.compensation?.status ?? 'not dispatched'}`;
  }
  if (attempt !== step.compensation!.attempt) return staleAttempt(name, attempt, step.compensation!.attempt);
  return null;
}

function staleAttempt(name: string, got: number, current: number): string {
  const what = name.startsWith('item ') ? name : `step "${name}"`;
  return `stale attempt ${got} of ${what} (current is ${current})`;
}

function isStageSettled(d: Draft, stage: StageDefinition): boolean {
  return stage.steps.every((name) => {
    const status = d.step(name).status;
    return status === StepStatus.SUCCEEDED || status === StepStatus.SKIPPED;
  });
}

function isStageFinished(d: Draft, stage: StageDefinition): boolean {
  return stage.steps.every(
    (name) =>
      !needsUndo(d, name) &&
      !stepInFlight(d, name) &&
      !stepCompensationInFlight(d, name) &&
      !stepCompensationFailed(d, name),
  );
}

/**
 * It may have taken effect, it can be undone, and its undo has not been dispatched yet. A fan-out: one of its items
 * (whose undos go out `concurrency` at a time). A child step: only once its child COMPLETED (a child step that
 * failed started no child, or its child undid itself).
 */
function needsUndo(d: Draft, name: string): boolean {
  const step = d.step(name);
  const def = d.def.stepsByName[name];
  if (!def.compensable || step.skipped === true) return false;
  if (step.fanOut) return step.fanOut.undoable > 0;
  if (isChild(def)) return step.status === StepStatus.SUCCEEDED && step.compensation === null;
  const mayHaveEffect =
    step.status === StepStatus.SUCCEEDED || (step.status === StepStatus.FAILED && step.outcomeUnknown);
  return mayHaveEffect && step.compensation === null;
}

/** An attempt of the step's action is in flight; of a fan-out, an attempt of one of its items. */
function stepInFlight(d: Draft, name: string): boolean {
  const step = d.step(name);
  if (step.fanOut) return step.fanOut.running > 0;
  return isStepInFlight(step);
}

/** An attempt of the step's compensation is in flight; of a fan-out, one of its items'. */
function stepCompensationInFlight(d: Draft, name: string): boolean {
  const step = d.step(name);
  if (step.fanOut) return step.fanOut.undoing > 0;
  return isCompensationInFlight(step);
}

/** The step's compensation FAILED; of a fan-out, one of its items'. */
function stepCompensationFailed(d: Draft, name: string): boolean {
  const step = d.step(name);
  if (step.fanOut) return step.fanOut.undoFailed > 0;
  return step.compensation?.status === CompensationStatus.FAILED;
}

function isChild(def: StepSpec): def is StepSpec & { child: ChildSpec } {
  return typeof def.child === 'object' && def.child !== null;
}

function isFanOut(def: StepSpec): def is StepSpec & { fanOut: FanOutSpec } {
  return typeof def.fanOut === 'object' && def.fanOut !== null;
}

/**
 * Why an event's `item` does not fit the step (an item of a step that has none, or no item for a fan-out whose
 * items run), or null. A fan-out's own attempt (its list, evaluated by the agent) has no item.
 */
function checkItemRouting(d: Draft, name: string, item: number | undefined): string | null {
  const step = d.lookup(name);
  if (!step) return `unknown step "${name}"`;
  if (item === undefined) {
    return step.fanOut ? `step "${name}" runs its items: an outcome must name one (item)` : null;
  }
  if (!step.fanOut) return `step "${name}" has no items`;
  if (!Number.isSafeInteger(item) || item < 0 || item >= step.fanOut.items.length) {
    return `step "${name}" has no item ${String(item)} (it has ${step.fanOut.items.length})`;
  }
  return null;
}

/** The SUCCEEDED pivot step of the earliest stage, if any. */
function succeededPivot(d: Draft): StepSpec | null {
  let found: StepSpec | null = null;
  for (const def of d.def.steps) {
    if (!def.pivot || d.step(def.name).status !== StepStatus.SUCCEEDED) continue;
    if (found === null || def.stage < found.stage) found = def;
  }
  return found;
}

/** The step belongs to a stage after the stage of a SUCCEEDED pivot: it is retried, never compensated. */
function isPostPivot(d: Draft, name: string): boolean {
  const pivot = succeededPivot(d);
  return pivot !== null && d.def.stepsByName[name].stage > pivot.stage;
}

function ignore(state: SagaState, reason: string): TransitionResult {
  return { state, commands: [], history: [], ignored: reason };
}

// ---------------------------------------------------------------------------------------------------------------
// The draft: a copy of the state that the handlers edit, copying each step on its first edit (copy-on-write), so
// that the input is never mutated and unchanged steps keep their identity (the store writes only changed rows).
// ---------------------------------------------------------------------------------------------------------------

class Draft {
  readonly state: SagaState;
  readonly commands: SagaCommand[] = [];
  readonly history: HistoryEntry[] = [];
  private readonly copied = new Set<string>();
  private readonly copiedFanOuts = new Set<string>();
  private readonly copiedItems = new Set<string>();

  constructor(
    readonly def: SagaSpec,
    readonly base: SagaState,
    readonly env: TransitionEnv,
  ) {
    this.state = { ...base, steps: { ...base.steps } };
  }

  /** The step's state, or undefined when the definition or the state does not know the name. */
  lookup(name: string): StepState | undefined {
    if (!Object.hasOwn(this.def.stepsByName, name) || !Object.hasOwn(this.state.steps, name)) return undefined;
    return this.state.steps[name];
  }

  /** Names of the definition's steps, in declaration order. */
  names(): string[] {
    return this.def.steps.map((s) => s.name);
  }

  /** The current (possibly edited) state of a step of the definition, for reading. */
  step(name: string): Readonly<StepState> {
    const step = this.state.steps[name];
    if (step === undefined) throw new Error(`state has no step "${name}" of saga "${this.def.name}"`);
    return step;
  }

  /** The step's state, copied on first edit: safe to assign to. */
  edit(name: string): StepState {
    if (!this.copied.has(name)) {
      const current = this.step(name);
      this.state.steps[name] = {
        ...current,
        compensation: current.compensation === null ? null : { ...current.compensation },
      };
      this.copied.add(name);
    }
    return this.state.steps[name];
  }

  /** The step's compensation state, copied on first edit. The step must have one. */
  editCompensation(name: string): NonNullable<StepState['compensation']> {
    const compensation = this.edit(name).compensation;
    if (compensation === null) throw new Error(`step "${name}" has no compensation state`);
    return compensation;
  }

  /** The fan-out state of a step, copied (with its items array) on first edit. The step must have one. */
  editFanOut(name: string): FanOutState {
    const step = this.edit(name);
    if (!step.fanOut) throw new Error(`step "${name}" has no items`);
    if (!this.copiedFanOuts.has(name)) {
      step.fanOut = { ...step.fanOut, items: step.fanOut.items.slice() };
      this.copiedFanOuts.add(name);
    }
    return step.fanOut;
  }

  /**
   * Edits one item of a fan-out (copied on first edit) and keeps the fan-out's counters in step: every change of
   * an item goes through here.
   */
  updateItem(name: string, index: number, change: (item: ItemState) => void): void {
    const fanOut = this.editFanOut(name);
    const key = `${name}\u0000${index}`;
    if (!this.copiedItems.has(key)) {
      const current = fanOut.items[index];
      fanOut.items[index] = {
        ...current,
        compensation: current.compensation === null ? null : { ...current.compensation },
      };
      this.copiedItems.add(key);
    }
    const item = fanOut.items[index];
    const before = tallyItem(item);
    change(item);
    const after = tallyItem(item);
    fanOut.running += after.running - before.running;
    fanOut.undoing += after.undoing - before.undoing;
    fanOut.succeeded += after.succeeded - before.succeeded;
    fanOut.undoable += after.undoable - before.undoable;
    fanOut.undoFailed += after.undoFailed - before.undoFailed;
  }

  record(
    type: HistoryType,
    step: string | null,
    attempt: number | null,
    data: Record<string, unknown> | null,
    item?: number,
  ): void {
    const seq = this.base.eventCount + this.history.length + 1;
    this.history.push(
      item === undefined ? { seq, type, step, attempt, data } : { seq, type, step, attempt, data, item },
    );
  }

  dispatch(def: StepSpec, phase: StepPhase, attempt: number, delayMs: number, item?: number): void {
    const timeoutMs = phase === StepPhase.RUN ? def.timeoutMs : def.compensationTimeoutMs;
    this.commands.push({
      type: 'DispatchStep',
      step: def.name,
      phase,
      attempt,
      delayMs,
      timeoutMs,
      ...(item === undefined ? {} : { item }),
    });
  }

  ignore(reason: string): TransitionResult {
    return ignore(this.base, reason);
  }

  result(): TransitionResult {
    this.state.eventCount = this.base.eventCount + this.history.length;
    return { state: this.state, commands: this.commands, history: this.history, ignored: null };
  }
}
