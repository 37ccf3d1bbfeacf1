import type { SearchAttributeSpec } from './search';
import type { CompensationStatus, SagaStatus, StepPhase, StepStatus } from './status';

// ---------------------------------------------------------------------------------------------------------------
// Errors, as plain data. Errors cross queues and the database as this shape, never through `instanceof`.
// ---------------------------------------------------------------------------------------------------------------

export interface ErrorInfo {
  /** The error class's literal name (`NonRetryableError`, `RetryableError`, `TimeoutError`, `Error`, ...). */
  name: string;
  /** A stable, machine-readable code (`ACCOUNT_CLOSED`, `TIMEOUT`, `UNHANDLED`, ...). */
  code: string;
  message: string;
  /** false only for a definite "no" (NonRetryableError, or a code listed in the policy's `nonRetryableCodes`). */
  retryable: boolean;
  /** A participant's hint for the next attempt (RetryableError's `retryAfter`, HTTP `Retry-After`). */
  retryAfterMs?: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Definitions: what the SDK builds and the engine reads. Frozen data plus the author's functions.
// ---------------------------------------------------------------------------------------------------------------

/** A retry policy with every default filled in. Durations are milliseconds. */
export interface ResolvedRetryPolicy {
  /** Total attempts including the first; 0 means unlimited. */
  maximumAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
  /** Fraction in [0, 1]: each delay is spread uniformly over ±jitter of its value. */
  jitter: number;
  /** Error codes that are a definite "no" even when thrown as retryable. */
  nonRetryableCodes: readonly string[];
}

/** What a step's `run` receives. `steps` holds earlier steps' outputs by their camelCase key. */
export interface StepContext<I = unknown, S = Record<string, unknown>> {
  readonly sagaId: string;
  readonly sagaType: string;
  readonly step: string;
  readonly input: I;
  readonly steps: S;
  /** 1 for the first attempt. */
  readonly attempt: number;
  /**
   * Idempotency key of the action: `<sagaId>:<step>`, the same on every attempt; `:rerun-<n>` is appended once an
   * operator re-ran the step (see `stepKey`).
   */
  readonly key: string;
  /** Idempotency key of the compensation: `<sagaId>:<step>:undo`. */
  readonly undoKey: string;
  /** Aborted when the step's timeout elapses or the agent shuts down. */
  readonly signal: AbortSignal;
  /**
   * W3C traceparent of this attempt's span, to hand to the participant (HTTP header `traceparent`, message
   * metadata) so its work joins the saga's trace. Undefined when tracing is off. The attempt's span is also the
   * active OpenTelemetry context while the handler runs, so instrumented clients pick it up by themselves.
   */
  readonly traceparent?: string;
}

/**
 * What one item of a fan-out step receives: the step context of the item (its `key` is
 * `<sagaId>:<step>:<index or itemKey>`, its `attempt` the item's), plus the item and its index in the list.
 */
export interface ItemContext<I = unknown, S = Record<string, unknown>, T = unknown> extends StepContext<I, S> {
  readonly item: T;
  /** 0-based position in the list. */
  readonly index: number;
}

/** What the compensation of one item receives: the item context plus the item's output, when it is known. */
export interface ItemCompensationContext<
  I = unknown,
  S = Record<string, unknown>,
  T = unknown,
  O = unknown,
> extends ItemContext<I, S, T> {
  readonly output: O | undefined;
}

/** What a compensation receives: the step context plus the step's own output, when it is known. */
export interface CompensationContext<I = unknown, S = Record<string, unknown>, O = unknown> extends StepContext<I, S> {
  /** The step's output when it succeeded; undefined when its outcome is unknown (retries exhausted, timeout). */
  readonly output: O | undefined;
}

/** What a `when` condition sees: the saga input and the outputs of the steps before it. Must be pure. */
export interface ConditionContext<I = unknown, S = Record<string, unknown>> {
  readonly input: I;
  readonly steps: S;
}

// Handlers return their output or a Promise of it; `unknown` already covers both (spelling out
// `Promise<unknown> | unknown` is the same type, and trips no-redundant-type-constituents).
export type StepHandler = (ctx: StepContext<any, any>, deps: any) => unknown;
export type CompensationHandler = (ctx: CompensationContext<any, any, any>, deps: any) => unknown;
export type StepCondition = (ctx: ConditionContext<any, any>) => boolean;

/**
 * A step as data: everything the engine needs to drive it (the scheduler, the supervisor, the API and the
 * dashboard), without the author's functions. This is what a process publishes of its saga types (JSON), so that
 * processes without the saga's code can start, steer and show its instances.
 */
export interface StepSpec {
  /** kebab-case, persisted (step rows, job ids, idempotency keys): renaming needs a new definition version. */
  readonly name: string;
  /** camelCase accessor of its output in `ctx.steps`. */
  readonly key: string;
  /** Index of the stage the step belongs to (a stage is one step or one parallel group). */
  readonly stage: number;
  /** Position in declaration order, 0-based. */
  readonly position: number;
  /** Name of its parallel group, if any. */
  readonly group: string | null;
  readonly retry: ResolvedRetryPolicy;
  readonly compensationRetry: ResolvedRetryPolicy;
  readonly timeoutMs: number;
  readonly compensationTimeoutMs: number;
  /** The step has a compensation (`compensate`). */
  readonly compensable: boolean;
  /**
   * The step has a `when` condition. The agent evaluates it (it has the code) before it runs the step, or before a
   * wait step starts waiting, and reports `StepSkipped` when it is false.
   */
  readonly conditional: boolean;
  /** A human description of `when`, for the dashboard (the function itself is not shown). */
  readonly whenLabel: string | null;
  /** Point of no return: after this step succeeds, later failures are retried, never compensated. */
  readonly pivot: boolean;
  readonly description: string | null;
  /**
   * The name of the signal a wait step waits for (`.waitFor()`), or null for a step that runs an action. A wait
   * step's `run` is never called: when its stage comes it goes WAITING for at most `timeoutMs`, and the signal's
   * payload becomes its output. It is never retried (`retry` is unused).
   */
  readonly signal: string | null;
  /**
   * What a wait step does when its `timeoutMs` passes without the signal: `'fail'` (`SIGNAL_TIMEOUT`, a definite
   * "no"; absent means this) or `'continue'` (the step SUCCEEDED with the output `{ timedOut: true }`). Absent on
   * other steps, and on waits that fail (so that specs published before it existed keep their fingerprint).
   */
  readonly onTimeout?: WaitTimeoutPolicy;
  /** Set on a sleep step (`.sleep()`): how long, or that its wake-up time is computed (`until`). Absent otherwise. */
  readonly sleep?: SleepSpec | null;
  /**
   * Set on a child-saga step (`.child()`): the saga type and version it starts, and waits for the end of. Absent on
   * other steps (so that specs published before children existed keep their fingerprint).
   */
  readonly child?: ChildSpec | null;
  /** Set on a fan-out step (`.forEach()`): how its items run. Absent on other steps. */
  readonly fanOut?: FanOutSpec | null;
  /**
   * JSON Schema of the step's output (of each item's output, for a fan-out), derived from its `output` class by
   * the process that publishes the spec, so that a process without the code validates an operator's skip too.
   * Absent when the step declares no `output` class, and in code definitions (their `outputClass` is there).
   * Not part of the definition's fingerprint, like the input schema.
   */
  readonly outputSchema?: Record<string, unknown> | null;
}

/**
 * A child-saga step as data. When its stage comes the agent evaluates the author's `input` (code) and reports it
 * (`ChildRequested`); the engine then starts the child in the same commit that puts the step WAITING, with the
 * idempotency key `<parentId>:<step>` (so a retried report never starts a second child), and the step ends when the
 * child does: COMPLETED is the step's success (the child's output is the step's output), COMPENSATED or CANCELLED
 * a definite failure. Compensating the step undoes the child (`UndoRequested`: it goes COMPENSATED).
 */
export interface ChildSpec {
  /** The child's saga type (kebab-case). */
  readonly type: string;
  /** The child's definition version, pinned when the parent was built. */
  readonly version: number;
}

/**
 * A fan-out step as data. When its stage comes the agent evaluates the author's `items` (code) and reports the list
 * (`FanOutStarted`); the engine then runs the step's action once per item, at most `concurrency` at a time, each
 * item with its own attempts, retries (the step's `retry`), idempotency key and compensation. The step SUCCEEDED
 * when every item did (its output: the items' outputs in order); an item that fails for good fails the step, and
 * compensation undoes the items that may have taken effect, then the earlier steps.
 */
export interface FanOutSpec {
  /** At most this many items have an attempt (of the action, or of the compensation) in flight at once. */
  readonly concurrency: number;
  /**
   * The author names each item (`itemKey`): its idempotency key is `<sagaId>:<step>:<itemKey>` instead of
   * `<sagaId>:<step>:<index>`.
   */
  readonly keyed: boolean;
}

/** The most items a fan-out may have. */
export const MAX_FAN_OUT_ITEMS = 10_000;
/** The deepest a tree of child sagas may be (a saga with no child has depth 1). */
export const MAX_CHILD_DEPTH = 8;

/** What a wait does at its timeout (see StepSpec.onTimeout). */
export type WaitTimeoutPolicy = 'fail' | 'continue';

/**
 * A sleep step as data. A sleep runs no action: when its stage comes it goes SLEEPING, and the step row's deadline
 * (`saga_step.deadline_at`, on the database clock) is its wake-up time, which the supervisor's sweep turns into
 * `TimerFired`. Its output is `{ wokeAt, dueAt }` (ISO-8601).
 */
export interface SleepSpec {
  /** A fixed length, counted from when the sleep's stage comes (database clock); null when `until` computes it. */
  readonly durationMs: number | null;
  /**
   * The wake-up time is computed by the author's `until(ctx)` (code). The scheduler reads only data, so such a
   * sleep is dispatched to an agent like a conditional step: the agent evaluates `until` over the input and the
   * earlier outputs and reports the time as data (`SleepStarted`).
   */
  readonly until: boolean;
}

/** What the author's `until` of a sleep step returns: a Date, an ISO-8601 date-time with an offset, or epoch ms. */
export type SleepUntil = Date | string | number;
/** A sleep's `until`: pure and synchronous, over the input and the earlier outputs (like `when`). */
export type SleepUntilFn = (ctx: ConditionContext<any, any>) => SleepUntil;

/** A step with the author's code: its action, undo and condition. */
export interface StepDefinition extends StepSpec {
  readonly run: StepHandler;
  readonly compensate: CompensationHandler | null;
  readonly when: StepCondition | null;
  /** A sleep step's `until` (see SleepSpec.until); absent or null otherwise. */
  readonly until?: SleepUntilFn | null;
  /** A child step's input for the child, computed from the input and earlier outputs (pure, synchronous). */
  readonly childInput?: ((ctx: ConditionContext<any, any>) => unknown) | null;
  /** A child step's child definition (code), when this process has it: the agent validates the input with it. */
  readonly childDefinition?: SagaSpec | null;
  /** A fan-out step's list of items, computed from the input and earlier outputs (pure, synchronous). */
  readonly items?: ((ctx: ConditionContext<any, any>) => readonly unknown[]) | null;
  /** A fan-out step's item keys (see FanOutSpec.keyed). */
  readonly itemKey?: ((item: any, index: number) => string) | null;
  /**
   * The class-validator class of the step's output (of each item's output, for a fan-out), when it declares one
   * (`output`): the agent checks what `run` returns against it (`OUTPUT_INVALID`), an operator's skip too.
   */
  readonly outputClass?: (new () => unknown) | null;
}

export interface StageDefinition {
  readonly index: number;
  /** The group name for a parallel stage, null for a single step. */
  readonly group: string | null;
  /** Step names in declaration order. */
  readonly steps: readonly string[];
}

/**
 * A saga type as data (see StepSpec): what `transition` reads. A SagaDefinition is one; so is the spec a process
 * without the saga's code reads from PostgreSQL, where every process that has the code publishes it.
 */
export interface SagaSpec {
  /** kebab-case type name, persisted. */
  readonly name: string;
  /** Positive integer; an instance runs to its end on the version it started with. */
  readonly version: number;
  readonly description: string | null;
  /**
   * Dotted paths of input fields that hold secrets (`'payment.cardNumber'`): encrypted at rest, redacted in the
   * API and logs, plain only in `ctx.input` of a step. Checked by the SDK at definition time.
   */
  readonly sensitive: readonly string[];
  /**
   * Dotted path of the input field that is the saga's business key (`'orderNumber'`): unique per type among the
   * sagas that are not over (see docs/search.md), and searchable. Absent when the saga declares none (so that
   * specs published before it existed keep their fingerprint).
   */
  readonly businessKey?: string | null;
  /** Typed search attributes, set from the input at start or from a step's output when it succeeds. Absent: none. */
  readonly searchAttributes?: readonly SearchAttributeSpec[];
  readonly stages: readonly StageDefinition[];
  /** Steps in declaration order. */
  readonly steps: readonly StepSpec[];
  readonly stepsByName: Readonly<Record<string, StepSpec>>;
}

/** Marks the output type of a definition (the outputs of its steps), for typed clients. Never set at run time. */
export declare const SAGA_OUTPUT: unique symbol;
/** Marks what a definition's handlers receive as `deps`, for typed test kits. Never set at run time. */
export declare const SAGA_DEPS: unique symbol;

/**
 * A saga type with its code, as `defineSaga(...).build()` returns it: frozen data plus the author's functions.
 *
 * @typeParam I - the input (`ctx.input`).
 * @typeParam O - the output of a COMPLETED instance: every step's output by its camelCase key.
 * @typeParam D - what the handlers receive as `deps` (the resolved objects, not their tokens).
 */
export interface SagaDefinition<I = unknown, O = unknown, D = unknown> extends SagaSpec {
  /** A class-validator class for the input, or null for "any JSON object". */
  readonly inputClass: (new () => I) | null;
  readonly steps: readonly StepDefinition[];
  readonly stepsByName: Readonly<Record<string, StepDefinition>>;
  /**
   * What the steps' handlers get as their second argument, by name: each value a token the host resolves (a
   * class, or a `dep()` token; in Nest, a provider). Empty when the saga declares none.
   */
  readonly deps: Readonly<Record<string, unknown>>;
  readonly [SAGA_OUTPUT]?: O;
  readonly [SAGA_DEPS]?: D;
}

/** The input type of a definition. */
export type InputOf<D> = D extends SagaDefinition<infer I, any> ? I : never;
/** The output type of a definition (its steps' outputs by camelCase key). */
export type OutputOf<D> = D extends SagaDefinition<any, infer O> ? O : never;
/** What the handlers of a definition receive as `deps` (`unknown` for a definition not built by the SDK). */
export type DepsOf<D> = D extends SagaDefinition<any, any, infer X> ? X : never;

// ---------------------------------------------------------------------------------------------------------------
// State: what PostgreSQL holds for one instance (without timestamps; the store stamps them with now()).
// ---------------------------------------------------------------------------------------------------------------

export interface CompensationState {
  status: CompensationStatus;
  /** Number of the last attempt dispatched. Only ever grows: it is part of job ids, so it is never reused. */
  attempt: number;
  /**
   * `attempt` when the current round began (0 at first): an operator retry starts a new budget without reusing
   * attempt numbers, so the attempts of this round are `attempt - attemptBase`.
   */
  attemptBase: number;
  error: ErrorInfo | null;
}

export interface StepState {
  status: StepStatus;
  /** Number of the last attempt of the action dispatched (0 while PENDING). Only ever grows (job ids). */
  attempt: number;
  /** `attempt` when the current round began (0 at first; an operator retry sets it): see CompensationState. */
  attemptBase: number;
  output: unknown;
  error: ErrorInfo | null;
  /** True when the action may have taken effect without the engine knowing (transient failures, timeouts). */
  outcomeUnknown: boolean;
  compensation: CompensationState | null;
  /**
   * Started attempts of the step, either phase, that the supervisor found without an outcome past their deadline
   * (`DEADLINE_EXCEEDED` or `POISONED`): their agent died, or hung, while running them. Never reset (an operator's
   * retry does not make a step that killed its agent safe). A step with deaths runs alone on its agent. Absent: 0.
   */
  deaths?: number;
  /** A fan-out step's items, once its list is known (`FanOutStarted`); absent or null otherwise. */
  fanOut?: FanOutState | null;
  /**
   * How many times an operator re-ran the step (`RetryFromStepRequested`): 0 (or absent) at first. Part of its
   * idempotency key (`stepKey`), so that a deliberate re-run reaches participants under a new key, while the
   * ordinary retries of one run keep theirs.
   */
  run?: number;
  /** SUCCEEDED because an operator skipped it (`SkipRequested`), with the operator's output: never compensated. */
  skipped?: boolean;
}

/** One item of a fan-out step: the same fields as a step's (attempt numbers only grow, per item). */
export interface ItemState {
  status: StepStatus;
  attempt: number;
  attemptBase: number;
  output: unknown;
  error: ErrorInfo | null;
  outcomeUnknown: boolean;
  compensation: CompensationState | null;
}

/**
 * A fan-out step's items, with counters kept by `transition` so that no event costs a scan of 10,000 items. The
 * counters and cursors are derived data: `fanOutState(items)` computes them from the items (the store keeps only
 * the items, one row each).
 */
export interface FanOutState {
  items: ItemState[];
  /** The lowest index that may still be PENDING: where the next dispatch looks. */
  next: number;
  /** The highest index that may still need its undo: where the next undo looks (downwards). */
  undoNext: number;
  /** Items with an attempt of the action in flight (SCHEDULED, RUNNING, RETRYING). */
  running: number;
  /** Items with an attempt of the compensation in flight. */
  undoing: number;
  succeeded: number;
  /** Items that may have taken effect (SUCCEEDED, or FAILED with an unknown outcome) and are not undone yet. */
  undoable: number;
  /** Items whose compensation FAILED. */
  undoFailed: number;
}

export interface SagaError {
  step: string | null;
  message: string;
  code: string;
  transient: boolean;
}

export interface SagaState {
  status: SagaStatus;
  input: unknown;
  output: unknown;
  error: SagaError | null;
  /** Set by an operator's cancel: the saga ends CANCELLED instead of COMPENSATED. */
  cancelRequested: boolean;
  /** Number of history events written so far; the next one gets `eventCount + 1` as its `seq`. */
  eventCount: number;
  /** Every step of the definition, by name. */
  steps: Record<string, StepState>;
  /**
   * Signals that came before the step waiting for them started (it is still PENDING), oldest first: the wait step
   * consumes one as it starts. Absent in states written before signals were buffered (read as empty).
   */
  pendingSignals?: PendingSignal[];
}

/** A signal buffered for a wait step that has not started yet. */
export interface PendingSignal {
  signal: string;
  /** Only this step may consume it (the signal was sent for a step). */
  step?: string;
  payload: unknown;
  by?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Events (past tense): what happened. Commands (imperative): what the adapters must do.
// ---------------------------------------------------------------------------------------------------------------

export type SagaEvent =
  | { type: 'SagaStarted' }
  /** An agent has been running the attempt for a while (not sent for fast steps). */
  | { type: 'StepStarted'; step: string; phase: StepPhase; attempt: number; item?: number }
  | { type: 'StepSucceeded'; step: string; attempt: number; output: unknown; item?: number }
  /** The agent found the step's `when` false: the step is SKIPPED (never run, nothing to undo). */
  | { type: 'StepSkipped'; step: string; attempt: number }
  /** The agent found a conditional wait step's `when` true: the wait begins (or a buffered signal ends it). */
  | { type: 'WaitStarted'; step: string; attempt: number }
  /**
   * Includes timeouts (`code: 'TIMEOUT'`) and started attempts the supervisor found without an outcome past their
   * deadline (`code: 'DEADLINE_EXCEEDED'`, or `'POISONED'` once the step has died too often): both count a death.
   */
  | { type: 'StepFailed'; step: string; attempt: number; error: ErrorInfo; item?: number }
  | { type: 'CompensationSucceeded'; step: string; attempt: number; item?: number }
  | { type: 'CompensationFailed'; step: string; attempt: number; error: ErrorInfo; item?: number }
  | { type: 'CancelRequested'; by: string; reason: string }
  | { type: 'RetryRequested'; by: string; reason: string }
  /**
   * An operator re-runs the saga from `step` (FAILED past its pivot, or COMPLETED): `step` and every step after it
   * go back to PENDING with a new run number (a new idempotency key) and run again; the saga is RUNNING.
   */
  | { type: 'RetryFromStepRequested'; step: string; by: string; reason: string }
  /**
   * An operator skips a forward step that FAILED (past the pivot), waits for a retry, or has not run: it is
   * SUCCEEDED with `output` (already checked storable), marked `skipped`, and never compensated.
   */
  | { type: 'SkipRequested'; step: string; output: unknown; by: string; reason: string }
  /** Of a fan-out step: `item` names one item; without it, every item whose compensation FAILED. */
  | { type: 'CompensationResolved'; step: string; by: string; reason: string; item?: number }
  /**
   * An external event for the saga (`POST /v1/sagas/{id}/signals/{name}`, or a participant's message). Completes
   * every WAITING step that waits for `signal` (only `step`, when given), with `payload` as its output; ignored
   * when nothing waits for it.
   */
  | { type: 'SignalReceived'; signal: string; step?: string; payload: unknown; by?: string }
  /** The supervisor found a WAITING step past its deadline: the signal did not come in time. */
  | { type: 'SignalTimedOut'; step: string; attempt: number }
  /**
   * The agent evaluated a dispatched sleep step (its `when`, its `until`): the sleep begins, until `until`
   * (ISO-8601), or for its `durationMs` when `until` is absent.
   */
  | { type: 'SleepStarted'; step: string; attempt: number; until?: string }
  /**
   * The supervisor found a SLEEPING step past its wake-up time (`dueAt`), at `firedAt` (both ISO-8601, database
   * clock): the step SUCCEEDED with the output `{ wokeAt: firedAt, dueAt }`.
   */
  | { type: 'TimerFired'; step: string; attempt: number; dueAt: string; firedAt: string }
  /**
   * A new instance is to start later: at `startAt` (ISO-8601), or `startInMs` from its insertion (database clock).
   * Only on a state that has seen no event; the saga is DELAYED until `SagaStarted`.
   */
  | { type: 'SagaDelayed'; startAt?: string; startInMs?: number }
  /** The agent evaluated a dispatched child step (its `when`, its `input`): the child is to start with `input`. */
  | { type: 'ChildRequested'; step: string; attempt: number; input: unknown }
  /**
   * The child started by attempt `attempt` of `step` ended (COMPLETED, COMPENSATED or CANCELLED), with its output
   * or its error. Delivered at least once (the engine after the child's last commit, the supervisor after a crash):
   * a duplicate is ignored.
   */
  | {
      type: 'ChildEnded';
      step: string;
      attempt: number;
      childId: string;
      status: ChildEndStatus;
      output?: unknown;
      error?: SagaError | null;
    }
  /**
   * A COMPLETED saga is to undo its steps: its parent compensates the step that started it. It goes COMPENSATING,
   * then COMPENSATED, with the cause as its error. Refused past a pivot (a point of no return cannot be undone).
   */
  | { type: 'UndoRequested'; by: string; reason: string }
  /**
   * The agent evaluated a dispatched fan-out step (its `when`, its `items`, its `itemKey`): the items are `items`
   * (at most MAX_FAN_OUT_ITEMS), with their keys when the author names them.
   */
  | { type: 'FanOutStarted'; step: string; attempt: number; items: unknown[]; keys?: string[] };

/** How a child saga ended, as its parent hears it. */
export type ChildEndStatus = 'COMPLETED' | 'COMPENSATED' | 'CANCELLED';

export type SagaEventType = SagaEvent['type'];

export type SagaCommand =
  /** Enqueue a job for one attempt of a step's action or compensation, `delayMs` from now (0 = at once). */
  | {
      type: 'DispatchStep';
      step: string;
      phase: StepPhase;
      attempt: number;
      delayMs: number;
      timeoutMs: number;
      /** One item of a fan-out step (its index); absent for a step. */
      item?: number;
    }
  /**
   * A wait step went WAITING: no job; the step row's deadline is `timeoutMs` from now, when the supervisor reports
   * `SignalTimedOut` unless the signal came.
   */
  | { type: 'AwaitSignal'; step: string; signal: string; attempt: number; timeoutMs: number }
  /**
   * Tell a human: the saga entered FAILED (`status` absent), or a step was POISONED before the pivot (`status:
   * 'POISONED'`: the saga compensates by itself, but the step's code kills its agent).
   */
  | { type: 'RaiseAlert'; error: SagaError | null; status?: 'POISONED' }
  /**
   * A sleep step went SLEEPING: no job; the step row's deadline is its wake-up time, `until` (ISO-8601) or
   * `delayMs` from now (database clock), when the supervisor reports `TimerFired`.
   */
  | { type: 'StartTimer'; step: string; attempt: number; delayMs?: number; until?: string }
  /** A new instance is DELAYED: the store records its start time (`startAt`, or `startInMs` from now). */
  | { type: 'DelayStart'; startAt?: string; startInMs?: number }
  /**
   * A child step went WAITING: start the child saga `childType` v`childVersion` with `input`, in the same commit,
   * keyed by the parent and the step (and `round`, an operator retry's, when > 0), linked to this saga's step.
   */
  | {
      type: 'StartChild';
      step: string;
      attempt: number;
      childType: string;
      childVersion: number;
      input: unknown;
      round: number;
    }
  /** The saga began compensating while the child of `step` runs: cancel the child (its end ends the step). */
  | { type: 'CancelChild'; step: string; attempt: number; reason: string }
  /** Compensate `step`, whose child COMPLETED: the child is to undo its steps (`UndoRequested`). */
  | { type: 'UndoChild'; step: string; attempt: number; compensationAttempt: number; reason: string }
  /** A fan-out step's list is known: the store writes one row per item (its value and key), in the same commit. */
  | { type: 'StartFanOut'; step: string; attempt: number; items: unknown[]; keys: string[] | null };

/** One row of the saga's history (`saga_event`). `seq` is assigned by the engine from `eventCount`. */
export interface HistoryEntry {
  seq: number;
  type: string;
  step: string | null;
  attempt: number | null;
  data: Record<string, unknown> | null;
  /** The item of a fan-out step the entry is about (its index); absent otherwise. */
  item?: number;
}

export interface TransitionResult {
  state: SagaState;
  commands: SagaCommand[];
  history: HistoryEntry[];
  /** Set when the event changed nothing (stale, duplicate or illegal in this state); state is the input state. */
  ignored: string | null;
}

/** Supplies randomness (jitter) so that `transition` stays pure and testable. */
export interface TransitionEnv {
  random(): number;
}
