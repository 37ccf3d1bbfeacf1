import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import {
  type ErrorInfo,
  FAN_OUT_ITEMS_ERROR,
  type ItemState,
  MAX_FAN_OUT_ITEMS,
  type SagaDefinition,
  type SagaEvent,
  type StepDefinition,
  StepPhase,
  evaluateCondition,
  evaluateSleepUntil,
  isCompensationInFlight,
  isItemCompensationInFlight,
  isItemInFlight,
  isStepInFlight,
  normalizeOutput,
  OUTPUT_INVALID,
  stepKey,
  stepOutputs,
  storableError,
  undoKey,
} from '@saga-engine/core';
import { validateSagaInput, validateStepOutput } from '../scheduler/input-schema';
import { toErrorInfo } from '@saga-engine/sdk';
import { type SagaSnapshot, SagaStore } from '../store/saga-store';
import type { StepJobData } from '../queue/step-job';
import { StepQueue } from '../queue/step-queue';
import { PARTICIPANT_THROTTLED } from '../invokers/participant-limits';
import { EngineMetrics } from '../observability/engine-metrics';
import { type InputCipher, scrubSecrets, secretsAt } from '../security/input-cipher';
import { INPUT_CIPHER, RUNTIME_OPTIONS, type RuntimeOptions } from '../module/tokens';
import { type ApplyResult, SagaScheduler } from '../scheduler/saga-scheduler';
import { SagaRegistry } from '../scheduler/saga-registry';
import { SnapshotCache } from '../scheduler/snapshot-cache';
import { StepDeps } from './step-deps';
import { withSagaLog } from '../observability/log-context';
import { inStepSpan } from '../observability/tracing';
import { DependencyMonitor } from '../observability/dependency-monitor';
import { AttemptIsolation, type Release } from './attempt-isolation';

export type ExecuteResult = 'applied' | 'stale' | 'ignored' | 'deferred';

/**
 * Puts the attempt back in its queue, due in `delayMs`, and resolves once it is there: a job from the queue is
 * moved to the delayed set (see StepWorker); an attempt run in-process is enqueued, delayed, under its job id.
 */
export type Deferral = (delayMs: number) => Promise<void>;

/** A throttled attempt comes back after at most this long, whatever the limiter says. */
const MAX_DEFER_MS = 60_000;

/** The error of a child step whose `input` threw, returned no JSON object, or one the child's input refuses. */
export const CHILD_INPUT_INVALID = 'CHILD_INPUT_INVALID';

/** What an item's attempt needs besides the saga: the item, its index, its key and (to undo it) its output. */
interface ItemRun {
  index: number;
  value: unknown;
  key: string;
  output: unknown;
}

// An item key: printable ASCII without spaces (it goes into idempotency keys, logs and headers).
const ITEM_KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

/** Reporting an outcome is retried this many times, from REPORT_RETRY_MS doubling (about 8 s in all). */
const REPORT_ATTEMPTS = 6;
const REPORT_RETRY_MS = 250;

/**
 * The agent's work for one job: run one attempt of a step's action or compensation under its timeout, then hand
 * the outcome to the scheduler. It never decides what comes next.
 */
@Injectable()
export class StepExecutor {
  private readonly logger = new Logger('Agent');
  /** The signals of the attempts running now, aborted on shutdown so that handlers that honour them stop early. */
  private readonly running = new Set<AbortController>();
  private stopping: Error | null = null;

  constructor(
    private readonly scheduler: SagaScheduler,
    private readonly store: SagaStore,
    private readonly registry: SagaRegistry,
    private readonly cache: SnapshotCache,
    private readonly deps: StepDeps,
    @Inject(INPUT_CIPHER) private readonly cipher: InputCipher | null,
    @Inject(RUNTIME_OPTIONS) private readonly options: RuntimeOptions,
    private readonly metrics: EngineMetrics,
    @Optional() private readonly isolation: AttemptIsolation = new AttemptIsolation(),
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
    @Optional() @Inject(StepQueue) private readonly queue: StepQueue | null = null,
  ) {}

  abortAll(): void {
    this.stopping = new Error('agent shutting down');
    this.isolation.close();
    for (const controller of this.running) controller.abort(this.stopping);
  }

  /**
   * `committed`: the snapshot whose commit dispatched this attempt, when the scheduler of this process hands the
   * attempt over right after that commit (a local run, see StepWorker); otherwise the job came from the queue.
   */
  execute(
    job: StepJobData,
    committed?: SagaSnapshot,
    handlerDone?: () => void,
    defer?: Deferral,
  ): Promise<ExecuteResult> {
    const { sagaId, step, phase, attempt, traceparent } = job;
    return withSagaLog({ sagaId, step, phase, attempt, traceparent }, () =>
      this.executeJob(job, committed, handlerDone, defer ?? ((delayMs) => this.enqueueDelayed(job, delayMs))),
    );
  }

  /** An in-process attempt held back by a participant's limit goes to the queue, delayed, under its job id. */
  private async enqueueDelayed(job: StepJobData, delayMs: number): Promise<void> {
    if (!this.queue) throw new Error('no step queue to put a throttled attempt back in');
    await this.queue.enqueue([{ data: { ...job, throttled: true }, delayMs }]);
  }

  /** `handlerDone`: called once the handler has settled, before its outcome is reported (see StepWorker). */
  private async executeJob(
    job: StepJobData,
    committed: SagaSnapshot | undefined,
    handlerDone: (() => void) | undefined,
    defer: Deferral,
  ): Promise<ExecuteResult> {
    if (job.item !== undefined) return this.executeItem(job, job.item, committed, handlerDone, defer);
    // A cached copy is good enough to know the inputs (outputs never change once written), but whether this
    // attempt is still wanted is checked against PostgreSQL unless this process committed it a moment ago.
    let snapshot = committed ?? (job.attempt === 1 ? this.cache.getFresh(job.sagaId) : undefined);
    if (!snapshot || !isCurrent(snapshot, job)) {
      snapshot = (await this.store.load(job.sagaId)) ?? undefined;
      if (!snapshot || !isCurrent(snapshot, job)) return 'stale';
    }
    const definition = this.registry.code(snapshot.type, snapshot.definitionVersion);
    // Jobs come only from the queues of the versions this agent registers; an in-process hand-over likewise.
    if (!definition)
      throw new Error(`saga "${snapshot.type}" version ${snapshot.definitionVersion} is not in this agent`);
    const step = definition.stepsByName[job.step];

    if (job.phase === StepPhase.RUN && step.when !== null) {
      // The condition is code, so the agent evaluates it (the scheduler reads only data), before anything runs:
      // false skips the step, a throw fails it for good; true runs it, or starts a wait step's wait. A skip is
      // not an attempt of the step: no span, no attempt metric.
      const verdict = this.condition(snapshot, definition, step);
      const event: SagaEvent | null =
        verdict === false
          ? { type: 'StepSkipped', step: step.name, attempt: job.attempt }
          : verdict !== true
            ? { type: 'StepFailed', step: step.name, attempt: job.attempt, error: verdict }
            : step.signal !== null
              ? { type: 'WaitStarted', step: step.name, attempt: job.attempt }
              : null;
      if (event) {
        handlerDone?.();
        return this.outcome(job, event);
      }
    }

    if (job.phase === StepPhase.RUN && step.sleep) {
      // A sleep runs nothing: the agent only evaluates its `until` (code) and reports the wake-up time as data.
      handlerDone?.();
      return this.outcome(job, this.sleepStarted(snapshot, definition, step, job.attempt));
    }
    if (job.phase === StepPhase.RUN && step.child) {
      // Nor does a child step: the agent computes the child's input (code); the engine starts the child.
      handlerDone?.();
      return this.outcome(job, await this.childRequested(snapshot, definition, step, job.attempt));
    }
    if (job.phase === StepPhase.RUN && step.fanOut) {
      // A fan-out's own attempt computes its list (code); its items then run as attempts of their own.
      handlerDone?.();
      return this.outcome(job, this.fanOutStarted(snapshot, definition, step, job.attempt));
    }

    return this.runAttempt(job, snapshot, definition, step, undefined, committed !== undefined, handlerDone, defer);
  }

  /**
   * One attempt of one item of a fan-out: the saga as cached (or read without its items), and the item's own row,
   * which says whether this attempt is still wanted and holds the item and its key.
   */
  private async executeItem(
    job: StepJobData,
    index: number,
    committed: SagaSnapshot | undefined,
    handlerDone: (() => void) | undefined,
    defer: Deferral,
  ): Promise<ExecuteResult> {
    const [stored, snapshot] = await Promise.all([
      this.store.loadItem(job.sagaId, job.step, index),
      committed ?? this.cache.getFresh(job.sagaId) ?? this.store.load(job.sagaId, { items: false }),
    ]);
    if (!stored || !snapshot || !isItemCurrent(stored.state, job)) return 'stale';
    const definition = this.registry.code(snapshot.type, snapshot.definitionVersion);
    if (!definition)
      throw new Error(`saga "${snapshot.type}" version ${snapshot.definitionVersion} is not in this agent`);
    const step = definition.stepsByName[job.step];
    const item: ItemRun = { index, value: stored.item, key: stored.key, output: stored.state.output };
    return this.runAttempt(job, snapshot, definition, step, item, committed !== undefined, handlerDone, defer);
  }

  /** Runs the handler of the attempt (a step's, or an item's) under its span and timeout, and reports. */
  private async runAttempt(
    job: StepJobData,
    snapshot: SagaSnapshot,
    definition: SagaDefinition,
    step: StepDefinition,
    item: ItemRun | undefined,
    committed: boolean,
    handlerDone: (() => void) | undefined,
    defer: Deferral,
  ): Promise<ExecuteResult> {
    const at = item === undefined ? {} : { item: item.index };

    // An attempt that may kill its agent (its step did before, or its process died while it ran in-process) runs
    // alone on this agent (see AttemptIsolation); the others share it. From the queue, one that cannot run here now
    // goes back to it (IsolationBusyError: StepWorker).
    const isolate = job.isolate === true || (snapshot.state.steps[job.step]?.deaths ?? 0) > 0;
    let gate: Release;
    try {
      gate = await (isolate ? this.isolation.enterAlone() : this.isolation.enterShared(!committed));
    } catch (error) {
      handlerDone?.();
      throw error;
    }
    let marking: Promise<unknown> | undefined;
    let mark: NodeJS.Timeout | undefined;
    try {
      if (!committed) {
        // From the queue: recorded as started before it runs, so that if it kills this process the supervisor counts
        // a death (an attempt never started is enqueued again instead, and counts nothing). Its deadline runs from
        // now. Ignored: another copy started it already (this one must not run it again), or the saga moved on.
        const started = await this.scheduler.apply(
          job.sagaId,
          { type: 'StepStarted', step: job.step, phase: job.phase, attempt: job.attempt, ...at },
          snapshot,
        );
        if (started.applied) snapshot = started.snapshot;
        else if (!(job.throttled && (await this.stillStarted(job)))) {
          gate();
          handlerDone?.();
          return 'stale';
        }
        // (Not applied, but throttled: this very job started the attempt, then a participant's limit held its call
        // back and it went back to the queue: it runs now, as the attempt that is still current.)
      } else {
        // In-process, right after the commit that dispatched it: a fast step reports before this write is needed.
        mark = setTimeout(() => {
          marking = this.scheduler
            .apply(job.sagaId, { type: 'StepStarted', step: job.step, phase: job.phase, attempt: job.attempt, ...at })
            .catch((error: unknown) => {
              if (!this.monitor.failed('postgres', error, 'agent')) {
                this.logger.warn(`saga ${job.sagaId}: could not record ${job.step} as running: ${String(error)}`);
              }
            });
        }, this.options.runningMarkMs);
      }
    } catch (error) {
      gate();
      handlerDone?.();
      throw error;
    }

    const current = snapshot;
    const began = performance.now();
    const failedOf = (e: SagaEvent) => (e.type === 'StepFailed' || e.type === 'CompensationFailed' ? e.error : null);
    const undo = job.phase === StepPhase.UNDO;
    const event = await inStepSpan(
      // The job's (ids only); a job re-driven by the supervisor has none: the saga's own, from PostgreSQL.
      job.traceparent ?? current.traceparent,
      `${undo ? 'compensate' : 'step'} ${job.step}${item === undefined ? '' : `[${item.index}]`}`,
      {
        'saga.id': job.sagaId,
        'saga.type': current.type,
        'saga.step': job.step,
        'saga.attempt': job.attempt,
        ...(item === undefined ? {} : { 'saga.item': item.index }),
      },
      (traceparent) => this.run(current, definition, step, job, traceparent, item),
      failedOf,
    ).finally(() => {
      clearTimeout(mark);
      gate();
      handlerDone?.();
    });
    const failed = failedOf(event);
    if (failed?.code === PARTICIPANT_THROTTLED) {
      if (marking) await marking;
      return this.deferAttempt(job, failed, defer);
    }
    this.metrics.attempt(current.type, job.step, job.phase, failed, (performance.now() - began) / 1000);
    if (marking) await marking;
    return this.outcome(job, event);
  }

  /**
   * A participant's cluster-wide limit held the call back (nothing was sent): not an attempt that failed, so
   * nothing is reported; the same attempt goes back to the queue, delayed until the limiter expects a slot, marked
   * `throttled` (it may have been recorded as started: when taken again it runs, as the attempt still current). Its
   * start-to-close timeout starts again when it runs; while its job waits, delayed, the supervisor extends its
   * deadline instead of failing it (a queued job has not started). Exactly one copy exists: the job moved to the
   * delayed set, or (in-process) the one enqueued under the attempt's job id. If that fails (Redis away), the
   * attempt has no job and the supervisor re-drives it, as any lost job.
   */
  private async deferAttempt(job: StepJobData, error: ErrorInfo, defer: Deferral): Promise<ExecuteResult> {
    const delayMs = Math.min(MAX_DEFER_MS, Math.max(1, Math.round(error.retryAfterMs ?? 1000)));
    this.logger.debug(`saga ${job.sagaId}: ${job.step} held back (${error.message}); again in ${delayMs} ms`);
    await defer(delayMs);
    return 'deferred';
  }

  /** Whether the job's attempt is still the current one, started (a throttled job's second take; see deferAttempt). */
  private async stillStarted(job: StepJobData): Promise<boolean> {
    if (job.item !== undefined) {
      const stored = await this.store.loadItem(job.sagaId, job.step, job.item);
      return stored !== null && stored !== undefined && isItemCurrent(stored.state, job);
    }
    const fresh = await this.store.load(job.sagaId);
    return fresh !== null && fresh !== undefined && isCurrent(fresh, job);
  }

  /** Reports the outcome; `ignored` when it is stale by now (another copy reported, the saga moved on). */
  private async outcome(job: StepJobData, event: SagaEvent): Promise<ExecuteResult> {
    const result = await this.report(job, event);
    if (!result.applied) {
      this.logger.debug(
        `saga ${job.sagaId}: outcome of ${job.step}/${job.phase}#${job.attempt} ignored: ${result.reason}`,
      );
      return 'ignored';
    }
    return 'applied';
  }

  /**
   * Hands the outcome to the scheduler, retrying for a few seconds when PostgreSQL does not answer (a restart,
   * a failover): the step has run, and a lost report means running it again once the supervisor notices. A retry
   * after an ambiguous commit (it committed, the answer was lost) is harmless: the engine finds it stale.
   */
  private async report(job: StepJobData, event: SagaEvent): Promise<ApplyResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.scheduler.apply(job.sagaId, event);
      } catch (error) {
        if (attempt >= REPORT_ATTEMPTS) throw error;
        // PostgreSQL away is logged once per outage (by the monitor), not once per step and retry.
        if (!this.monitor.failed('postgres', error, 'agent')) {
          this.logger.warn(
            `saga ${job.sagaId}: could not record ${event.type} of ${job.step}, retrying: ${String(error)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, REPORT_RETRY_MS * 2 ** (attempt - 1)));
      }
    }
  }

  /**
   * The attempt's signal: aborted at its timeout (reason a TimeoutError, as AbortSignal.timeout gives) or when the
   * agent shuts down. `release` clears the timer as soon as the attempt ends. (Not AbortSignal.timeout +
   * AbortSignal.any: their timer stays armed for the whole timeout after the step returned, and the pair is freed
   * only by the garbage collector, so at a few thousand steps a second they piled up in the old generation.)
   */
  private attemptSignal(timeoutMs: number): { signal: AbortSignal; release: () => void } {
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
      timeoutMs,
    );
    if (this.stopping) controller.abort(this.stopping);
    else this.running.add(controller);
    return {
      signal: controller.signal,
      release: () => {
        clearTimeout(timer);
        this.running.delete(controller);
      },
    };
  }

  /**
   * The input as the step code sees it. Sensitive fields are opened here, in this process's memory, for the
   * handler and the condition only; a key that cannot open them (rotated away, another deployment's) throws, and
   * fails the attempt like any error, with a message naming the key.
   */
  private openInput(snapshot: SagaSnapshot, definition: SagaDefinition): unknown {
    if (definition.sensitive.length === 0) return snapshot.state.input;
    if (!this.cipher) throw new Error(`saga ${snapshot.type} has sensitive fields and no cipher`);
    return this.cipher.open(snapshot.state.input, definition.sensitive, snapshot.id);
  }

  /** The step's `when` over the input and the earlier outputs: true, false, or the error it threw. */
  private condition(snapshot: SagaSnapshot, definition: SagaDefinition, step: StepDefinition): boolean | ErrorInfo {
    let input: unknown;
    try {
      input = this.openInput(snapshot, definition);
    } catch (thrown) {
      // Not the condition's fault: a transient failure of the attempt, retried by the step's policy.
      return { ...storableError(toErrorInfo(thrown)), retryable: true };
    }
    return evaluateCondition(step, { input, steps: stepOutputs(definition, snapshot.state) });
  }

  /**
   * Where a sleep's `until` is evaluated: here, in the agent, because it is the author's code and the scheduler
   * reads only data (a process without the saga's code must be able to drive it). It runs once, when the sleep's
   * stage comes, over the input and the earlier outputs (which never change once written), and the time it returns
   * goes to the engine as data (`SleepStarted`): from then on the timer is a row in PostgreSQL, on the database
   * clock, which no process holds. A sleep of a fixed length never comes here (no code: the scheduler sets its
   * timer itself); a conditional one comes for its `when` and reports SleepStarted without `until`.
   */
  private sleepStarted(
    snapshot: SagaSnapshot,
    definition: SagaDefinition,
    step: StepDefinition,
    attempt: number,
  ): SagaEvent {
    let input: unknown;
    try {
      input = this.openInput(snapshot, definition);
    } catch (thrown) {
      // Not the author's fault: a transient failure of the attempt, retried by the step's policy.
      const error = { ...storableError(toErrorInfo(thrown)), retryable: true };
      return { type: 'StepFailed', step: step.name, attempt, error };
    }
    const until = evaluateSleepUntil(step, { input, steps: stepOutputs(definition, snapshot.state) });
    if (typeof until === 'object') return { type: 'StepFailed', step: step.name, attempt, error: until };
    return { type: 'SleepStarted', step: step.name, attempt, ...(until === undefined ? {} : { until }) };
  }

  /**
   * A child step's input, computed here (the author's code) over the input and the earlier outputs, and checked
   * against the child saga's input (its class, or the JSON Schema its agents published) before the engine starts it.
   * A throw or a refused input is a definite failure of the step (`CHILD_INPUT_INVALID`): the same code over the same
   * data would answer the same. A child version that no process registers is transient: it may be deploying.
   */
  private async childRequested(
    snapshot: SagaSnapshot,
    definition: SagaDefinition,
    step: StepDefinition,
    attempt: number,
  ): Promise<SagaEvent> {
    const child = step.child!;
    const failed = (message: string, retryable = false, code = CHILD_INPUT_INVALID): SagaEvent => ({
      type: 'StepFailed',
      step: step.name,
      attempt,
      error: { name: 'ChildInputError', code, message, retryable },
    });
    let input: unknown;
    try {
      input = this.openInput(snapshot, definition);
    } catch (thrown) {
      return {
        type: 'StepFailed',
        step: step.name,
        attempt,
        error: { ...storableError(toErrorInfo(thrown)), retryable: true },
      };
    }
    let value: unknown;
    try {
      value = normalizeOutput(step.childInput!({ input, steps: stepOutputs(definition, snapshot.state) }));
    } catch (thrown) {
      const detail = thrown instanceof Error ? thrown.message : String(thrown);
      return failed(`the input of child step "${step.name}" threw: ${detail}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return failed(`the input of child step "${step.name}" is not a JSON object`);
    }
    let known;
    try {
      known = await this.registry.version(child.type, child.version);
    } catch (thrown) {
      const error = storableError(toErrorInfo(thrown));
      return failed(error.message, true, error.code);
    }
    const problems = await validateSagaInput(
      known.code ?? { inputSchema: known.inputSchema },
      value as Record<string, unknown>,
    );
    if (problems.length > 0) {
      return failed(
        `the input of child step "${step.name}" does not fit saga "${child.type}": ${problems.slice(0, 5).join('; ')}`,
      );
    }
    return { type: 'ChildRequested', step: step.name, attempt, input: value };
  }

  /**
   * A fan-out's list (and its item keys), computed here (the author's code) over the input and the earlier outputs,
   * once: what it returned is stored with the items, so that every attempt of every item sees the same item. A
   * throw, no array, too many items, an item that is not JSON, or keys that are not unique printable strings: a
   * definite failure of the step (`FAN_OUT_ITEMS_ERROR`).
   */
  private fanOutStarted(
    snapshot: SagaSnapshot,
    definition: SagaDefinition,
    step: StepDefinition,
    attempt: number,
  ): SagaEvent {
    const failed = (message: string): SagaEvent => ({
      type: 'StepFailed',
      step: step.name,
      attempt,
      error: { name: 'FanOutItemsError', code: FAN_OUT_ITEMS_ERROR, message, retryable: false },
    });
    let input: unknown;
    try {
      input = this.openInput(snapshot, definition);
    } catch (thrown) {
      return {
        type: 'StepFailed',
        step: step.name,
        attempt,
        error: { ...storableError(toErrorInfo(thrown)), retryable: true },
      };
    }
    let list: unknown;
    try {
      list = step.items!({ input, steps: stepOutputs(definition, snapshot.state) });
    } catch (thrown) {
      return failed(
        `the items of step "${step.name}" threw: ${thrown instanceof Error ? thrown.message : String(thrown)}`,
      );
    }
    if (!Array.isArray(list)) return failed(`the items of step "${step.name}" are not an array`);
    if (list.length > MAX_FAN_OUT_ITEMS) {
      return failed(`step "${step.name}" has ${list.length} items, more than ${MAX_FAN_OUT_ITEMS}`);
    }
    const items: unknown[] = [];
    // Items are stored like outputs: a secret of the input echoed into one must not reach PostgreSQL in plain text.
    const secrets = definition.sensitive.length === 0 ? [] : secretsAt(input, definition.sensitive);
    for (let index = 0; index < list.length; index++) {
      try {
        items.push(scrubSecrets(normalizeOutput(list[index]), secrets));
      } catch (thrown) {
        return failed(
          `item ${index} of step "${step.name}": ${(thrown as Error).message.replace('step output', 'the item')}`,
        );
      }
    }
    if (!step.itemKey) return { type: 'FanOutStarted', step: step.name, attempt, items };
    const keys: string[] = [];
    const seen = new Set<string>();
    for (let index = 0; index < items.length; index++) {
      let key: unknown;
      try {
        key = step.itemKey(items[index], index);
      } catch (thrown) {
        return failed(`the itemKey of step "${step.name}" threw for item ${index}: ${(thrown as Error).message}`);
      }
      if (typeof key !== 'string' || !ITEM_KEY_PATTERN.test(key)) {
        return failed(
          `the itemKey of step "${step.name}" gave item ${index} a key that is not 1 to 200 printable characters ` +
            'without spaces',
        );
      }
      if (seen.has(key))
        return failed(`the itemKey of step "${step.name}" gave two items the key ${JSON.stringify(key)}`);
      seen.add(key);
      keys.push(key);
    }
    return { type: 'FanOutStarted', step: step.name, attempt, items, keys };
  }

  private async run(
    snapshot: SagaSnapshot,
    definition: SagaDefinition,
    step: StepDefinition,
    job: StepJobData,
    traceparent: string | undefined,
    item?: ItemRun,
  ): Promise<SagaEvent> {
    const undo = job.phase === StepPhase.UNDO;
    const timeoutMs = undo ? step.compensationTimeoutMs : step.timeoutMs;
    const { signal, release } = this.attemptSignal(timeoutMs);
    // `<sagaId>:<step>`; an item's: `<sagaId>:<step>:<index>`, or the author's item key in place of the index; with
    // `:rerun-<n>` once an operator re-ran the step (see stepKey).
    const key = stepKey(snapshot.id, step.name, snapshot.state.steps[step.name]?.run, item?.key);
    const at = item === undefined ? {} : { item: item.index };
    let secrets: string[] = [];
    try {
      const input = this.openInput(snapshot, definition);
      secrets = definition.sensitive.length === 0 ? [] : secretsAt(input, definition.sensitive);
      const ctx = {
        sagaId: snapshot.id,
        sagaType: snapshot.type,
        step: step.name,
        input,
        steps: stepOutputs(definition, snapshot.state),
        attempt: job.attempt,
        key,
        undoKey: undoKey(key),
        signal,
        traceparent,
        output: (item === undefined ? snapshot.state.steps[step.name]?.output : item.output) ?? undefined,
        ...(item === undefined ? {} : { item: item.value, index: item.index }),
      };
      const handler = undo ? step.compensate : step.run;
      if (!handler) throw new Error(`step "${step.name}" has no ${undo ? 'compensation' : 'action'}`);
      const deps = this.deps.of(definition);
      const value = await raceAbort(
        Promise.resolve().then(() => handler(ctx, deps)),
        signal,
        timeoutMs,
      );
      if (undo) return { type: 'CompensationSucceeded', step: step.name, attempt: job.attempt, ...at };
      // A handler that echoes a secret into its output or error must not write it to PostgreSQL in plain text.
      const normalized = normalizeOutput(value);
      if (step.outputClass) {
        // A malformed output is a bug in the step's code: a definite failure (not retried), undone since it ran;
        // later steps never read it.
        const problems = await validateStepOutput(step, normalized, { item: item !== undefined });
        if (problems.length > 0) {
          const what = item === undefined ? `step "${step.name}"` : `item ${item.index} of step "${step.name}"`;
          const message =
            `the output of ${what} does not fit its output class ${step.outputClass.name}: ` +
            problems.slice(0, 5).join('; ');
          const error = { name: 'OutputInvalidError', code: OUTPUT_INVALID, message, retryable: false };
          return {
            type: 'StepFailed',
            step: step.name,
            attempt: job.attempt,
            error: scrubSecrets(error, secrets),
            ...at,
          };
        }
      }
      const output = scrubSecrets(normalized, secrets);
      return { type: 'StepSucceeded', step: step.name, attempt: job.attempt, output, ...at };
    } catch (thrown) {
      const error = scrubSecrets(storableError(toErrorInfo(thrown)), secrets);
      return undo
        ? { type: 'CompensationFailed', step: step.name, attempt: job.attempt, error, ...at }
        : { type: 'StepFailed', step: step.name, attempt: job.attempt, error, ...at };
    } finally {
      release();
    }
  }
}

/** Whether the job is the attempt of the item that the saga currently waits for. */
export function isItemCurrent(item: ItemState, job: StepJobData): boolean {
  if (job.phase === StepPhase.RUN) return isItemInFlight(item) && item.attempt === job.attempt;
  return isItemCompensationInFlight(item) && item.compensation?.attempt === job.attempt;
}

/** Whether the job is the attempt the saga currently waits for (and not a stale duplicate). */
export function isCurrent(snapshot: SagaSnapshot, job: StepJobData): boolean {
  const step = snapshot.state.steps[job.step];
  if (!step) return false;
  if (job.phase === StepPhase.RUN) return isStepInFlight(step) && step.attempt === job.attempt;
  return isCompensationInFlight(step) && step.compensation?.attempt === job.attempt;
}

/** Rejects with a TimeoutError when the signal aborts first; a handler that ignores its signal is abandoned. */
async function raceAbort<T>(work: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal, timeoutMs));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function abortError(signal: AbortSignal, timeoutMs: number): Error {
  const reason = signal.reason as { name?: string } | undefined;
  if (reason?.name === 'TimeoutError') {
    const error = new Error(`timed out after ${timeoutMs} ms`);
    error.name = 'TimeoutError';
    return error;
  }
  const error = new Error('aborted: agent shutting down');
  error.name = 'AbortError';
  return error;
}
