import {
  type CompensationContext,
  type ConditionContext,
  type InputOf,
  type ItemCompensationContext,
  type ItemContext,
  MAX_CHILD_DEPTH,
  type OutputOf,
  type ResolvedRetryPolicy,
  type SagaDefinition,
  type SagaSpec,
  type SleepUntil,
  type StageDefinition,
  type StepContext,
  type StepDefinition,
  type WaitTimeoutPolicy,
  MAX_SEARCH_ATTRIBUTES,
  SEARCH_ATTRIBUTE_NAME,
  SEARCH_ATTRIBUTE_TYPES,
  type SearchAttributeSpec,
  type SearchAttributeType,
} from '@saga-engine/core';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage } from 'class-validator';
import { describeValue, parseSignedDuration, type Duration } from '@saga-engine/core';
import { SagaDefinitionError } from './errors';
import {
  DEFAULT_RETRY_POLICY,
  DEFAULT_TIMEOUT_MS,
  definitionTimeout,
  rejectUnknownFields,
  resolveRetryPolicy,
  type RetryPolicy,
} from './retry-policy';

// ---------------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------------

/**
 * The `ctx.steps` key of a step: its kebab-case name in camelCase (`'create-delivery'` → `'createDelivery'`).
 * The runtime uses the same rule (`StepDefinition.key`).
 */
export type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;

/** `ctx.steps` before any step: nothing to read. */
export type NoSteps = Record<never, never>;

/** The deps of a saga that declares none. */
export type NoDeps = Record<never, never>;

declare const DEP_TYPE: unique symbol;

/**
 * A token for a dependency that is not a class (a string or symbol injection token, a TypeORM repository token),
 * with the type the handlers see. Made by `dep()`.
 */
export interface DepToken<T> {
  readonly kind: 'dep';
  /** What the host resolves: in Nest, the provider token (`getRepositoryToken(Order)`, `'PAYMENTS'`, a symbol). */
  readonly token: string | symbol | ((...args: never[]) => unknown) | (abstract new (...args: never[]) => unknown);
  readonly [DEP_TYPE]?: T;
}

/** A dependency a saga's handlers receive: a class (its instance is passed), or a `dep<T>(token)`. */
export type Token<T = unknown> = (abstract new (...args: never[]) => T) | DepToken<T>;

/** What `deps` holds: names to tokens. */
export type DepTokens = Record<string, Token<any>>;

/** The objects the handlers receive for `deps` tokens `D` (a class's instance; a `dep<T>`'s T). */
export type Deps<D> = {
  readonly [K in keyof D]: D[K] extends DepToken<infer T>
    ? T
    : D[K] extends abstract new (...args: never[]) => infer T
      ? T
      : never;
};

/**
 * A dependency token with its type, for providers that are not classes:
 * `deps: { orders: dep<Repository<Order>>(getRepositoryToken(Order)) }`.
 */
export function dep<T>(token: DepToken<T>['token']): DepToken<T> {
  const kind = typeof token;
  if (kind !== 'string' && kind !== 'symbol' && kind !== 'function') {
    throw new SagaDefinitionError(
      `dep() needs a string, a symbol or a class as its token (got ${describeValue(token)})`,
    );
  }
  const made: DepToken<T> = { kind: 'dep', token };
  return Object.freeze(made);
}

/** A `when` condition: pure, synchronous, over the saga input and earlier outputs. */
export type StepWhen<I, S> = (ctx: ConditionContext<I, S>) => boolean;

/** `S` plus the output `O` of step `N`, flattened so that editors show one object type. */
export type AddStep<S, N extends string, O> = Flatten<S & { readonly [K in CamelCase<N>]: O }>;

type Flatten<T> = T extends infer U ? { [K in keyof U]: U[K] } : never;

/** Saga-wide defaults for every step; each step may override them. */
export interface SagaDefaults {
  /** Retry policy of every step's action. Built-in defaults: see `RetryPolicy`. */
  retry?: RetryPolicy;
  /** Retry policy of every step's compensation (it does not inherit `retry`). Built-in defaults: see `RetryPolicy`. */
  compensationRetry?: RetryPolicy;
  /** Time limit of one attempt of an action. > 0. @defaultValue '30s' */
  timeout?: Duration;
  /** Time limit of one attempt of a compensation. > 0. @defaultValue '30s' */
  compensationTimeout?: Duration;
}

export interface SagaOptions<I, D extends DepTokens = NoDeps> {
  /**
   * A positive integer. Persisted with every instance, which runs to its end on the version it started with:
   * bump it when you rename, remove, reorder or add steps while instances may be in flight.
   */
  version: number;
  /**
   * A class-validator class for the input: the API validates the input against it before starting an instance,
   * and `ctx.input` is typed as its instance. Without it, the input is any JSON object.
   */
  input?: new () => I;
  /** Shown on the dashboard. */
  description?: string;
  defaults?: SagaDefaults;
  /**
   * Input fields that hold secrets, as dotted paths into the input (`['payment.cardNumber', 'customer.email']`).
   * Their values are encrypted (AES-256-GCM, `SAGA_ENCRYPTION_KEY`) before the instance is written, shown as
   * `"[REDACTED]"` by the API and never logged; a step's `ctx.input` has them in plain text. A path may name an
   * object (all of it is sealed) but not go through an array. `when` conditions see the sealed value, not the
   * secret. With an `input` class, every segment must be a property it validates (nested through `@Type`).
   */
  sensitive?: readonly string[];
  /**
   * What the handlers (`run`, `compensate`) receive as their second argument, by name: a class (in Nest, a
   * provider: its instance is passed) or `dep<T>(token)` for any other token. The host resolves them when it starts
   * and refuses to start when one is missing (in Nest: `SagaModule` through the app's providers; in a test:
   * `SagaTestEnvironment`'s `deps`). The saga file stays free of the services it calls, so any process can load
   * it, and a test can hand it fakes.
   *
   * @example deps: { payments: PaymentsService, orders: dep<Repository<Order>>(getRepositoryToken(Order)) }
   */
  deps?: D;
  /**
   * The input field that is the saga's business key, as a dotted path (`'orderNumber'`, `'order.number'`): the
   * value a support person searches by (`GET /v1/sagas?businessKey=...`, the dashboard, `saga list
   * --business-key`). A string of 1 to 200 characters or an integer; an input without it starts a saga without a
   * key. Unique per type among the sagas that are not over (RUNNING, COMPENSATING, DELAYED, FAILED): a second
   * start with the same key answers 409 `BUSINESS_KEY_CONFLICT` naming the saga that holds it, until that one
   * ends. A replayed idempotency key still answers its own saga (200). A path, not a function, so that a process
   * without this file (a central API) computes it too; it cannot be or lie inside a `sensitive` path.
   */
  businessKey?: string;
  /**
   * Typed search attributes, by name (`[a-z][A-Za-z0-9_]*`): what `GET /v1/sagas?type=<type>&attr.<name>=...`
   * filters on. Each reads a dotted path of the input (`from: 'input.customer.tier'`, set at start: a value of the
   * wrong type refuses the start with a 400 naming it) or of a step's output (`from: 'steps.chargeCard.amount'`,
   * `ctx.steps`' camelCase key, set in the commit of the step's success: a value of the wrong type clears it).
   * Types: `'keyword'` (equality), `'number'` and `'datetime'` (equality and ranges), `'boolean'`. At most 32.
   * Paths inside a `sensitive` input field are refused: an attribute is stored and shown in clear.
   *
   * @example searchAttributes: { tier: { type: 'keyword', from: 'input.customer.tier' },
   *   amount: { type: 'number', from: 'steps.chargeCard.amountCents' } }
   */
  searchAttributes?: Readonly<Record<string, SearchAttributeOptions>>;
}

/** One search attribute of `SagaOptions.searchAttributes`. */
export interface SearchAttributeOptions {
  type: SearchAttributeType;
  /** `'input.<path>'` or `'steps.<stepKey>.<path>'` (`'steps.<stepKey>'`: the whole output, e.g. a number). */
  from: string;
}

/**
 * One step: an action, its optional undo, and how to retry them.
 *
 * **Failure semantics.** "Compensated" means that the step's `compensate` runs.
 *
 * | When `run`...                                             | Retried? | Then compensated                           |
 * | --------------------------------------------------------- | -------- | ------------------------------------------ |
 * | throws any error (a bug, a network error, HTTP 5xx)       | yes      | nothing yet                                |
 * | throws `RetryableError` (`retryAfter`: the next delay)    | yes      | nothing yet                                |
 * | times out (`timeout`; `ctx.signal` aborts)                | yes      | nothing yet                                |
 * | throws `NonRetryableError` (or a `nonRetryableCodes` one) | no       | the completed steps, NOT this one          |
 * | fails its last attempt (`retry.maximumAttempts`)          | no more  | THIS step too, then the completed steps    |
 * | fails for good after the pivot step succeeded             | as above | nothing: the saga is `FAILED`, for a human |
 * | is not run: `when` returned false (`SKIPPED`)             | -        | nothing, for this step                     |
 *
 * - A definite "no" means the action took no effect, so this step has nothing to undo. After the last attempt
 *   the outcome is unknown (the action may have happened), so this step's undo runs too, with `ctx.output`
 *   undefined.
 * - Compensation runs in reverse order of completion; a parallel group's compensations run together. Each is
 *   retried by `compensationRetry`. One that cannot finish (a `NonRetryableError`, or retries exhausted) leaves
 *   the saga `FAILED`: visible, alerting, resumable by an operator; never swallowed.
 * - An operator's cancel compensates the completed steps the same way; the saga ends `CANCELLED`.
 * - **At least once.** `run` may run again after it took effect (a crash before the checkpoint), and `compensate`
 *   may run for an action that never took effect, or twice. Pass `ctx.key` (action) and `ctx.undoKey`
 *   (compensation) to participants as idempotency keys; they are the same on every attempt. Make `compensate`
 *   succeed when there is nothing to undo.
 * - Outputs are stored as JSON in PostgreSQL and read back by later steps: return plain data (no class instances,
 *   dates become strings, `undefined` fields vanish).
 *
 * @typeParam I - the saga input.
 * @typeParam S - outputs of the steps before this one (`ctx.steps`).
 * @typeParam O - this step's output, inferred from what `run` resolves to.
 */
export interface StepOptions<I, S, O, D = NoDeps> {
  /**
   * The action. Its resolved value is the step's output, readable by later steps as `ctx.steps.<camelCaseName>`.
   * Honour `ctx.signal` (pass it to `fetch`): it aborts when the attempt times out. `deps`: the saga's `deps`.
   */
  run: (ctx: StepContext<I, S>, deps: D) => Promise<O> | O;
  /**
   * A class-validator class for the output, like the saga's `input`: later steps see `ctx.steps.<key>` as its
   * instance type, and `run` must return something assignable to it. The agent checks what `run` returns against
   * it (unknown fields refused, nothing converted): an output it refuses fails the attempt for good with
   * `OUTPUT_INVALID` (a bug in the step's code: not retried; the step's own `compensate` runs, as its action did
   * run). An operator's skip (`POST /v1/sagas/{id}/steps/{step}/skip`) is checked against it too. Without it, the
   * output is whatever `run` returns.
   */
  output?: OutputClass<O>;
  /**
   * The undo, run when a later step fails for good (see the table above). `ctx.output` is this step's output,
   * or undefined when its outcome is unknown (retries exhausted, timeout). Without it, nothing is undone for this
   * step. Its return value is ignored.
   */
  compensate?: (ctx: CompensationContext<I, S, O>, deps: D) => unknown;
  /**
   * Run the step only if this returns true; otherwise it is `SKIPPED` and later steps see its output as
   * undefined. Evaluated by the agent just before the step would run, so it must be pure and synchronous: read
   * only `ctx.input` and `ctx.steps`. A condition that throws fails the step for good (`CONDITION_ERROR`).
   */
  when?: StepWhen<I, S>;
  /** How the dashboard describes `when` (the function itself is not shown), e.g. `'weightKg <= 20'`. */
  whenLabel?: string;
  /** Retry policy of `run`. Missing fields come from the saga's `defaults.retry`, then the built-in defaults. */
  retry?: RetryPolicy;
  /** Retry policy of `compensate`. Missing fields come from `defaults.compensationRetry`, then the built-ins. */
  compensationRetry?: RetryPolicy;
  /** Time limit of one attempt of `run`. > 0. @defaultValue `defaults.timeout`, or '30s' */
  timeout?: Duration;
  /** Time limit of one attempt of `compensate`. > 0. @defaultValue `defaults.compensationTimeout`, or '30s' */
  compensationTimeout?: Duration;
  /**
   * The point of no return (at most one per saga, not inside a parallel group): once this step has succeeded,
   * later failures are retried and never compensated; a later step that fails for good leaves the saga `FAILED`
   * for an operator. Typically the step that charges money or ships goods. Give the steps after it a generous
   * `retry` (`maximumAttempts: 0` is unlimited).
   * @defaultValue false
   */
  pivot?: boolean;
  /** Shown on the dashboard. */
  description?: string;
}

/**
 * A wait step: the saga waits for a named signal, an external event delivered by
 * `POST /v1/sagas/{id}/signals/{signal}` (or by a participant through the runtime), and the signal's payload
 * becomes the step's output. Nothing runs: no job, no retry.
 *
 * | What happens                                      | The step            | Then                                  |
 * | ------------------------------------------------- | ------------------- | ------------------------------------- |
 * | the signal comes while it waits                   | SUCCEEDED (payload) | the next stage                        |
 * | the signal comes when nothing waits for it        | unchanged           | the API answers 409                   |
 * | `timeout` passes first                            | FAILED              | `SIGNAL_TIMEOUT`, a definite "no":    |
 * |                                                   |                     | the completed steps are compensated   |
 * | a sibling fails for good, or an operator cancels  | FAILED              | `WAIT_ABANDONED`; compensation        |
 *
 * A timed-out wait is never retried (waiting again would only move the deadline) and has nothing of its own to
 * undo; its `compensate`, if any, runs only after the signal came. After the pivot a timeout leaves the saga
 * `FAILED`, and an operator's retry waits again with a fresh deadline. The deadline is enforced by the
 * supervisor's sweep, so it may fire up to one sweep interval late.
 *
 * @typeParam P - the signal's payload (a JSON object), as later steps read it.
 */
export interface WaitOptions<I, S, P, D = NoDeps> {
  /** The signal's name: 1..100 letters, digits, `.`, `_` or `-` (e.g. `'DeliveryCompleted'`). */
  signal: string;
  /** How long to wait, from when the step's stage comes. > 0. Required: a wait without an end hangs a saga. */
  timeout: Duration;
  /**
   * What the timeout does: `'fail'` (`SIGNAL_TIMEOUT`, a definite "no": the completed steps are compensated) or
   * `'continue'` (the step succeeds with the output `{ timedOut: true }`, so later steps read
   * `P | { timedOut: true }` and decide). A `compensate` of a wait that continued gets `{ timedOut: true }` as
   * `ctx.output`. @defaultValue 'fail'
   */
  onTimeout?: WaitTimeoutPolicy;
  /** Runs, like a step's, when a later step fails for good after the signal came; `ctx.output` is the payload. */
  compensate?: (ctx: CompensationContext<I, S, P>, deps: D) => unknown;
  compensationRetry?: RetryPolicy;
  compensationTimeout?: Duration;
  /** Wait only if this returns true; otherwise the step is SKIPPED (see `StepOptions.when`). */
  when?: StepWhen<I, S>;
  whenLabel?: string;
  /** See `StepOptions.pivot`. */
  pivot?: boolean;
  description?: string;
}

/** What a wait with `onTimeout: 'continue'` outputs when its signal did not come in time. */
export interface WaitTimedOut {
  readonly timedOut: true;
}

/** The output of a sleep step: when its timer fired, and when it was due (ISO-8601, database clock). */
export interface SleepOutput {
  /** When the supervisor's sweep found the timer due: `dueAt` plus up to one sweep interval. */
  readonly wokeAt: string;
  /** The wake-up time: the stage's start plus the duration, or what `until` returned. */
  readonly dueAt: string;
}

/**
 * A sleep step: the saga waits until a duration has passed or until a time computed from the input or earlier
 * outputs. Nothing runs and nothing is held in any process's memory: the timer is the step's row in PostgreSQL
 * (its deadline, on the database clock), so it survives restarts of every process, and the supervisor's sweep
 * fires it once, up to one sweep interval (`SUPERVISOR_INTERVAL_MS`, 1 s by default) late.
 *
 * | What happens                                      | The step             | Then                                 |
 * | ------------------------------------------------- | -------------------- | ------------------------------------ |
 * | the wake-up time passes                           | SUCCEEDED            | the next stage; output `{ wokeAt, dueAt }` |
 * | `until` throws or returns no point in time        | FAILED               | `SLEEP_UNTIL_ERROR`, a definite "no" |
 * | `when` is false                                   | SKIPPED              | the next stage                       |
 * | an operator cancels, or the saga compensates      | FAILED               | `TIMER_ABANDONED`; nothing to undo   |
 *
 * A wake-up time in the past fires at the next sweep. A sleep has no effect, so it has no `compensate`, cannot be
 * the pivot, and cannot be inside a parallel group.
 */
export interface SleepOptions<I, S> {
  /** How long, from when the sleep's stage comes (database clock). > 0, at most 3650d. Exactly one of this and `until`. */
  duration?: Duration;
  /**
   * The wake-up time: a `Date`, an ISO-8601 date-time with an offset (`'2026-12-24T18:00:00+01:00'`) or epoch
   * milliseconds, computed from `ctx.input` and `ctx.steps`. Code, so the agent evaluates it (once, when the
   * sleep's stage comes, like a `when`) and the engine keeps the time it returned: pure and synchronous.
   */
  until?: (ctx: ConditionContext<I, S>) => SleepUntil;
  /** Sleep only if this returns true; otherwise the step is SKIPPED (see `StepOptions.when`). */
  when?: StepWhen<I, S>;
  whenLabel?: string;
  description?: string;
}

/** Any built saga definition, whatever its input, output and deps. */
type AnySaga = SagaDefinition<any, any, any>;

/**
 * A child-saga step: it starts a saga of another type with an input computed from this saga's input and earlier
 * outputs, and waits for its end. The child's output is the step's output (`ctx.steps.<camelCaseName>`).
 *
 * | The child ...                                     | The step             | Then                                 |
 * | ------------------------------------------------- | -------------------- | ------------------------------------ |
 * | ends COMPLETED                                    | SUCCEEDED (its output) | the next stage                     |
 * | ends COMPENSATED or CANCELLED                     | FAILED, definite     | `CHILD_COMPENSATED` / `CHILD_CANCELLED`: the earlier steps are compensated |
 * | is FAILED (needs an operator)                     | WAITING              | until an operator settles the child  |
 * | runs when this saga is cancelled or compensates   | WAITING              | the child is cancelled; its end ends the step |
 * | completed, and a later step fails for good        | COMPENSATED          | the child undoes its steps (it ends `COMPENSATED`, its error `UNDO_REQUESTED`) |
 *
 * - The child is started once per step: its idempotency key is `<parentId>:<step>` (an operator's retry after
 *   the pivot starts a new one, `<parentId>:<step>:<round>`), and it starts in the same commit that puts the step
 *   WAITING. Parent and child link to each other in the API and the dashboard.
 * - A child saga with a pivot cannot be undone once past it: such a child step must be this saga's pivot.
 * - Children nest at most 8 deep, and a saga cannot be its own descendant: `.child()` refuses both.
 *
 * @typeParam C - the child's definition; its input and output type the step.
 */
export interface ChildOptions<I, S, C extends AnySaga> {
  /** The child saga's definition (its version is pinned: instances of this version start that one). */
  saga: C;
  /**
   * The child's input, from `ctx.input` and `ctx.steps`. Code, so the agent computes it (when the step's stage
   * comes, like a `when`): pure and synchronous. It is validated by the child's input class before the child starts;
   * an input it refuses, or a throw, fails the step for good.
   */
  input: (ctx: ConditionContext<I, S>) => InputOf<C>;
  /** Start the child only if this returns true; otherwise the step is SKIPPED (see `StepOptions.when`). */
  when?: StepWhen<I, S>;
  whenLabel?: string;
  /** See `StepOptions.pivot`; required when the child saga has a pivot of its own. */
  pivot?: boolean;
  description?: string;
}

/**
 * A fan-out step: its action runs once per item of a list computed at run time from the input and earlier
 * outputs, at most `concurrency` items at a time. Each item has its own attempts, retries (by `retry`), timeout,
 * idempotency key (`ctx.key`: `<sagaId>:<step>:<index>`, or `<sagaId>:<step>:<itemKey>`) and compensation. The
 * step's output is the items' outputs, in the list's order.
 *
 * | When an item ...                                  | Then                                                   |
 * | ------------------------------------------------- | ------------------------------------------------------ |
 * | succeeds                                          | the next item starts; all done: the step SUCCEEDED     |
 * | fails transiently                                 | retried, like a step (its own backoff and attempts)    |
 * | fails for good (definite, or attempts exhausted)  | no item starts any more; those in flight are awaited;  |
 * |                                                   | the items that may have had an effect are undone (their |
 * |                                                   | `compensate`, `concurrency` at a time), then the earlier steps |
 *
 * Lists hold at most 10,000 items (a longer list fails the step for good). `ctx.item` and `ctx.index` are the
 * item and its position.
 *
 * @typeParam T - an item of the list.
 * @typeParam O - an item's output (the step's output is `O[]`).
 */
export interface ForEachOptions<I, S, T, O, D = NoDeps> {
  /**
   * The list, from `ctx.input` and `ctx.steps`: computed once, by the agent, when the step's stage comes (pure and
   * synchronous, like a `when`), and stored. Items must be JSON (they are stored in PostgreSQL).
   */
  items: (ctx: ConditionContext<I, S>) => readonly T[];
  /**
   * A key per item, unique in the list (1 to 200 printable characters): the item's idempotency key becomes
   * `<sagaId>:<step>:<itemKey>`. Without it, the item's index.
   */
  itemKey?: (item: T, index: number) => string;
  /** At most this many items in flight at once (action or compensation). 1 to 1000. @defaultValue 10 */
  concurrency?: number;
  /** The action, once per item (see `StepOptions.run`): its value is the item's output. */
  run: (ctx: ItemContext<I, S, T>, deps: D) => Promise<O> | O;
  /** A class-validator class for each item's output (see `StepOptions.output`); the step's output is its array. */
  output?: OutputClass<O>;
  /** The undo of one item; `ctx.output` is the item's output, or undefined when its outcome is unknown. */
  compensate?: (ctx: ItemCompensationContext<I, S, T, O>, deps: D) => unknown;
  /** Retry policy of each item's action (see `StepOptions.retry`). */
  retry?: RetryPolicy;
  compensationRetry?: RetryPolicy;
  /** Time limit of one attempt of one item. */
  timeout?: Duration;
  compensationTimeout?: Duration;
  /** Run the step only if this returns true; otherwise it is SKIPPED (see `StepOptions.when`). */
  when?: StepWhen<I, S>;
  whenLabel?: string;
  /** See `StepOptions.pivot`. */
  pivot?: boolean;
  description?: string;
}

/** A class-validator class for a step's output (`StepOptions.output`): its instances are the output's type. */
export type OutputClass<O = unknown> = new () => O;

/**
 * A step inside a parallel group: the same as `StepOptions` (see its failure semantics), except that it cannot be
 * the pivot, and `ctx.steps` holds only the steps before the group (its siblings run at the same time).
 */
export interface ParallelStepOptions<I, S, O, D = NoDeps> extends StepOptions<I, S, O, D> {
  /** A parallel group cannot hold the pivot: the point of no return must be a single step. */
  pivot?: false;
}

/**
 * Builds a saga, one stage at a time. Immutable: every call returns a new builder, so a shared prefix can be
 * reused. Each call validates what it adds and throws `SagaDefinitionError` at once, pointing at the culprit.
 *
 * @typeParam I - the saga input (`ctx.input`).
 * @typeParam S - outputs of the steps declared so far (`ctx.steps` of the next step).
 * @typeParam D - what the handlers receive as `deps` (see `SagaOptions.deps`).
 */
export interface SagaBuilder<I, S, D = NoDeps> {
  /**
   * Adds a step that runs after everything declared before it. See `StepOptions` for what happens on failure.
   *
   * @param name - kebab-case, unique in the saga. Persisted (step rows, job ids, idempotency keys): renaming it
   *   needs a new `version`. Its camelCase form is the output's key in `ctx.steps`.
   */
  step<N extends string, C extends OutputClass<object>>(
    name: N,
    options: StepOptions<I, S, InstanceType<C>, D> & { output: C; when: StepWhen<I, S> },
  ): SagaBuilder<I, AddStep<S, N, InstanceType<C> | undefined>, D>;
  /**
   * Adds a step whose output is of the class `options.output` (see `StepOptions.output`): later steps read its
   * instance type, and `run` must return something assignable to it.
   */
  step<N extends string, C extends OutputClass<object>>(
    name: N,
    options: StepOptions<I, S, InstanceType<C>, D> & { output: C; when?: undefined },
  ): SagaBuilder<I, AddStep<S, N, InstanceType<C>>, D>;
  /**
   * Adds a step that runs after everything declared before it. See `StepOptions` for what happens on failure.
   *
   * @param name - kebab-case, unique in the saga. Persisted (step rows, job ids, idempotency keys): renaming it
   *   needs a new `version`. Its camelCase form is the output's key in `ctx.steps`.
   */
  step<N extends string, O>(
    name: N,
    options: StepOptions<I, S, O, D> & { output?: undefined; when: StepWhen<I, S> },
  ): SagaBuilder<I, AddStep<S, N, O | undefined>, D>;
  /**
   * Adds a step that runs after everything declared before it. See `StepOptions` for what happens on failure.
   * (Two signatures: a step with `when` may be skipped, so later steps see its output as possibly undefined.)
   *
   * @param name - kebab-case, unique in the saga. Persisted (step rows, job ids, idempotency keys): renaming it
   *   needs a new `version`. Its camelCase form is the output's key in `ctx.steps`.
   */
  step<N extends string, O>(
    name: N,
    options: StepOptions<I, S, O, D> & { output?: undefined; when?: undefined },
  ): SagaBuilder<I, AddStep<S, N, O>, D>;

  /**
   * Adds a wait step: the saga waits for the signal `options.signal` for at most `options.timeout`. See
   * `WaitOptions` for what a timeout does. The payload is the step's output (`ctx.steps.<camelCaseName>`).
   */
  waitFor<N extends string, P = Record<string, unknown>>(
    name: N,
    options: WaitOptions<I, S, P | WaitTimedOut, D> & { when: StepWhen<I, S>; onTimeout: 'continue' },
  ): SagaBuilder<I, AddStep<S, N, P | WaitTimedOut | undefined>, D>;
  waitFor<N extends string, P = Record<string, unknown>>(
    name: N,
    options: WaitOptions<I, S, P | WaitTimedOut, D> & { when?: undefined; onTimeout: 'continue' },
  ): SagaBuilder<I, AddStep<S, N, P | WaitTimedOut>, D>;
  waitFor<N extends string, P = Record<string, unknown>>(
    name: N,
    options: WaitOptions<I, S, P, D> & { when: StepWhen<I, S>; onTimeout?: 'fail' },
  ): SagaBuilder<I, AddStep<S, N, P | undefined>, D>;
  waitFor<N extends string, P = Record<string, unknown>>(
    name: N,
    options: WaitOptions<I, S, P, D> & { when?: undefined; onTimeout?: 'fail' },
  ): SagaBuilder<I, AddStep<S, N, P>, D>;

  /**
   * Adds a sleep step: for a duration (`.sleep('cool-off', '1h')`) or until a computed time
   * (`.sleep('until-slot', { until: (ctx) => ctx.steps.book.slotStart })`). See `SleepOptions`. Its output,
   * `{ wokeAt, dueAt }`, is `ctx.steps.<camelCaseName>` of later steps.
   */
  sleep<N extends string>(name: N, duration: Duration): SagaBuilder<I, AddStep<S, N, SleepOutput>, D>;
  sleep<N extends string>(
    name: N,
    options: SleepOptions<I, S> & { when: StepWhen<I, S> },
  ): SagaBuilder<I, AddStep<S, N, SleepOutput | undefined>, D>;
  sleep<N extends string>(
    name: N,
    options: SleepOptions<I, S> & { when?: undefined },
  ): SagaBuilder<I, AddStep<S, N, SleepOutput>, D>;

  /**
   * Adds a child-saga step: starts a saga of `options.saga`'s type with `options.input(ctx)` and waits for its end.
   * See `ChildOptions`. The child's output is the step's output (`ctx.steps.<camelCaseName>`).
   */
  child<N extends string, C extends AnySaga>(
    name: N,
    options: ChildOptions<I, S, C> & { when: StepWhen<I, S> },
  ): SagaBuilder<I, AddStep<S, N, OutputOf<C> | undefined>, D>;
  child<N extends string, C extends AnySaga>(
    name: N,
    options: ChildOptions<I, S, C> & { when?: undefined },
  ): SagaBuilder<I, AddStep<S, N, OutputOf<C>>, D>;

  /**
   * Adds a fan-out step: `options.run` once per item of `options.items(ctx)`, at most `options.concurrency` at a
   * time. See `ForEachOptions`. Its output is the items' outputs in order (`ctx.steps.<camelCaseName>`).
   */
  forEach<N extends string, T, C extends OutputClass<object>>(
    name: N,
    options: ForEachOptions<I, S, T, InstanceType<C>, D> & { output: C; when: StepWhen<I, S> },
  ): SagaBuilder<I, AddStep<S, N, InstanceType<C>[] | undefined>, D>;
  forEach<N extends string, T, C extends OutputClass<object>>(
    name: N,
    options: ForEachOptions<I, S, T, InstanceType<C>, D> & { output: C; when?: undefined },
  ): SagaBuilder<I, AddStep<S, N, InstanceType<C>[]>, D>;
  forEach<N extends string, T, O>(
    name: N,
    options: ForEachOptions<I, S, T, O, D> & { output?: undefined; when: StepWhen<I, S> },
  ): SagaBuilder<I, AddStep<S, N, O[] | undefined>, D>;
  forEach<N extends string, T, O>(
    name: N,
    options: ForEachOptions<I, S, T, O, D> & { output?: undefined; when?: undefined },
  ): SagaBuilder<I, AddStep<S, N, O[]>, D>;

  /**
   * Adds a group of steps that run at the same time, after everything declared before it. The saga moves on when
   * all of them have succeeded (or been skipped); their outputs are then all available to later steps.
   *
   * @param name - kebab-case, unique among the saga's groups; shown on the dashboard.
   */
  parallel<G>(
    name: string,
    build: (group: ParallelGroupBuilder<I, S, NoSteps, D>) => ParallelGroupBuilder<I, S, G, D>,
  ): SagaBuilder<I, Flatten<S & G>, D>;

  /**
   * The frozen definition. Throws `SagaDefinitionError` when there is no step. Its type carries the input, the
   * output (every step's output by camelCase key) and the deps, which typed clients and test kits read (`InputOf`,
   * `OutputOf`, `DepsOf`).
   */
  build(): SagaDefinition<I, S, D>;
}

/**
 * The steps of one parallel group.
 *
 * @typeParam S - outputs of the steps before the group: all a step of the group can read.
 * @typeParam G - outputs of the group's steps declared so far, available after the group.
 */
export interface ParallelGroupBuilder<I, S, G, D = NoDeps> {
  /** Adds a step to the group. Its `ctx.steps` holds the steps before the group, not its siblings. */
  step<N extends string, C extends OutputClass<object>>(
    name: N,
    options: ParallelStepOptions<I, S, InstanceType<C>, D> & { output: C; when: StepWhen<I, S> },
  ): ParallelGroupBuilder<I, S, AddStep<G, N, InstanceType<C> | undefined>, D>;
  /** Adds a step to the group, whose output is of the class `options.output` (see `StepOptions.output`). */
  step<N extends string, C extends OutputClass<object>>(
    name: N,
    options: ParallelStepOptions<I, S, InstanceType<C>, D> & { output: C; when?: undefined },
  ): ParallelGroupBuilder<I, S, AddStep<G, N, InstanceType<C>>, D>;
  /** Adds a step to the group. Its `ctx.steps` holds the steps before the group, not its siblings. */
  step<N extends string, O>(
    name: N,
    options: ParallelStepOptions<I, S, O, D> & { output?: undefined; when: StepWhen<I, S> },
  ): ParallelGroupBuilder<I, S, AddStep<G, N, O | undefined>, D>;
  /** Adds a step to the group. Its `ctx.steps` holds the steps before the group, not its siblings. */
  step<N extends string, O>(
    name: N,
    options: ParallelStepOptions<I, S, O, D> & { output?: undefined; when?: undefined },
  ): ParallelGroupBuilder<I, S, AddStep<G, N, O>, D>;
}

/**
 * Starts a saga definition.
 *
 * @param name - kebab-case, at most 64 characters. Persisted as the saga's type: renaming it orphans the
 *   instances in flight.
 *
 * @example
 * export const orderSaga = defineSaga('order', { version: 1, input: OrderInput, deps: { payments: PaymentsService } })
 *   .step('reserve-stock', {
 *     run: (ctx) => stock.reserve(ctx.input.lines, { idempotencyKey: ctx.key }),
 *     compensate: (ctx) => stock.release(ctx.output?.reservationId, { idempotencyKey: ctx.undoKey }),
 *   })
 *   .parallel('prepare', (g) => g
 *     .step('pack-parcel', { run: (ctx) => warehouse.pack(ctx.steps.reserveStock.reservationId) })
 *     .step('book-courier', { run: (ctx) => couriers.book(ctx.input.address) }))
 *   .step('charge-card', { run: (ctx, { payments }) => payments.charge(ctx.input.total, ctx.key), pivot: true })
 *   .build();
 */
export function defineSaga<I extends object = Record<string, unknown>, D extends DepTokens = NoDeps>(
  name: string,
  options: SagaOptions<I, D>,
): SagaBuilder<I, NoSteps, Deps<D>> {
  return new SagaBuilderImpl(resolveSaga(name, options), [], []) as unknown as SagaBuilder<I, NoSteps, Deps<D>>;
}

// ---------------------------------------------------------------------------------------------------------------
// Implementation: untyped (the public interfaces carry the types); every method validates eagerly.
// ---------------------------------------------------------------------------------------------------------------

const NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const MAX_NAME_LENGTH = 64;
const KEBAB_CASE_RULE = 'lowercase letters and digits in words joined by single dashes, starting with a letter';

const SAGA_OPTION_FIELDS: readonly string[] = [
  'version',
  'input',
  'description',
  'defaults',
  'sensitive',
  'deps',
  'businessKey',
  'searchAttributes',
];
const DEFAULTS_FIELDS: readonly string[] = ['retry', 'compensationRetry', 'timeout', 'compensationTimeout'];
const STEP_OPTION_FIELDS: readonly string[] = [
  'run',
  'compensate',
  'when',
  'whenLabel',
  'retry',
  'compensationRetry',
  'timeout',
  'compensationTimeout',
  'pivot',
  'description',
  'output',
];

const WAIT_OPTION_FIELDS: readonly string[] = [
  'signal',
  'timeout',
  'onTimeout',
  'compensate',
  'compensationRetry',
  'compensationTimeout',
  'when',
  'whenLabel',
  'pivot',
  'description',
];
const SIGNAL_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;
const CHILD_OPTION_FIELDS: readonly string[] = ['saga', 'input', 'when', 'whenLabel', 'pivot', 'description'];
const FOR_EACH_OPTION_FIELDS: readonly string[] = [...STEP_OPTION_FIELDS, 'items', 'itemKey', 'concurrency'];
/** A fan-out's default concurrency, and its bounds. */
const DEFAULT_CONCURRENCY = 10;
const MAX_CONCURRENCY = 1000;
const SLEEP_OPTION_FIELDS: readonly string[] = ['duration', 'until', 'when', 'whenLabel', 'description'];
/** The longest sleep: ten years (the timer is a row, not a Node.js timer, so only sanity bounds it). */
const MAX_SLEEP_MS = 3650 * 86_400_000;

/** A sleep step's `run`: never called (the engine sets a timer instead of dispatching an action). */
function sleepStepRun(): never {
  throw new Error('a sleep step has no action to run; the engine sets its timer');
}

/** A child step's `run`: never called (the agent computes the input; the engine starts the child). */
function childStepRun(): never {
  throw new Error('a child step has no action to run; the engine starts its child saga');
}

/** A wait step's `run`: never called (the engine puts the step in WAITING instead of dispatching it). */
function waitStepRun(): never {
  throw new Error('a wait step has no action to run; the engine waits for its signal');
}

interface ResolvedSaga {
  name: string;
  version: number;
  description: string | null;
  inputClass: (new () => unknown) | null;
  sensitive: readonly string[];
  deps: Record<string, unknown>;
  businessKey: string | null;
  /** Declared attributes; those read from a step name its camelCase key until `build()` resolves it. */
  searchAttributes: readonly { name: string; type: SearchAttributeType; stepKey: string | null; path: string }[];
  prefix: string;
  retry: ResolvedRetryPolicy;
  compensationRetry: ResolvedRetryPolicy;
  timeoutMs: number;
  compensationTimeoutMs: number;
}

type AnyStepOptions = StepOptions<any, any, any, any>;

interface Stage {
  group: string | null;
  steps: readonly StepDefinition[];
}

class SagaBuilderImpl {
  constructor(
    private readonly saga: ResolvedSaga,
    private readonly stages: readonly Stage[],
    private readonly groups: readonly string[],
  ) {}

  step(name: string, options: AnyStepOptions): SagaBuilderImpl {
    const earlier = this.stages.flatMap((stage) => stage.steps);
    const step = resolveStep(this.saga, earlier, name, options, this.stages.length, null);
    return new SagaBuilderImpl(this.saga, [...this.stages, { group: null, steps: [step] }], this.groups);
  }

  waitFor(name: string, options: WaitOptions<any, any, any, any>): SagaBuilderImpl {
    const earlier = this.stages.flatMap((stage) => stage.steps);
    const step = resolveWait(this.saga, earlier, name, options, this.stages.length);
    return new SagaBuilderImpl(this.saga, [...this.stages, { group: null, steps: [step] }], this.groups);
  }

  sleep(name: string, options: Duration | SleepOptions<any, any>): SagaBuilderImpl {
    const earlier = this.stages.flatMap((stage) => stage.steps);
    const step = resolveSleep(this.saga, earlier, name, options, this.stages.length);
    return new SagaBuilderImpl(this.saga, [...this.stages, { group: null, steps: [step] }], this.groups);
  }

  child(name: string, options: ChildOptions<any, any, AnySaga>): SagaBuilderImpl {
    const earlier = this.stages.flatMap((stage) => stage.steps);
    const step = resolveChild(this.saga, earlier, name, options, this.stages.length);
    return new SagaBuilderImpl(this.saga, [...this.stages, { group: null, steps: [step] }], this.groups);
  }

  forEach(name: string, options: ForEachOptions<any, any, any, any, any>): SagaBuilderImpl {
    const earlier = this.stages.flatMap((stage) => stage.steps);
    const step = resolveForEach(this.saga, earlier, name, options, this.stages.length);
    return new SagaBuilderImpl(this.saga, [...this.stages, { group: null, steps: [step] }], this.groups);
  }

  parallel(name: string, build: (group: ParallelGroupBuilderImpl) => unknown): SagaBuilderImpl {
    const { prefix } = this.saga;
    requireName(name, `${prefix}: parallel group name`);
    const where = `${prefix}: parallel group "${name}"`;
    if (this.groups.includes(name)) throw new SagaDefinitionError(`${where} is declared twice`);
    if (typeof build !== 'function') {
      throw new SagaDefinitionError(`${where} needs a function as second argument (got ${describeValue(build)})`);
    }
    const earlier = this.stages.flatMap((stage) => stage.steps);
    const group = build(new ParallelGroupBuilderImpl(this.saga, name, this.stages.length, earlier, []));
    // A builder is immutable: a function that calls g.step() without returning the result loses the steps.
    if (!(group instanceof ParallelGroupBuilderImpl) || group.name !== name) {
      throw new SagaDefinitionError(
        `${where}: the function must return the group builder with its steps (got ${describeValue(group)})`,
      );
    }
    if (group.steps.length === 0) throw new SagaDefinitionError(`${where} has no steps`);
    return new SagaBuilderImpl(
      this.saga,
      [...this.stages, { group: name, steps: group.steps }],
      [...this.groups, name],
    );
  }

  build(): SagaDefinition {
    const { saga } = this;
    if (this.stages.length === 0) {
      throw new SagaDefinitionError(`${saga.prefix}: the saga has no steps; add one with .step()`);
    }
    const steps = this.stages.flatMap((stage) => stage.steps).map(copyStep);
    const stages: StageDefinition[] = this.stages.map((stage, index) => ({
      index,
      group: stage.group,
      steps: stage.steps.map((step) => step.name),
    }));
    // No prototype: a lookup by an unknown name such as "constructor" must find nothing.
    const stepsByName: Record<string, StepDefinition> = Object.create(null);
    for (const step of steps) stepsByName[step.name] = step;
    const searchAttributes = resolveAttributeSteps(saga, steps);
    return deepFreeze({
      name: saga.name,
      version: saga.version,
      description: saga.description,
      inputClass: saga.inputClass,
      sensitive: [...saga.sensitive],
      ...(saga.businessKey !== null ? { businessKey: saga.businessKey } : {}),
      ...(searchAttributes.length > 0 ? { searchAttributes } : {}),
      stages,
      steps,
      stepsByName,
      deps: { ...saga.deps },
    });
  }
}

class ParallelGroupBuilderImpl {
  constructor(
    private readonly saga: ResolvedSaga,
    readonly name: string,
    private readonly stage: number,
    private readonly before: readonly StepDefinition[],
    readonly steps: readonly StepDefinition[],
  ) {}

  step(name: string, options: AnyStepOptions): ParallelGroupBuilderImpl {
    const step = resolveStep(this.saga, [...this.before, ...this.steps], name, options, this.stage, this.name);
    return new ParallelGroupBuilderImpl(this.saga, this.name, this.stage, this.before, [...this.steps, step]);
  }
}

function resolveSaga(name: string, options: SagaOptions<unknown, DepTokens>): ResolvedSaga {
  const prefix = `Saga ${describeValue(name)}`;
  requireName(name, `${prefix}: name`);
  requireObject(options, `${prefix}: options`);
  rejectUnknownFields(options, SAGA_OPTION_FIELDS, `${prefix}: options`);
  const { version, input, description, defaults = {}, sensitive, deps, businessKey, searchAttributes } = options;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new SagaDefinitionError(`${prefix}: version must be a positive integer (got ${describeValue(version)})`);
  }
  if (input !== undefined && typeof input !== 'function') {
    throw new SagaDefinitionError(`${prefix}: input must be a class (got ${describeValue(input)})`);
  }
  requireOptionalString(description, `${prefix}: description`);
  requireObject(defaults, `${prefix}: defaults`);
  rejectUnknownFields(defaults, DEFAULTS_FIELDS, `${prefix}: defaults`);
  const sensitivePaths = resolveSensitive(sensitive, input ?? null, prefix);
  return {
    name,
    version,
    description: description ?? null,
    inputClass: input ?? null,
    sensitive: sensitivePaths,
    deps: resolveDeps(deps, prefix),
    businessKey: resolveBusinessKey(businessKey, input ?? null, sensitivePaths, prefix),
    searchAttributes: resolveSearchAttributes(searchAttributes, input ?? null, sensitivePaths, prefix),
    prefix,
    retry: resolveRetryPolicy(defaults.retry, DEFAULT_RETRY_POLICY, `${prefix}: defaults.retry`),
    compensationRetry: resolveRetryPolicy(
      defaults.compensationRetry,
      DEFAULT_RETRY_POLICY,
      `${prefix}: defaults.compensationRetry`,
    ),
    timeoutMs:
      defaults.timeout === undefined
        ? DEFAULT_TIMEOUT_MS
        : definitionTimeout(defaults.timeout, `${prefix}: defaults.timeout`),
    compensationTimeoutMs:
      defaults.compensationTimeout === undefined
        ? DEFAULT_TIMEOUT_MS
        : definitionTimeout(defaults.compensationTimeout, `${prefix}: defaults.compensationTimeout`),
  };
}

function resolveStep(
  saga: ResolvedSaga,
  earlier: readonly StepDefinition[],
  name: string,
  options: AnyStepOptions,
  stage: number,
  group: string | null,
): StepDefinition {
  const where = `${saga.prefix}, step ${describeValue(name)}`;
  requireName(name, `${where}: name`);
  if (earlier.some((step) => step.name === name)) {
    throw new SagaDefinitionError(`${where}: duplicate step name (names are unique across the saga, groups included)`);
  }
  const key = toCamelCase(name);
  const clash = earlier.find((step) => step.key === key);
  if (clash) {
    throw new SagaDefinitionError(`${where}: its output key "${key}" is already the key of step "${clash.name}"`);
  }

  requireObject(options, `${where}: options`);
  rejectUnknownFields(options, STEP_OPTION_FIELDS, `${where}: options`);
  const { run, compensate, when, whenLabel, retry, compensationRetry, timeout, compensationTimeout, pivot, output } =
    options;
  if (typeof run !== 'function') {
    throw new SagaDefinitionError(`${where}: run must be a function (got ${describeValue(run)})`);
  }
  if (compensate !== undefined && typeof compensate !== 'function') {
    throw new SagaDefinitionError(`${where}: compensate must be a function (got ${describeValue(compensate)})`);
  }
  if (when !== undefined && typeof when !== 'function') {
    throw new SagaDefinitionError(`${where}: when must be a function (got ${describeValue(when)})`);
  }
  requireOptionalString(whenLabel, `${where}: whenLabel`);
  if (whenLabel !== undefined && when === undefined) {
    throw new SagaDefinitionError(`${where}: whenLabel is set but when is not`);
  }
  requireOptionalString(options.description, `${where}: description`);
  if (output !== undefined) requireValidatedClass(output, `${where}: output`);
  if (pivot !== undefined && typeof pivot !== 'boolean') {
    throw new SagaDefinitionError(`${where}: pivot must be a boolean (got ${describeValue(pivot)})`);
  }
  if (pivot === true) {
    if (group !== null) {
      throw new SagaDefinitionError(
        `${where}: pivot is not allowed inside parallel group "${group}"; the point of no return must be one step`,
      );
    }
    const other = earlier.find((step) => step.pivot);
    if (other) {
      throw new SagaDefinitionError(`${where}: only one step can be the pivot, and step "${other.name}" already is`);
    }
  }

  return {
    name,
    key,
    stage,
    position: earlier.length,
    group,
    run,
    compensate: compensate ?? null,
    compensable: compensate !== undefined,
    conditional: when !== undefined,
    retry: resolveRetryPolicy(retry, saga.retry, `${where}: retry`),
    compensationRetry: resolveRetryPolicy(compensationRetry, saga.compensationRetry, `${where}: compensationRetry`),
    timeoutMs: timeout === undefined ? saga.timeoutMs : definitionTimeout(timeout, `${where}: timeout`),
    compensationTimeoutMs:
      compensationTimeout === undefined
        ? saga.compensationTimeoutMs
        : definitionTimeout(compensationTimeout, `${where}: compensationTimeout`),
    when: when ?? null,
    whenLabel: whenLabel ?? null,
    pivot: pivot ?? false,
    description: options.description ?? null,
    signal: null,
    // Only when set, so that the definitions of steps without one look as they did.
    ...(output !== undefined ? { outputClass: output } : {}),
  };
}

function resolveWait(
  saga: ResolvedSaga,
  earlier: readonly StepDefinition[],
  name: string,
  options: WaitOptions<any, any, any, any>,
  stage: number,
): StepDefinition {
  const where = `${saga.prefix}, step ${describeValue(name)}`;
  requireObject(options, `${where}: options`);
  rejectUnknownFields(options, WAIT_OPTION_FIELDS, `${where}: options`);
  const { signal, timeout, onTimeout, ...rest } = options;
  if (typeof signal !== 'string' || !SIGNAL_PATTERN.test(signal)) {
    throw new SagaDefinitionError(
      `${where}: signal must be 1 to 100 letters, digits, '.', '_' or '-' (got ${describeValue(signal)})`,
    );
  }
  if (timeout === undefined) {
    throw new SagaDefinitionError(`${where}: timeout is required for a wait step (how long to wait for "${signal}")`);
  }
  if (onTimeout !== undefined && onTimeout !== 'fail' && onTimeout !== 'continue') {
    throw new SagaDefinitionError(`${where}: onTimeout must be 'fail' or 'continue' (got ${describeValue(onTimeout)})`);
  }
  const step = resolveStep(saga, earlier, name, { ...rest, timeout, run: waitStepRun }, stage, null);
  return { ...step, signal, ...(onTimeout === 'continue' ? { onTimeout } : {}) };
}

function resolveSleep(
  saga: ResolvedSaga,
  earlier: readonly StepDefinition[],
  name: string,
  given: Duration | SleepOptions<any, any>,
  stage: number,
): StepDefinition {
  const where = `${saga.prefix}, step ${describeValue(name)}`;
  const options: SleepOptions<any, any> =
    typeof given === 'string' || typeof given === 'number' ? { duration: given } : given;
  requireObject(options, `${where}: the second argument (a duration such as '1h', or { duration } or { until })`);
  rejectUnknownFields(options, SLEEP_OPTION_FIELDS, `${where}: options`);
  const { duration, until, ...rest } = options;
  if ((duration === undefined) === (until === undefined)) {
    throw new SagaDefinitionError(
      `${where}: a sleep needs exactly one of a duration ('1h', { duration: '1h' }) and { until: (ctx) => ... }`,
    );
  }
  if (until !== undefined && typeof until !== 'function') {
    throw new SagaDefinitionError(`${where}: until must be a function (got ${describeValue(until)})`);
  }
  let durationMs: number | null = null;
  if (duration !== undefined) {
    try {
      durationMs = parseSignedDuration(duration, `${where}: duration`);
    } catch (error) {
      throw new SagaDefinitionError((error as Error).message);
    }
    if (durationMs <= 0)
      throw new SagaDefinitionError(`${where}: duration must be > 0 (got ${describeValue(duration)})`);
    if (durationMs > MAX_SLEEP_MS) {
      throw new SagaDefinitionError(`${where}: duration must be at most 3650d (got ${describeValue(duration)})`);
    }
  }
  const step = resolveStep(saga, earlier, name, { ...rest, run: sleepStepRun }, stage, null);
  return { ...step, sleep: { durationMs, until: until !== undefined }, until: until ?? null };
}

function resolveChild(
  saga: ResolvedSaga,
  earlier: readonly StepDefinition[],
  name: string,
  options: ChildOptions<any, any, AnySaga>,
  stage: number,
): StepDefinition {
  const where = `${saga.prefix}, step ${describeValue(name)}`;
  requireObject(options, `${where}: options`);
  rejectUnknownFields(options, CHILD_OPTION_FIELDS, `${where}: options`);
  const { saga: child, input, ...rest } = options;
  if (!isBuiltSaga(child)) {
    throw new SagaDefinitionError(
      `${where}: saga must be a built saga definition (defineSaga(...).build()) (got ${describeValue(child)})`,
    );
  }
  if (typeof input !== 'function') {
    throw new SagaDefinitionError(`${where}: input must be a function of the context (got ${describeValue(input)})`);
  }
  // A cycle would nest without end; a deep tree is a design smell and a hazard for cancels and undos.
  const path = childPath(child, saga.name);
  if (path !== null) {
    throw new SagaDefinitionError(
      `${where}: saga "${saga.name}" would be its own descendant (${[saga.name, ...path].join(' -> ')})`,
    );
  }
  const depth = 1 + sagaDepth(child);
  if (depth > MAX_CHILD_DEPTH) {
    throw new SagaDefinitionError(
      `${where}: children would nest ${depth} sagas deep (at most ${MAX_CHILD_DEPTH}, counting this one)`,
    );
  }
  const childPivot = child.steps.find((step) => step.pivot);
  if (childPivot && rest.pivot !== true) {
    throw new SagaDefinitionError(
      `${where}: child saga "${child.name}" has a pivot (step "${childPivot.name}"), so it cannot be undone once ` +
        `past it; make this step the pivot of "${saga.name}" (pivot: true)`,
    );
  }
  const step = resolveStep(saga, earlier, name, { ...rest, run: childStepRun }, stage, null);
  return {
    ...step,
    // The engine undoes a child by asking it to compensate its own steps: no handler of this saga's.
    compensable: true,
    child: { type: child.name, version: child.version },
    childInput: input,
    childDefinition: child,
  };
}

function resolveForEach(
  saga: ResolvedSaga,
  earlier: readonly StepDefinition[],
  name: string,
  options: ForEachOptions<any, any, any, any, any>,
  stage: number,
): StepDefinition {
  const where = `${saga.prefix}, step ${describeValue(name)}`;
  requireObject(options, `${where}: options`);
  rejectUnknownFields(options, FOR_EACH_OPTION_FIELDS, `${where}: options`);
  const { items, itemKey, concurrency, ...rest } = options;
  if (typeof items !== 'function') {
    throw new SagaDefinitionError(
      `${where}: items must be a function of the context that returns the list (got ${describeValue(items)})`,
    );
  }
  if (itemKey !== undefined && typeof itemKey !== 'function') {
    throw new SagaDefinitionError(
      `${where}: itemKey must be a function (item, index) => string (got ${describeValue(itemKey)})`,
    );
  }
  if (
    concurrency !== undefined &&
    (typeof concurrency !== 'number' ||
      !Number.isSafeInteger(concurrency) ||
      concurrency < 1 ||
      concurrency > MAX_CONCURRENCY)
  ) {
    throw new SagaDefinitionError(
      `${where}: concurrency must be an integer from 1 to ${MAX_CONCURRENCY} (got ${describeValue(concurrency)})`,
    );
  }
  const step = resolveStep(saga, earlier, name, rest as AnyStepOptions, stage, null);
  return {
    ...step,
    fanOut: { concurrency: concurrency ?? DEFAULT_CONCURRENCY, keyed: itemKey !== undefined },
    items,
    itemKey: itemKey ?? null,
  };
}

function isBuiltSaga(value: unknown): value is AnySaga {
  if (typeof value !== 'object' || value === null) return false;
  const d = value as Partial<SagaDefinition>;
  return (
    typeof d.name === 'string' &&
    typeof d.version === 'number' &&
    Array.isArray(d.steps) &&
    Array.isArray(d.stages) &&
    typeof d.stepsByName === 'object' &&
    Object.isFrozen(value)
  );
}

/** The child definitions a definition's child steps start (those built by the SDK carry them). */
function childrenOf(def: SagaSpec): SagaSpec[] {
  return def.steps.flatMap((step) => {
    const child = (step as Partial<StepDefinition>).childDefinition;
    return child ? [child] : [];
  });
}

/** How deep the tree of children under `def` is (1: no child). */
function sagaDepth(def: SagaSpec): number {
  return 1 + Math.max(0, ...childrenOf(def).map(sagaDepth));
}

/** The chain of types from `def` down to a saga of type `name`, or null when none under it has that type. */
function childPath(def: SagaSpec, name: string): string[] | null {
  if (def.name === name) return [def.name];
  for (const child of childrenOf(def)) {
    const below = childPath(child, name);
    if (below !== null) return [def.name, ...below];
  }
  return null;
}

/** Checks `deps`: identifiers mapped to classes or `dep()` tokens. */
function resolveDeps(value: unknown, prefix: string): Record<string, unknown> {
  if (value === undefined) return {};
  requireObject(value, `${prefix}: deps`);
  const deps: Record<string, unknown> = {};
  for (const [name, token] of Object.entries(value)) {
    if (!PATH_SEGMENT.test(name) || RESERVED_SEGMENTS.has(name)) {
      throw new SagaDefinitionError(`${prefix}: deps.${name} must be named like a property (letters, digits, _ or $)`);
    }
    const isDep = typeof token === 'object' && token !== null && (token as { kind?: unknown }).kind === 'dep';
    if (typeof token !== 'function' && !isDep) {
      throw new SagaDefinitionError(
        `${prefix}: deps.${name} must be a class or dep(token) (got ${describeValue(token)})`,
      );
    }
    deps[name] = token;
  }
  return deps;
}

const PATH_SEGMENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const RESERVED_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** A dotted path: property names joined by dots. */
function isDottedPath(path: unknown): path is string {
  return (
    typeof path === 'string' &&
    path.length <= 200 &&
    path.split('.').every((s) => PATH_SEGMENT.test(s) && !RESERVED_SEGMENTS.has(s))
  );
}

/** The sensitive path that `path` equals, lies inside, or contains; undefined when none. */
function sensitiveOverlap(path: string, sensitive: readonly string[]): string | undefined {
  return sensitive.find((p) => p === path || path.startsWith(`${p}.`) || p.startsWith(`${path}.`));
}

/** Checks `businessKey`: a dotted input path, a field of the input class, not (inside) a sensitive one. */
function resolveBusinessKey(
  value: unknown,
  inputClass: (new () => unknown) | null,
  sensitive: readonly string[],
  prefix: string,
): string | null {
  if (value === undefined) return null;
  if (!isDottedPath(value)) {
    throw new SagaDefinitionError(
      `${prefix}: businessKey must be a dotted path into the input, e.g. "orderNumber" (got ${describeValue(value)})`,
    );
  }
  const secret = sensitiveOverlap(value, sensitive);
  if (secret !== undefined) {
    throw new SagaDefinitionError(
      `${prefix}: businessKey "${value}" overlaps the sensitive path "${secret}": a business key is stored in clear`,
    );
  }
  if (inputClass) checkInputPath(inputClass, value.split('.'), value, prefix, 'businessKey');
  return value;
}

/**
 * Checks `searchAttributes`: names, types, and `from` paths (`input.<path>` checked against the input class and
 * the sensitive paths now; `steps.<key>...` once the steps are known, in `build()`).
 */
function resolveSearchAttributes(
  value: unknown,
  inputClass: (new () => unknown) | null,
  sensitive: readonly string[],
  prefix: string,
): ResolvedSaga['searchAttributes'] {
  if (value === undefined) return [];
  requireObject(value, `${prefix}: searchAttributes`);
  const entries = Object.entries(value);
  if (entries.length > MAX_SEARCH_ATTRIBUTES) {
    throw new SagaDefinitionError(
      `${prefix}: searchAttributes declares ${entries.length} attributes (at most ${MAX_SEARCH_ATTRIBUTES})`,
    );
  }
  return entries.map(([name, options]) => {
    const where = `${prefix}: searchAttributes.${name}`;
    if (!SEARCH_ATTRIBUTE_NAME.test(name)) {
      throw new SagaDefinitionError(
        `${where}: the name must be a letter a-z then letters, digits or _ (at most 64 characters)`,
      );
    }
    requireObject(options, where);
    rejectUnknownFields(options, ['type', 'from'], where);
    const { type, from } = options as Partial<SearchAttributeOptions>;
    if (!SEARCH_ATTRIBUTE_TYPES.includes(type as SearchAttributeType)) {
      throw new SagaDefinitionError(
        `${where}: type must be one of ${SEARCH_ATTRIBUTE_TYPES.join(', ')} (got ${describeValue(type)})`,
      );
    }
    const segments = typeof from === 'string' ? from.split('.') : [];
    const rest = segments.slice(segments[0] === 'steps' ? 2 : 1).join('.');
    const wellFormed =
      isDottedPath(from) &&
      ((segments[0] === 'input' && segments.length >= 2) || (segments[0] === 'steps' && segments.length >= 2));
    if (!wellFormed) {
      throw new SagaDefinitionError(
        `${where}: from must be "input.<path>" or "steps.<stepKey>[.<path>]" ` +
          `(e.g. "input.customer.tier", "steps.chargeCard.amount") (got ${describeValue(from)})`,
      );
    }
    if (segments[0] === 'steps') return { name, type: type!, stepKey: segments[1], path: rest };
    const secret = sensitiveOverlap(rest, sensitive);
    if (secret !== undefined) {
      throw new SagaDefinitionError(
        `${where}: from "${from}" overlaps the sensitive path "${secret}": an attribute is stored and shown in clear`,
      );
    }
    if (inputClass) checkInputPath(inputClass, rest.split('.'), rest, where, 'input path');
    return { name, type: type!, stepKey: null, path: rest };
  });
}

/** The attributes as data, with the step each one of a step's output reads (by its camelCase key). */
function resolveAttributeSteps(saga: ResolvedSaga, steps: readonly StepDefinition[]): SearchAttributeSpec[] {
  return saga.searchAttributes.map((attribute) => {
    if (attribute.stepKey === null) {
      return { name: attribute.name, type: attribute.type, step: null, path: attribute.path };
    }
    const step = steps.find((s) => s.key === attribute.stepKey);
    if (!step) {
      throw new SagaDefinitionError(
        `${saga.prefix}: searchAttributes.${attribute.name}: no step has the key "${attribute.stepKey}" ` +
          `(the steps: ${steps.map((s) => s.key).join(', ')})`,
      );
    }
    return { name: attribute.name, type: attribute.type, step: step.name, path: attribute.path };
  });
}

/** Checks the `sensitive` paths: well formed, not repeated, not nested in one another, and fields of the input. */
function resolveSensitive(value: unknown, inputClass: (new () => unknown) | null, prefix: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new SagaDefinitionError(
      `${prefix}: sensitive must be an array of dotted paths (got ${describeValue(value)})`,
    );
  }
  const paths: string[] = [];
  for (const path of value as unknown[]) {
    const segments = typeof path === 'string' ? path.split('.') : [];
    if (
      typeof path !== 'string' ||
      path.length > 200 ||
      !segments.every((s) => PATH_SEGMENT.test(s) && !RESERVED_SEGMENTS.has(s))
    ) {
      throw new SagaDefinitionError(
        `${prefix}: sensitive path ${describeValue(path)} is malformed: property names joined by dots, ` +
          `e.g. "payment.cardNumber"`,
      );
    }
    if (paths.includes(path)) throw new SagaDefinitionError(`${prefix}: sensitive path "${path}" is listed twice`);
    const overlap = paths.find((p) => p.startsWith(`${path}.`) || path.startsWith(`${p}.`));
    if (overlap !== undefined) {
      throw new SagaDefinitionError(
        `${prefix}: sensitive paths "${overlap}" and "${path}" overlap; list only the outer one`,
      );
    }
    if (inputClass) checkInputPath(inputClass, segments, path, prefix);
    paths.push(path);
  }
  return paths;
}

/**
 * Follows a path through the input class: each segment must be a property class-validator knows; a nested class
 * (`@ValidateNested() @Type(() => X)`) is followed, and past a property of no class (a plain record) nothing more
 * can be checked.
 */
function checkInputPath(
  inputClass: new () => unknown,
  segments: string[],
  path: string,
  prefix: string,
  label = 'sensitive path',
): void {
  let current: (new () => unknown) | null = inputClass;
  for (const segment of segments) {
    if (!current) return;
    const known = getMetadataStorage()
      .getTargetValidationMetadatas(current, '', true, false)
      .map((m) => m.propertyName);
    if (!known.includes(segment)) {
      throw new SagaDefinitionError(
        `${prefix}: ${label} "${path}": "${segment}" is not a property of ${current.name} ` +
          `(it has ${[...new Set(known)].join(', ') || 'no validated property'})`,
      );
    }
    const nested: unknown = (plainToInstance(current, { [segment]: {} }) as Record<string, unknown>)[segment];
    const ctor = typeof nested === 'object' && nested !== null ? nested.constructor : undefined;
    current = ctor && ctor !== Object ? (ctor as new () => unknown) : null;
  }
}

/**
 * An `output` class: a class (like `input`) that class-validator knows, i.e. with at least one validated property.
 * A class without decorators would refuse every field of every output (unknown fields are refused): a mistake.
 */
function requireValidatedClass(value: unknown, where: string): void {
  if (typeof value !== 'function' || !value.prototype) {
    throw new SagaDefinitionError(`${where} must be a class (got ${describeValue(value)})`);
  }
  const validated = getMetadataStorage().getTargetValidationMetadatas(value, '', true, false);
  if (validated.length === 0) {
    throw new SagaDefinitionError(
      `${where}: class ${value.name || '(anonymous)'} has no class-validator decorator (@IsString(), ...): ` +
        'decorate the properties of the output',
    );
  }
}

/** The runtime twin of `CamelCase<>`: `'create-delivery'` → `'createDelivery'`. */
export function toCamelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, char: string) => char.toUpperCase());
}

function requireName(value: unknown, where: string): asserts value is string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new SagaDefinitionError(`${where} must be kebab-case, ${KEBAB_CASE_RULE} (got ${describeValue(value)})`);
  }
  if (value.length > MAX_NAME_LENGTH) {
    throw new SagaDefinitionError(`${where} must be at most ${MAX_NAME_LENGTH} characters (got ${value.length})`);
  }
}

function requireObject(value: unknown, where: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SagaDefinitionError(`${where} must be an object (got ${describeValue(value)})`);
  }
}

function requireOptionalString(value: unknown, where: string): void {
  if (value !== undefined && typeof value !== 'string') {
    throw new SagaDefinitionError(`${where} must be a string (got ${describeValue(value)})`);
  }
}

// Fresh objects per build, so that freezing one definition never freezes state another builder shares.
function copyStep(step: StepDefinition): StepDefinition {
  return { ...step, retry: copyPolicy(step.retry), compensationRetry: copyPolicy(step.compensationRetry) };
}

function copyPolicy(policy: ResolvedRetryPolicy): ResolvedRetryPolicy {
  return { ...policy, nonRetryableCodes: [...policy.nonRetryableCodes] };
}

// Freezes data, not code: the author's functions and the input class stay as they are.
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
