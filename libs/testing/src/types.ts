import type {
  CamelCase,
  CompensationContext,
  DepsOf,
  Duration,
  ErrorInfo,
  InputOf,
  OutputOf,
  SagaDefinition,
  StepContext,
} from '@saga-engine/sdk';
import type {
  CompensationStatus,
  HistoryEntry,
  SagaError,
  SagaEvent,
  SagaStatus,
  StepPhase,
  StepStatus,
} from '@saga-engine/core';
import type { FaultEntry } from './faults';

/** Any saga definition, whatever its input, output and deps. */
export type AnySagaDefinition = SagaDefinition<any, any, any>;

// ---------------------------------------------------------------------------------------------------------------
// Step names, from the definition's type. A definition's type knows its steps by their camelCase output keys
// (`chargeCard`), not by name (`charge-card`): the names are the kebab-case forms of those keys. A digit may or may
// not follow a dash (`step-2` and `step2` both give `step2`), so both spellings type-check; the environment checks
// the actual names when a saga starts.
// ---------------------------------------------------------------------------------------------------------------

type KebabTail<S extends string> = S extends `${infer C}${infer Rest}`
  ? C extends Lowercase<C>
    ? C extends Uppercase<C>
      ? `${C}${KebabTail<Rest>}` | `-${C}${KebabTail<Rest>}`
      : `${C}${KebabTail<Rest>}`
    : `-${Lowercase<C>}${KebabTail<Rest>}`
  : '';
type KebabName<K extends string> = K extends `${infer C}${infer Rest}` ? `${C}${KebabTail<Rest>}` : K;

/** The step names of a definition (any string for an untyped one). */
export type StepName<D> = unknown extends OutputOf<D> ? string : KebabName<Extract<keyof OutputOf<D>, string>>;

/** The output type of step `N` of a definition. */
export type StepOutput<D, N extends string> =
  CamelCase<N> extends keyof OutputOf<D> ? OutputOf<D>[CamelCase<N>] : unknown;

/** What a step's handler receives, as the test kit types it: every output the saga may have seen, optional. */
export type TestStepContext<D> = StepContext<InputOf<D>, Partial<OutputOf<D>>>;
export type TestCompensationContext<D, O = unknown> = CompensationContext<InputOf<D>, Partial<OutputOf<D>>, O>;

/** Replaces a step's `run`: what it returns is the step's output (normalized as the agent does), what it throws fails it. */
export type StepStub<D, O = unknown> = (ctx: TestStepContext<D>, deps: DepsOf<D>) => O | Promise<O>;
/** Replaces a step's `compensate`. */
export type CompensationStub<D, O = unknown> = (ctx: TestCompensationContext<D, O>, deps: DepsOf<D>) => unknown;

/**
 * The saga's `deps`, by name, as the host would resolve them: fakes need only the members the steps use. A dep
 * left out is an error when a handler reads it (naming the saga, the dep and the step), not before: a test that
 * stubs every step that uses it need not give it.
 */
export type TestDeps<D> =
  unknown extends DepsOf<D>
    ? Readonly<Record<string, unknown>>
    : { readonly [K in keyof DepsOf<D>]?: Partial<DepsOf<D>[K]> };

export interface StartOptions<D extends AnySagaDefinition> {
  /** What the handlers get as `deps` (see `TestDeps`). */
  deps?: TestDeps<D>;
  /** Replaces the `run` of steps, by step name. Every attempt of the step calls the stub (faults come first). */
  stubs?: { readonly [N in StepName<D>]?: StepStub<D, StepOutput<D, N>> };
  /** Replaces the `compensate` of steps, by step name. */
  compensationStubs?: { readonly [N in StepName<D>]?: CompensationStub<D, StepOutput<D, N>> };
  /**
   * Scripted outcomes of a step's attempts, in order: entry i is attempt i + 1 (attempt numbers only grow, an
   * operator's retry included). An attempt past the list, or whose entry is `null`, runs the stub or the handler.
   */
  faults?: { readonly [N in StepName<D>]?: readonly FaultEntry<TestStepContext<D>, DepsOf<D>>[] };
  /** The same for the attempts of a step's compensation. */
  compensationFaults?: {
    readonly [N in StepName<D>]?: readonly FaultEntry<TestCompensationContext<D, StepOutput<D, N>>, DepsOf<D>>[];
  };
  /**
   * The options of the child run a child step (`.child()`) starts, by step name: its own deps, stubs and faults.
   * Without them, the child runs its real handlers with the deps of this run that it declares too.
   */
  children?: { readonly [N in StepName<D>]?: StartOptions<AnySagaDefinition> };
}

/** When a scheduled event happens: a duration from the saga's start (`'50m'`), or a virtual date. Default: now. */
export interface At {
  at?: Duration | Date;
}

// ---------------------------------------------------------------------------------------------------------------
// What a run records.
// ---------------------------------------------------------------------------------------------------------------

/** Virtual time: a date, and milliseconds since the saga started. */
export interface VirtualTime {
  at: Date;
  elapsedMs: number;
}

/** A history entry, exactly as the engine's `transition` wrote it, with the virtual time of its commit. */
export type TimedHistoryEntry = HistoryEntry & VirtualTime;

/** An event fed to `transition`: an agent's report, a signal, a deadline, an operator's action. */
export interface TimedEvent extends VirtualTime {
  event: SagaEvent;
  /** Why the engine ignored it (stale, duplicate, illegal in that state), or null. */
  ignored: string | null;
}

/** One attempt of a step's action (`run`) or compensation (`undo`), in the order they started. */
export interface AttemptRecord extends VirtualTime {
  step: string;
  /** The item of a fan-out step the attempt ran (its index); absent for a step's own attempt. */
  item?: number;
  phase: StepPhase;
  attempt: number;
  /**
   * What ran: the step's handler, its stub, a scripted fault (a `fail.*` or a function), or only its `when` (and a
   * sleep's `until`).
   */
  ran: 'handler' | 'stub' | 'fault' | 'condition';
  /**
   * null while it runs. `waiting`: a conditional wait step whose condition held. `sleeping`: a sleep step whose
   * `until` (or `when`) the agent evaluated: its timer is set.
   */
  outcome: 'succeeded' | 'failed' | 'skipped' | 'waiting' | 'sleeping' | 'child' | 'items' | null;
  error: ErrorInfo | null;
  /** When its outcome reached the engine (later than `at` for a timeout or a crash); null while it runs. */
  reportedAt: Date | null;
}

/**
 * A `RaiseAlert` of the engine: the saga went FAILED and a human is needed (`FAILED`), or a step was POISONED before
 * the pivot (`POISONED`: its agent died too often; the saga compensates by itself).
 */
export interface AlertRecord extends VirtualTime {
  status: 'FAILED' | 'POISONED';
  error: SagaError | null;
}

export interface CompensationResult {
  status: CompensationStatus;
  /** Number of the last attempt dispatched. */
  attempts: number;
  error: ErrorInfo | null;
}

/** A step as the REST API shows it (`StepView`), without timestamps (see `attempts` for those). */
export interface StepResult {
  status: StepStatus;
  /** Number of the last attempt dispatched (0 while PENDING). */
  attempts: number;
  /** Its output once SUCCEEDED (a wait step's: the signal's payload), otherwise null. */
  output: unknown;
  error: ErrorInfo | null;
  compensation: CompensationResult | null;
  /** A fan-out step's items, once its list is known (in list order); absent for other steps. */
  items?: ItemResult[];
}

/** One item of a fan-out step. */
export interface ItemResult {
  index: number;
  /** `<sagaId>:<step>:<key>` is its idempotency key: the author's item key, or the index. */
  key: string;
  item: unknown;
  status: StepStatus;
  attempts: number;
  /** Its output once it SUCCEEDED (and after it was undone), otherwise null. */
  output: unknown;
  error: ErrorInfo | null;
  compensation: CompensationResult | null;
}

/** A child saga a child step started (see `SagaTestRun.children()` for its run). */
export interface ChildResult {
  /** The step that started it. */
  step: string;
  id: string;
  type: string;
  status: SagaStatus;
}

/** A run as it is now: what `result()` resolves to, and what `snapshot()` returns at any time. */
export interface SagaTestResult<D extends AnySagaDefinition = AnySagaDefinition> {
  id: string;
  type: string;
  status: SagaStatus;
  /** Every step's output by camelCase key once COMPLETED; null otherwise. */
  output: OutputOf<D> | null;
  /** Why it is compensating, COMPENSATED, CANCELLED or FAILED. */
  error: SagaError | null;
  /** The run whose child step started this one, or null. */
  parentId: string | null;
  /** The child sagas its child steps started, in order. */
  children: ChildResult[];
  /** Every step of the definition, by name, in declaration order. */
  steps: Record<string, StepResult>;
  history: TimedHistoryEntry[];
  /** Every attempt that started, in order: the effects the saga had, and when. */
  attempts: AttemptRecord[];
  /** Every event fed to `transition`, in order, ignored ones included. */
  events: TimedEvent[];
  alerts: AlertRecord[];
  startedAt: Date;
  /** The virtual time of the last history entry. */
  endedAt: Date;
  /** Virtual milliseconds from the start to the last history entry. */
  elapsedMs: number;
}
