import { randomUUID } from 'node:crypto';
import {
  type ChildEndStatus,
  type ErrorInfo,
  FAN_OUT_ITEMS_ERROR,
  type ItemState,
  MAX_FAN_OUT_ITEMS,
  type SagaCommand,
  type SagaEvent,
  type SagaState,
  type StepDefinition,
  SagaStatus,
  StepPhase,
  StepStatus,
  evaluateCondition,
  evaluateSleepUntil,
  initialState,
  isCompensationInFlight,
  isItemCompensationInFlight,
  isItemInFlight,
  isStepInFlight,
  isTerminal,
  normalizeOutput,
  parseDuration,
  stepKey,
  stepOutputs,
  storableError,
  transition,
  undoKey,
} from '@saga-engine/core';
import { toErrorInfo, type Duration } from '@saga-engine/sdk';
import {
  DEADLINE_GRACE_MS,
  deadlineExceeded,
  outputInvalid,
  outputProblems,
  raceAbort,
  timeoutReason,
} from './agent-semantics';
import { isFault, type Fault, type FaultEntry } from './faults';
import type { Execution, Kernel } from './kernel';
import { SagaTestError } from './saga-test-error';
import type {
  AlertRecord,
  AnySagaDefinition,
  At,
  AttemptRecord,
  ChildResult,
  ItemResult,
  SagaTestResult,
  StartOptions,
  StepResult,
  TimedEvent,
  TimedHistoryEntry,
} from './types';

type DispatchStep = Extract<SagaCommand, { type: 'DispatchStep' }>;
/** What an attempt reports to the engine. */
type AttemptOutcome = Extract<
  SagaEvent,
  {
    type:
      | 'StepSucceeded'
      | 'StepFailed'
      | 'StepSkipped'
      | 'WaitStarted'
      | 'SleepStarted'
      | 'ChildRequested'
      | 'FanOutStarted'
      | 'CompensationSucceeded'
      | 'CompensationFailed';
  }
>;

/** Which attempt of which step of which run started a child run. */
interface ParentOfRun {
  run: SagaTestRun;
  step: string;
  attempt: number;
}
type Handler = (ctx: any, deps: any) => unknown;

/** What runs for one attempt, once its condition (if any) held. */
type Script = { ran: 'handler' | 'stub'; fn: Handler } | { ran: 'fault'; fn: Handler; fault: Fault | null };

export interface RunSettings {
  random: () => number;
  maxEvents: number;
  /** The supervisor's `poisonAfterDeaths`. */
  poisonAfterDeaths: number;
}

/**
 * One saga instance in a `SagaTestEnvironment`: its state, fed to the engine's `transition` event by event, and
 * its attempts, run the way the agent runs them. Made by `env.start()`.
 */
export class SagaTestRun<D extends AnySagaDefinition = AnySagaDefinition> {
  /** The saga's id (a UUID), as `ctx.sagaId` and the idempotency keys show it. */
  readonly id = randomUUID();
  readonly startedAt: Date;
  #state: SagaState;
  #fatal: Error | null = null;
  /** Operator re-runs scheduled and not applied yet: they may re-open a saga that ended (see retryFrom). */
  #reopening = 0;
  readonly #history: TimedHistoryEntry[] = [];
  readonly #events: TimedEvent[] = [];
  readonly #attempts: AttemptRecord[] = [];
  readonly #alerts: AlertRecord[] = [];
  /** Attempts of this run whose outcome has not reached the engine yet. */
  #inFlight = 0;
  /** The lists of this run's fan-outs (the store's item rows): the items and their keys, by step. */
  readonly #lists = new Map<string, { items: unknown[]; keys: string[] | null }>();
  /** The child runs this run's child steps started, in order. */
  readonly #children: { step: string; run: SagaTestRun }[] = [];
  /** The step of the parent run that started this one, when it is a child. */
  readonly #parent: ParentOfRun | null;

  /** @internal Use `env.start()`. */
  constructor(
    readonly saga: D,
    input: unknown,
    private readonly options: StartOptions<D>,
    private readonly kernel: Kernel,
    private readonly settings: RunSettings,
    parent: ParentOfRun | null = null,
  ) {
    this.startedAt = new Date(kernel.clock.now);
    this.#parent = parent;
    // The engine stores the input as JSON (jsonb): a Date becomes a string, undefined fields disappear.
    this.#state = initialState(saga, jsonCopy(input, `saga "${saga.name}": the input`));
    kernel.register(this);
    this.#apply({ type: 'SagaStarted' });
  }

  /** The parent run's id, when this run is a child saga (started by a parent's `.child()` step); else null. */
  get parentId(): string | null {
    return this.#parent?.run.id ?? null;
  }

  /** The child runs this run's child steps started (`.child()`), in order: await their `result()` to inspect them. */
  children(): SagaTestRun[] {
    return this.#children.map((c) => c.run);
  }

  get status(): SagaStatus {
    return this.#state.status;
  }

  /** A test-kit error that stopped this run (a missing dep, a runaway saga), or null. */
  get fatal(): Error | null {
    return this.#fatal;
  }

  /**
   * Runs the environment (virtual time skipping ahead whenever nothing runs) until this saga is COMPLETED,
   * COMPENSATED or CANCELLED, or FAILED with nothing of it left in flight (it waits for an operator: `retry()` it,
   * and await `result()` again). Rejects with a `SagaTestError` when the test's setup is wrong.
   */
  async result(): Promise<SagaTestResult<D>> {
    await this.kernel.drive({
      run: this,
      done: () => this.#settled(),
      stuck: () =>
        new SagaTestError(
          `saga "${this.saga.name}" ${this.id} is ${this.status}, yet nothing of it runs and no timer is pending ` +
            `(a bug of the test kit)`,
        ),
    });
    return this.snapshot();
  }

  /** The run as it is now, without moving anything. */
  snapshot(): SagaTestResult<D> {
    const state = this.#state;
    const steps: Record<string, StepResult> = {};
    for (const def of this.saga.steps) {
      const s = state.steps[def.name];
      const list = this.#lists.get(def.name);
      steps[def.name] = {
        status: s.status,
        attempts: s.attempt,
        output: s.status === StepStatus.SUCCEEDED ? s.output : null,
        error: s.error,
        compensation:
          s.compensation === null
            ? null
            : { status: s.compensation.status, attempts: s.compensation.attempt, error: s.compensation.error },
        ...(s.fanOut
          ? {
              items: s.fanOut.items.map((it, index): ItemResult => ({
                index,
                key: list?.keys?.[index] ?? String(index),
                item: list?.items[index] ?? null,
                ...itemResult(it),
              })),
            }
          : {}),
      };
    }
    const children: ChildResult[] = this.#children.map((c) => ({
      step: c.step,
      id: c.run.id,
      type: c.run.saga.name,
      status: c.run.status,
    }));
    const last = this.#history.at(-1)!;
    return structuredClone({
      id: this.id,
      type: this.saga.name,
      status: state.status,
      output: (state.status === SagaStatus.COMPLETED ? state.output : null) as SagaTestResult<D>['output'],
      error: state.error,
      parentId: this.parentId,
      children,
      steps,
      history: this.#history,
      attempts: this.#attempts,
      events: this.#events,
      alerts: this.#alerts,
      startedAt: this.startedAt,
      endedAt: last.at,
      elapsedMs: last.elapsedMs,
    });
  }

  /**
   * Sends signal `name` (`POST /v1/sagas/{id}/signals/{name}`): the steps waiting for it complete with `payload` as
   * their output; one that has not started yet gets it when it starts; otherwise it is ignored (the API's 409; see
   * `events`). Delivered at `at` (from the saga's start), or now, once the environment runs (`result()`,
   * `advance()`).
   */
  signal(name: string, payload: Record<string, unknown> = {}, options: At & { step?: string; by?: string } = {}): void {
    const event: SagaEvent = {
      type: 'SignalReceived',
      signal: name,
      ...(options.step === undefined ? {} : { step: options.step }),
      payload: jsonCopy(payload, `signal "${name}": the payload`),
      by: options.by ?? 'test',
    };
    this.#schedule(this.#when(options.at, `signal("${name}")`), event);
  }

  /** An operator's cancel (until the pivot succeeded): what completed is undone, and the saga ends CANCELLED. */
  cancel(reason: string, options: At & { by?: string } = {}): void {
    this.#schedule(this.#when(options.at, 'cancel()'), { type: 'CancelRequested', by: options.by ?? 'test', reason });
  }

  /** An operator's retry of a FAILED saga: its failed compensations (or its failed step past the pivot) run again. */
  retry(reason: string, options: At & { by?: string } = {}): void {
    this.#schedule(this.#when(options.at, 'retry()'), { type: 'RetryRequested', by: options.by ?? 'test', reason });
  }

  /** An operator declares the FAILED compensation of `step` done by hand; the saga goes on compensating. */
  resolve(step: string, reason: string, options: At & { by?: string } = {}): void {
    this.#schedule(this.#when(options.at, 'resolve()'), {
      type: 'CompensationResolved',
      step,
      by: options.by ?? 'test',
      reason,
    });
  }

  /**
   * An operator re-runs a FAILED (past its pivot) or COMPLETED saga from `step`: it and the later steps run again,
   * each with a new idempotency key (`ctx.key` ends `:rerun-<n>`).
   */
  retryFrom(step: string, reason: string, options: At & { by?: string } = {}): void {
    const at = this.#when(options.at, `retryFrom("${step}")`);
    // It may re-open a COMPLETED saga: due even once the saga ended, and `result()` waits for it.
    this.#reopening += 1;
    this.kernel.clock.schedule(
      at,
      () => {
        this.#reopening -= 1;
        this.#apply({ type: 'RetryFromStepRequested', step, by: options.by ?? 'test', reason });
      },
      { owner: this, live: () => !this.#fatal },
    );
  }

  /** An operator skips a FAILED, RETRYING or PENDING forward step: it SUCCEEDED with `output`, never compensated. */
  skip(step: string, output: unknown, reason: string, options: At & { by?: string } = {}): void {
    let copy: unknown;
    try {
      // Checked as the API checks it (a step's output: JSON, at most 256 KiB).
      copy = normalizeOutput(output);
    } catch (error) {
      throw new SagaTestError(`skip("${step}"): ${(error as Error).message}`);
    }
    // As the API: it must fit the step's output class, if it declares one.
    const declared = Object.hasOwn(this.saga.stepsByName, step) ? this.saga.stepsByName[step] : null;
    const problems = declared ? outputProblems(declared, copy) : [];
    if (problems.length > 0) throw new SagaTestError(`skip("${step}"): ${problems.join('; ')}`);
    this.#schedule(this.#when(options.at, `skip("${step}")`), {
      type: 'SkipRequested',
      step,
      output: copy,
      by: options.by ?? 'test',
      reason,
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // The engine's side: events into `transition`, its commands onto the virtual clock.
  // -------------------------------------------------------------------------------------------------------------

  #apply(event: SagaEvent): void {
    if (this.#fatal) return;
    if (this.#events.length >= this.settings.maxEvents) {
      this.#fail(
        new SagaTestError(
          `saga "${this.saga.name}" ${this.id} is still ${this.status} after ${this.settings.maxEvents} events ` +
            `(a step past the pivot that fails forever retries forever): raise maxEvents if that is intended`,
        ),
      );
      return;
    }
    const now = this.kernel.clock.now;
    const time = { at: new Date(now), elapsedMs: now - this.startedAt.getTime() };
    const result = transition(this.saga, this.#state, event, { random: this.settings.random });
    this.#events.push({ ...time, event, ignored: result.ignored });
    if (result.ignored !== null) return;
    this.#state = result.state;
    for (const entry of result.history) this.#history.push({ ...entry, ...time });
    for (const command of result.commands) this.#command(command);
    if (this.#parent && isTerminal(this.#state.status)) this.#tellParent();
  }

  /** This child run ended: its parent hears of it (`ChildEnded`), as the engine delivers it after the last commit. */
  #tellParent(): void {
    const parent = this.#parent!;
    const status = this.#state.status as ChildEndStatus;
    const event: SagaEvent = {
      type: 'ChildEnded',
      step: parent.step,
      attempt: parent.attempt,
      childId: this.id,
      status,
      ...(status === SagaStatus.COMPLETED ? { output: this.#state.output } : {}),
      error: this.#state.error,
    };
    parent.run.#deliver(event);
  }

  /** An event from another run (a child's end, a parent's cancel or undo), applied now on the clock. */
  #deliver(event: SagaEvent): void {
    this.kernel.clock.schedule(this.kernel.clock.now, () => this.#apply(event), {
      owner: this,
      live: () => !this.#fatal,
    });
  }

  /** The child run of a step (its newest). */
  #childOf(step: string): SagaTestRun | undefined {
    return this.#children.findLast((c) => c.step === step)?.run;
  }

  #command(command: SagaCommand): void {
    const clock = this.kernel.clock;
    switch (command.type) {
      case 'DispatchStep':
        // A job delayed by `delayMs`; dropped if it is stale when due, as the agent drops a stale job.
        clock.schedule(clock.now + command.delayMs, () => this.#startAttempt(command), {
          owner: this,
          live: () => !this.#fatal && this.#isCurrent(command.step, command.phase, command.attempt, command.item),
        });
        return;
      case 'StartFanOut':
        // The store's item rows: the items and their keys, as the agent computed them.
        this.#lists.set(command.step, { items: command.items, keys: command.keys });
        return;
      case 'StartChild': {
        // The child starts in the same commit; here, a run of its own on the same clock.
        const child = this.saga.stepsByName[command.step].childDefinition as AnySagaDefinition | null | undefined;
        if (!child) {
          this.#fail(new SagaTestError(`saga "${this.saga.name}": step "${command.step}" has no child definition`));
          return;
        }
        const given = this.options.children?.[command.step as keyof typeof this.options.children];
        const options = given ?? { deps: filterDeps(this.options.deps, child) };
        checkStartOptions(child, options);
        const run: SagaTestRun = new SagaTestRun(child, command.input, options, this.kernel, this.settings, {
          run: this,
          step: command.step,
          attempt: command.attempt,
        });
        this.#children.push({ step: command.step, run });
        return;
      }
      case 'CancelChild': {
        const child = this.#childOf(command.step);
        if (!child) return;
        if (isTerminal(child.status)) child.#tellParent();
        else {
          child.#deliver({
            type: 'CancelRequested',
            by: `saga ${this.id}`,
            reason: `its parent saga ${this.id} (${this.saga.name}) is compensating: ${command.reason}`,
          });
        }
        return;
      }
      case 'UndoChild': {
        const child = this.#childOf(command.step);
        const { step, compensationAttempt } = command;
        if (!child) {
          this.#deliver({ type: 'CompensationSucceeded', step, attempt: compensationAttempt });
          return;
        }
        const reason = `its parent saga ${this.id} (${this.saga.name}) compensates step "${step}": ${command.reason}`;
        clock.schedule(
          clock.now,
          () => {
            if (child.status !== SagaStatus.COMPLETED) {
              if (isTerminal(child.status)) child.#tellParent();
              return;
            }
            const result = transition(child.saga, child.#state, {
              type: 'UndoRequested',
              by: `saga ${this.id}`,
              reason,
            });
            if (result.ignored !== null) {
              // Past its pivot: the undo is refused, and the parent's compensation fails for good.
              this.#apply({
                type: 'CompensationFailed',
                step,
                attempt: compensationAttempt,
                error: {
                  name: 'ChildPastPivot',
                  code: 'CHILD_PAST_PIVOT',
                  message: `child saga ${child.id} cannot be undone: ${result.ignored}`,
                  retryable: false,
                },
              });
              return;
            }
            child.#apply({ type: 'UndoRequested', by: `saga ${this.id}`, reason });
          },
          { owner: this, live: () => !this.#fatal },
        );
        return;
      }
      case 'AwaitSignal': {
        // The supervisor's sweep: `SignalTimedOut` at the wait's deadline, unless the wait ended before.
        const { step, attempt } = command;
        clock.schedule(clock.now + command.timeoutMs, () => this.#apply({ type: 'SignalTimedOut', step, attempt }), {
          owner: this,
          live: () => {
            const s = this.#state.steps[step];
            return !this.#fatal && s.status === StepStatus.WAITING && s.attempt === attempt;
          },
        });
        return;
      }
      case 'StartTimer': {
        // The supervisor's sweep: `TimerFired` at the wake-up time (on time: the kit has no sweep interval).
        const { step, attempt } = command;
        const at = command.until !== undefined ? Date.parse(command.until) : clock.now + (command.delayMs ?? 0);
        clock.schedule(
          at,
          () =>
            this.#apply({
              type: 'TimerFired',
              step,
              attempt,
              dueAt: new Date(at).toISOString(),
              firedAt: new Date(clock.now).toISOString(),
            }),
          {
            owner: this,
            live: () => {
              const s = this.#state.steps[step];
              return !this.#fatal && s.status === StepStatus.SLEEPING && s.attempt === attempt;
            },
          },
        );
        return;
      }
      case 'DelayStart':
        // Runs here start at once (env.start); nothing sends SagaDelayed.
        return;
      case 'RaiseAlert': {
        const now = clock.now;
        this.#alerts.push({
          at: new Date(now),
          elapsedMs: now - this.startedAt.getTime(),
          status: command.status ?? 'FAILED',
          error: command.error,
        });
        return;
      }
      default: {
        const _never: never = command;
        return;
      }
    }
  }

  /** Whether the attempt is the one the saga waits for (the agent's `isCurrent`, or `isItemCurrent`). */
  #isCurrent(name: string, phase: StepPhase, attempt: number, item?: number): boolean {
    const step = this.#state.steps[name];
    if (item !== undefined) {
      const it = step.fanOut?.items[item];
      if (!it) return false;
      if (phase === StepPhase.RUN) return isItemInFlight(it) && it.attempt === attempt;
      return isItemCompensationInFlight(it) && it.compensation?.attempt === attempt;
    }
    if (phase === StepPhase.RUN) return isStepInFlight(step) && step.attempt === attempt;
    return isCompensationInFlight(step) && step.compensation?.attempt === attempt;
  }

  #schedule(at: number, event: SagaEvent): void {
    this.kernel.clock.schedule(at, () => this.#apply(event), {
      owner: this,
      live: () => !this.#fatal && !isTerminal(this.#state.status),
    });
  }

  #when(at: Duration | Date | undefined, what: string): number {
    const now = this.kernel.clock.now;
    if (at === undefined) return now;
    const start = this.startedAt.getTime();
    const ms = at instanceof Date ? at.getTime() : start + parseDuration(at, `${what}: at`);
    if (Number.isNaN(ms)) throw new SagaTestError(`${what}: at is an invalid date`);
    if (ms < now) {
      throw new SagaTestError(
        `${what}: at ${ms - start} ms from the start is in the past (the clock is at ${now - start} ms)`,
      );
    }
    return ms;
  }

  #settled(): boolean {
    const status = this.#state.status;
    if (isTerminal(status)) return this.#reopening === 0;
    return status === SagaStatus.FAILED && this.#inFlight === 0 && !this.kernel.clock.pendingFor(this);
  }

  #fail(error: Error): void {
    this.#fatal ??= error;
    this.kernel.kick();
  }

  // -------------------------------------------------------------------------------------------------------------
  // The agent's side: one attempt, as `StepExecutor.run` does it.
  // -------------------------------------------------------------------------------------------------------------

  #startAttempt(command: DispatchStep): void {
    const { step: name, phase, attempt, item } = command;
    const at = item === undefined ? {} : { item };
    const now = this.kernel.clock.now;
    const record: AttemptRecord = {
      step: name,
      ...at,
      phase,
      attempt,
      at: new Date(now),
      elapsedMs: now - this.startedAt.getTime(),
      ran: 'handler',
      outcome: null,
      error: null,
      reportedAt: null,
    };
    this.#attempts.push(record);
    const script = this.#script(name, phase, attempt);
    const parked = script.ran === 'fault' && script.fault?.kind === 'timeout';
    const crash = script.ran === 'fault' && script.fault?.kind === 'crash';
    const execution = this.kernel.begin(parked);
    this.#inFlight++;
    this.#run(command, script, record, execution)
      .then((event) => {
        const evaluated = ['StepSkipped', 'WaitStarted', 'SleepStarted', 'ChildRequested', 'FanOutStarted'];
        if (crash && !evaluated.includes(event.type)) {
          // Its agent died before reporting: the supervisor finds it past its deadline (due + timeout + grace), a
          // death of the step (POISONED at the limit).
          const lost = (): AttemptOutcome => {
            const deaths = (this.#state.steps[name].deaths ?? 0) + 1;
            const error = deadlineExceeded(name, phase, attempt, deaths, this.settings.poisonAfterDeaths);
            return phase === StepPhase.RUN
              ? { type: 'StepFailed', step: name, attempt, error, ...at }
              : { type: 'CompensationFailed', step: name, attempt, error, ...at };
          };
          this.kernel.clock.schedule(now + command.timeoutMs + DEADLINE_GRACE_MS, () => this.#report(record, lost()), {
            owner: this,
            live: () => !this.#fatal && this.#isCurrent(name, phase, attempt, item),
          });
          return;
        }
        this.#report(record, event);
      })
      .catch((error: unknown) => this.#fail(error instanceof Error ? error : new Error(String(error))))
      .finally(() => {
        this.#inFlight--;
        this.kernel.end(execution);
      });
  }

  #report(record: AttemptRecord, event: AttemptOutcome): void {
    record.reportedAt = new Date(this.kernel.clock.now);
    switch (event.type) {
      case 'StepSucceeded':
      case 'CompensationSucceeded':
        record.outcome = 'succeeded';
        break;
      case 'StepFailed':
      case 'CompensationFailed':
        record.outcome = 'failed';
        record.error = event.error;
        break;
      case 'StepSkipped':
        record.outcome = 'skipped';
        break;
      case 'WaitStarted':
        record.outcome = 'waiting';
        break;
      case 'SleepStarted':
        record.outcome = 'sleeping';
        break;
      case 'ChildRequested':
        record.outcome = 'child';
        break;
      case 'FanOutStarted':
        record.outcome = 'items';
        break;
      default: {
        const _never: never = event;
        break;
      }
    }
    this.#apply(event);
  }

  /** Which function an attempt calls once its condition held: a fault's, a stub, or the step's own handler. */
  #script(name: string, phase: StepPhase, attempt: number): Script {
    const undo = phase === StepPhase.UNDO;
    const step = this.saga.stepsByName[name];
    const own = (undo ? step.compensate : step.run) as Handler | null;
    const stub = pick<Handler>(undo ? this.options.compensationStubs : this.options.stubs, name);
    const body: Script =
      stub !== undefined
        ? { ran: 'stub', fn: stub }
        : {
            ran: 'handler',
            fn:
              own ??
              (() => {
                throw new Error(`step "${name}" has no ${undo ? 'compensation' : 'action'}`);
              }),
          };
    const faults = pick<readonly FaultEntry[]>(undo ? this.options.compensationFaults : this.options.faults, name);
    const entry = faults?.[attempt - 1] ?? null;
    if (entry === null) return body;
    if (typeof entry === 'function') return { ran: 'fault', fn: entry, fault: null };
    if (entry.kind === 'error') {
      const make = entry.error;
      return {
        ran: 'fault',
        fault: entry,
        fn: () => {
          throw make();
        },
      };
    }
    // A timeout or a crash: the handler (or its stub) runs all the same; its outcome is what the fault decides.
    return { ran: 'fault', fault: entry, fn: body.fn };
  }

  async #run(
    command: DispatchStep,
    script: Script,
    record: AttemptRecord,
    execution: Execution,
  ): Promise<AttemptOutcome> {
    const { attempt, item } = command;
    const at = item === undefined ? {} : { item };
    const step: StepDefinition = this.saga.stepsByName[command.step];
    const undo = command.phase === StepPhase.UNDO;
    const timeoutMs = undo ? step.compensationTimeoutMs : step.timeoutMs;
    const { signal, release } = this.#attemptSignal(timeoutMs, execution);
    const list = this.#lists.get(step.name);
    // An item's key: `<sagaId>:<step>:<index>`, or the author's item key in place of the index.
    const key = stepKey(
      this.id,
      step.name,
      this.#state.steps[step.name]?.run,
      item === undefined ? undefined : (list?.keys?.[item] ?? item),
    );
    try {
      // A fresh copy per attempt, as the agent reads the snapshot from PostgreSQL: a handler that mutates what it
      // is given changes nothing of the saga's state.
      const state = this.#state;
      const input = structuredClone(state.input);
      const own =
        item === undefined ? state.steps[step.name]?.output : state.steps[step.name]?.fanOut?.items[item].output;
      const ctx = {
        sagaId: this.id,
        sagaType: this.saga.name,
        step: step.name,
        input,
        steps: structuredClone(stepOutputs(this.saga, state)),
        attempt,
        key,
        undoKey: undoKey(key),
        signal,
        traceparent: undefined,
        output: structuredClone(own ?? undefined),
        ...(item === undefined ? {} : { item: structuredClone(list?.items[item]), index: item }),
      };
      if (!undo && item === undefined && step.when !== null) {
        // As the agent: false skips the step, a throw fails it for good, true runs it (or starts the wait).
        const verdict = evaluateCondition(step, { input, steps: ctx.steps });
        if (verdict !== true || step.signal !== null) record.ran = 'condition';
        if (verdict === false) return { type: 'StepSkipped', step: step.name, attempt };
        if (verdict !== true) return { type: 'StepFailed', step: step.name, attempt, error: verdict };
        if (step.signal !== null) return { type: 'WaitStarted', step: step.name, attempt };
      }
      if (!undo && step.sleep) {
        // As the agent: `until` is code, evaluated here; the engine gets the time as data.
        record.ran = 'condition';
        const until = evaluateSleepUntil(step, { input, steps: ctx.steps });
        if (typeof until === 'object') return { type: 'StepFailed', step: step.name, attempt, error: until };
        return { type: 'SleepStarted', step: step.name, attempt, ...(until === undefined ? {} : { until }) };
      }
      if (!undo && step.child) {
        // As the agent: the child's input is code, computed here; the engine starts the child.
        record.ran = 'condition';
        return childRequested(step, { input, steps: ctx.steps }, attempt);
      }
      if (!undo && step.fanOut && item === undefined) {
        // As the agent: the list (and the keys) are code, computed here once; the items then run on their own.
        record.ran = 'condition';
        return fanOutStarted(step, { input, steps: ctx.steps }, attempt);
      }
      record.ran = script.ran;
      const deps = this.#deps(step.name);
      const call = this.kernel.within(execution, () => Promise.resolve().then(() => script.fn(ctx, deps)));
      let work: Promise<unknown> = call;
      if (script.ran === 'fault' && script.fault?.kind === 'timeout') {
        // The handler runs on, abandoned; the attempt's outcome is its timeout, at `timeoutMs` of virtual time.
        call.catch(() => undefined);
        work = new Promise<never>(() => undefined);
      }
      const value = await raceAbort(work, signal, timeoutMs);
      if (undo) return { type: 'CompensationSucceeded', step: step.name, attempt, ...at };
      const output = normalizeOutput(value);
      // As the agent: an output its class refuses fails the attempt for good (OUTPUT_INVALID), never stored.
      const problems = outputProblems(step, output, item !== undefined);
      if (problems.length > 0) {
        return { type: 'StepFailed', step: step.name, attempt, error: outputInvalid(step, problems, item), ...at };
      }
      return { type: 'StepSucceeded', step: step.name, attempt, output, ...at };
    } catch (thrown) {
      const error: ErrorInfo = storableError(toErrorInfo(thrown));
      return undo
        ? { type: 'CompensationFailed', step: step.name, attempt, error, ...at }
        : { type: 'StepFailed', step: step.name, attempt, error, ...at };
    } finally {
      release();
    }
  }

  /**
   * The attempt's signal: aborted with a TimeoutError at its timeout, as the agent's. In virtual time (reached only
   * when the handler awaits nothing but `env.sleep`, or a scripted timeout), and in real time too, as a guard
   * against a handler that really hangs (the agent's own timer is a real one).
   */
  #attemptSignal(timeoutMs: number, execution: Execution): { signal: AbortSignal; release: () => void } {
    const controller = new AbortController();
    const abort = () => {
      // A parked attempt (a scripted timeout) has work to do now: report. The clock waits for it.
      execution.parked = false;
      controller.abort(timeoutReason());
    };
    const virtual = this.kernel.clock.schedule(this.kernel.clock.now + timeoutMs, abort);
    const real = setTimeout(abort, timeoutMs);
    real.unref();
    return {
      signal: controller.signal,
      release: () => {
        virtual.cancel();
        clearTimeout(real);
      },
    };
  }

  /**
   * The handlers' second argument: the saga's declared deps, as the test gave them. Reading one the test did not
   * give stops the run with an error that names it, rather than failing the step (a missing fake is the test's
   * mistake, not the saga's behaviour).
   */
  #deps(step: string): Readonly<Record<string, unknown>> {
    const given = (this.options.deps ?? {}) as Record<string, unknown>;
    const deps: Record<string, unknown> = {};
    for (const name of Object.keys(this.saga.deps)) {
      if (Object.hasOwn(given, name)) {
        deps[name] = given[name];
        continue;
      }
      Object.defineProperty(deps, name, {
        enumerable: true,
        get: () => {
          const error = new SagaTestError(
            `saga "${this.saga.name}": step "${step}" uses deps.${name}, which the test did not give: ` +
              `pass it in env.start(saga, input, { deps: { ${name}: ... } }), or stub the step`,
          );
          this.#fail(error);
          throw error;
        },
      });
    }
    return Object.freeze(deps);
  }
}

/** An item as a test sees it. */
function itemResult(it: ItemState): Omit<ItemResult, 'index' | 'key' | 'item'> {
  return {
    status: it.status,
    attempts: it.attempt,
    output: it.status === StepStatus.SUCCEEDED || it.status === StepStatus.COMPENSATED ? it.output : null,
    error: it.error,
    compensation:
      it.compensation === null
        ? null
        : { status: it.compensation.status, attempts: it.compensation.attempt, error: it.compensation.error },
  };
}

/** The parent's deps that the child declares too (a child run started without options of its own). */
function filterDeps(deps: unknown, child: AnySagaDefinition): Record<string, unknown> {
  const given = (deps ?? {}) as Record<string, unknown>;
  return Object.fromEntries(Object.keys(child.deps).flatMap((name) => (name in given ? [[name, given[name]]] : [])));
}

/** A child step's input, as the agent computes it (see StepExecutor.childRequested; its input class is not checked). */
function childRequested(
  step: StepDefinition,
  ctx: { input: unknown; steps: Record<string, unknown> },
  attempt: number,
): AttemptOutcome {
  const failed = (message: string): AttemptOutcome => ({
    type: 'StepFailed',
    step: step.name,
    attempt,
    error: { name: 'ChildInputError', code: 'CHILD_INPUT_INVALID', message, retryable: false },
  });
  let value: unknown;
  try {
    value = normalizeOutput(step.childInput!(ctx));
  } catch (thrown) {
    return failed(`the input of child step "${step.name}" threw: ${(thrown as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return failed(`the input of child step "${step.name}" is not a JSON object`);
  }
  return { type: 'ChildRequested', step: step.name, attempt, input: value };
}

/** A fan-out's list and keys, as the agent computes them (see StepExecutor.fanOutStarted). */
function fanOutStarted(
  step: StepDefinition,
  ctx: { input: unknown; steps: Record<string, unknown> },
  attempt: number,
): AttemptOutcome {
  const failed = (message: string): AttemptOutcome => ({
    type: 'StepFailed',
    step: step.name,
    attempt,
    error: { name: 'FanOutItemsError', code: FAN_OUT_ITEMS_ERROR, message, retryable: false },
  });
  let list: unknown;
  try {
    list = step.items!(ctx);
  } catch (thrown) {
    return failed(`the items of step "${step.name}" threw: ${(thrown as Error).message}`);
  }
  if (!Array.isArray(list)) return failed(`the items of step "${step.name}" are not an array`);
  if (list.length > MAX_FAN_OUT_ITEMS) {
    return failed(`step "${step.name}" has ${list.length} items, more than ${MAX_FAN_OUT_ITEMS}`);
  }
  let items: unknown[];
  try {
    items = list.map((item) => normalizeOutput(item));
  } catch (thrown) {
    return failed(`an item of step "${step.name}": ${(thrown as Error).message}`);
  }
  if (!step.itemKey) return { type: 'FanOutStarted', step: step.name, attempt, items };
  const keys: string[] = [];
  for (let index = 0; index < items.length; index++) {
    let key: unknown;
    try {
      key = step.itemKey(items[index], index);
    } catch (thrown) {
      return failed(`the itemKey of step "${step.name}" threw for item ${index}: ${(thrown as Error).message}`);
    }
    if (typeof key !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(key) || keys.includes(key)) {
      return failed(`the itemKey of step "${step.name}" gave item ${index} an invalid or repeated key`);
    }
    keys.push(key);
  }
  return { type: 'FanOutStarted', step: step.name, attempt, items, keys };
}

function pick<T>(map: object | undefined, name: string): T | undefined {
  if (map === undefined || !Object.hasOwn(map, name)) return undefined;
  return (map as Record<string, T>)[name];
}

/** `value` as the engine stores it: JSON. */
function jsonCopy<T>(value: T, what: string): T {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new SagaTestError(`${what} is not JSON: ${(error as Error).message}`);
  }
  if (text === undefined || typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SagaTestError(`${what} must be a JSON object`);
  }
  return JSON.parse(text) as T;
}

/** Checks a start's options against the definition, so that a misspelt step or dep fails at once. */
export function checkStartOptions(saga: AnySagaDefinition, options: StartOptions<AnySagaDefinition>): void {
  const where = `env.start(${saga.name})`;
  const names = saga.steps.map((step) => step.name);
  const known = `its steps are ${names.join(', ')}`;
  const step = (name: string, field: string): StepDefinition => {
    if (!Object.hasOwn(saga.stepsByName, name)) {
      throw new SagaTestError(`${where}: ${field} names step "${name}", which saga "${saga.name}" has not (${known})`);
    }
    return saga.stepsByName[name];
  };
  for (const name of Object.keys(options.children ?? {})) {
    if (!step(name, 'children').child) {
      throw new SagaTestError(`${where}: children names step "${name}", which does not start a child saga`);
    }
  }
  for (const field of ['stubs', 'faults'] as const) {
    for (const name of Object.keys(options[field] ?? {})) {
      if (step(name, field).child) {
        throw new SagaTestError(
          `${where}: ${field} names step "${name}", a child step: its child runs instead; give the child's ` +
            `stubs and faults in children["${name}"]`,
        );
      }
      if (step(name, field).signal !== null) {
        throw new SagaTestError(
          `${where}: ${field} names step "${name}", a wait step: nothing runs for it; send its signal with ` +
            `run.signal(), or let it time out`,
        );
      }
    }
  }
  for (const field of ['compensationStubs', 'compensationFaults'] as const) {
    for (const name of Object.keys(options[field] ?? {})) {
      if (!step(name, field).compensable) {
        throw new SagaTestError(`${where}: ${field} names step "${name}", which has no compensate`);
      }
    }
  }
  for (const field of ['stubs', 'compensationStubs'] as const) {
    for (const [name, stub] of Object.entries(options[field] ?? {})) {
      if (typeof stub !== 'function') throw new SagaTestError(`${where}: ${field}["${name}"] must be a function`);
    }
  }
  for (const field of ['faults', 'compensationFaults'] as const) {
    for (const [name, list] of Object.entries(options[field] ?? {})) {
      if (!Array.isArray(list)) throw new SagaTestError(`${where}: ${field}["${name}"] must be an array`);
      (list as unknown[]).forEach((entry, i) => {
        if (entry !== null && typeof entry !== 'function' && !isFault(entry)) {
          throw new SagaTestError(`${where}: ${field}["${name}"][${i}] must be a fail.*() fault, a function or null`);
        }
      });
    }
  }
  const declared = Object.keys(saga.deps);
  for (const name of Object.keys(options.deps ?? {})) {
    if (!declared.includes(name)) {
      throw new SagaTestError(
        `${where}: deps.${name} is not a dep of saga "${saga.name}" (${declared.length > 0 ? `it declares ${declared.join(', ')}` : 'it declares none'})`,
      );
    }
  }
}
