import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import {
  type ChildEndStatus,
  type ErrorInfo,
  type SagaCommand,
  type SagaEvent,
  type SagaSpec,
  type SagaState,
  SagaStatus,
  StepStatus,
  initialState,
  isCompensationInFlight,
  isTerminal,
  transition,
} from '@saga-engine/core';
import { type AuditRecord } from '../store/saga-audit';
import { type NewChild, type SagaSnapshot, SagaStore, type WrittenSaga } from '../store/saga-store';
import { type StepJobData } from '../queue/step-job';
import { StepQueue } from '../queue/step-queue';
import { AlertService } from '../observability/alert.service';
import { DependencyMonitor } from '../observability/dependency-monitor';
import { within } from '../observability/time-limit';
import { crashAfterCommit, crashAfterEnd } from './crash-point';
import { EngineMetrics } from '../observability/engine-metrics';
import { requestHash } from './request-hash';
import { SagaRegistry } from './saga-registry';
import { SnapshotCache } from './snapshot-cache';
import type { InputCipher } from '../security/input-cipher';
import { withSagaLog } from '../observability/log-context';
import { INPUT_CIPHER } from '../module/tokens';
import { startSagaSpan } from '../observability/tracing';

export type StartResult =
  /** `written`: the saga's rows as its insert wrote them (timestamps from the database). */
  | { outcome: 'created'; snapshot: SagaSnapshot; written: WrittenSaga }
  | { outcome: 'replayed'; id: string }
  | { outcome: 'conflict'; id: string }
  /** Another saga of the type holds the input's business key and is not over: `id` is that saga. */
  | { outcome: 'businessKeyConflict'; id: string };

export type ApplyResult =
  { applied: true; snapshot: SagaSnapshot } | { applied: false; reason: string; snapshot: SagaSnapshot | null };

export interface ApplyOptions {
  /**
   * The operator action behind the event: written in the transition's own statement when the event is applied
   * (gated on the same compare-and-set), and not at all when it is ignored (the caller records the refusal).
   */
  audit?: AuditRecord;
}

/**
 * Runs attempts in this process right after the commit that dispatches them (the agent's side, see StepWorker).
 * `reserve` is asked before the commit: a slot is held for the attempt (the commit records the hand-over on its step
 * row), or null (no room, another service's saga, shutting down, a step that must run alone) and the attempt goes
 * through the queue as usual. After the commit the reservation is started; when the commit did not happen, released.
 */
export interface LocalRunner {
  reserve(job: StepJobData, state: SagaState): LocalRun | null;
  /**
   * Asked before a start of `type` v`version` that runs at once: null when the runner has room for its first step
   * (or does not run that saga), else a promise that resolves when it has, or after a short while at most (then
   * the step goes through the queue as usual). A burst of starts thus waits briefly for this process's steps
   * instead of sending its first steps through the queue.
   */
  room(type: string, version: number): Promise<void> | null;
}

export interface LocalRun {
  start(snapshot: SagaSnapshot): void;
  release(): void;
}

/** When a new instance starts, if not at once: an instant, or a delay counted on the database clock. */
export type StartDelay = { startAt: Date } | { startInMs: number };

/** How many times a transition is recomputed after losing a compare-and-set before giving up. */
const MAX_CAS_ROUNDS = 50;

/** The error of a child step's compensation when its child refuses to undo (it is past its pivot). */
export const CHILD_PAST_PIVOT = 'CHILD_PAST_PIVOT';

/** A child's idempotency key: its parent and the parent's step (and the round of an operator's retry, from 1). */
export function childKey(parentId: string, step: string, round: number): string {
  return round > 0 ? `${parentId}:${step}:${round}` : `${parentId}:${step}`;
}

/** A child started by a transition, ready to be inserted with it, and the commands of its own first transition. */
interface PlannedChild {
  row: NewChild;
  commands: SagaCommand[];
}

/**
 * How long a dispatch waits for its jobs to be enqueued before it goes on without them: a start answers, an agent
 * reports its next outcome. The enqueue goes on in the background (bounded by the queue connection's own command
 * timeout); a job that never makes it is re-driven by the supervisor from its step row. While the queue is known to
 * be down, a dispatch does not wait at all.
 */
export const ENQUEUE_WAIT_MS = 250;

/**
 * The scheduler: the only code that changes a saga. It feeds events to the pure `transition`, commits the result
 * as one compare-and-set statement, then enqueues the dispatches it decided. Agents call `apply` with step
 * outcomes, the API with starts and operator actions, the supervisor with deadlines; none of them decides.
 */
@Injectable()
export class SagaScheduler {
  private readonly logger = new Logger('Scheduler');
  private localRunner: LocalRunner | null = null;
  /**
   * Per saga, the tail of the transitions of this process computing and committing now: one at a time per saga, so
   * that the outcomes of a fan-out's items (tens at once, of one saga) do not all lose the compare-and-set to one
   * another and re-read the saga again and again. Only the compute-and-commit is serialized, never what follows it
   * (dispatching, waking a parent, undoing a child), so two sagas never wait for each other.
   */
  private readonly lanes = new Map<string, Promise<unknown>>();

  constructor(
    private readonly store: SagaStore,
    private readonly queue: StepQueue,
    private readonly registry: SagaRegistry,
    private readonly cache: SnapshotCache,
    private readonly alerts: AlertService,
    private readonly metrics: EngineMetrics,
    @Inject(INPUT_CIPHER) private readonly cipher: InputCipher | null,
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
  ) {}

  /**
   * Set by the agent of this process: attempts that are due at once (of saga versions this process has the code
   * of: the runner declines others) then run here, without a round trip through the queue. The step row committed
   * with the dispatch stays the durable record (due, with a deadline, and marked handed over): if this process dies
   * before the attempt reports, the supervisor re-drives it as it does a lost job, to be run alone (its process died
   * while it ran: it may be what killed it).
   */
  setLocalRunner(runner: LocalRunner | null): void {
    this.localRunner = runner;
  }

  /**
   * Starts an instance of `definition` (the version callers pick, normally the newest); idempotent by
   * `idempotencyKey`. Sensitive fields are sealed here, before anything is written: the row, its history and the
   * request hash never hold them. The input must have been validated (see validateSagaInput).
   *
   * With `delay` the instance is DELAYED: written now (so the key is taken, and it can be read and cancelled),
   * started by the supervisor once its start time has passed. The delay is part of the request hash, so a key
   * replayed with another start time is a conflict.
   */
  async start(
    definition: SagaSpec,
    input: unknown,
    idempotencyKey: string | null,
    delay?: StartDelay,
  ): Promise<StartResult> {
    const id = uuidv7();
    const sensitive = definition.sensitive.length > 0;
    const cipher = this.cipher;
    if (sensitive && !cipher) throw new Error(`saga ${definition.name} has sensitive fields and no cipher`);
    const hashed =
      delay === undefined ? input : { input, start: 'startAt' in delay ? delay.startAt.toISOString() : delay };
    const hash = requestHash(definition.name, hashed, sensitive ? (data) => cipher!.mac(data) : undefined);
    const stored = sensitive ? cipher!.seal(input, definition.sensitive, id) : input;
    const first: SagaEvent =
      delay === undefined
        ? { type: 'SagaStarted' }
        : 'startAt' in delay
          ? { type: 'SagaDelayed', startAt: delay.startAt.toISOString() }
          : { type: 'SagaDelayed', startInMs: delay.startInMs };
    const result = transition(definition, initialState(definition, stored), first);
    // (Awaited only when the runner is full: a start with room goes on in the same tick.)
    const room = delay === undefined ? this.localRunner?.room(definition.name, definition.version) : null;
    if (room) await room;
    const traceparent = startSagaSpan(id, definition.name) ?? null;
    const local = this.reserveLocal(
      { id, type: definition.name, definitionVersion: definition.version, traceparent },
      result,
    );
    let inserted: Awaited<ReturnType<SagaStore['insert']>>;
    try {
      inserted = await this.store.insert({
        id,
        traceparent,
        definition,
        idempotencyKey,
        requestHash: hash,
        state: result.state,
        history: result.history,
        commands: result.commands,
        local: handedOver(local),
      });
    } catch (error) {
      releaseAll(local);
      throw error;
    }
    if (!inserted.inserted) {
      releaseAll(local);
      if ('businessKeyHeldBy' in inserted) return { outcome: 'businessKeyConflict', id: inserted.businessKeyHeldBy };
      const same = inserted.existing.requestHash === hash && inserted.existing.type === definition.name;
      return { outcome: same ? 'replayed' : 'conflict', id: inserted.existing.id };
    }
    const snapshot = inserted.snapshot;
    this.remember(snapshot);
    await withSagaLog({ sagaId: id, traceparent: snapshot.traceparent }, () =>
      this.afterStart(definition, snapshot, result.commands, local),
    );
    return { outcome: 'created', snapshot, written: inserted.written };
  }

  private async afterStart(
    definition: SagaSpec,
    snapshot: SagaSnapshot,
    commands: SagaCommand[],
    local: Map<string, LocalRun>,
  ): Promise<void> {
    this.metrics.sagaStarted(definition.name);
    this.metrics.sagaTransitioned(snapshot.id, definition.name, null, snapshot.state.status);
    await this.dispatch(snapshot, commands, new Map(), local);
  }

  /**
   * Asks the local runner, before the commit, for the attempts the transition dispatches at once: by step name,
   * those it will run here (their rows record the hand-over). Released by the caller when the commit fails.
   */
  private reserveLocal(
    saga: Pick<SagaSnapshot, 'id' | 'type' | 'definitionVersion' | 'traceparent'>,
    result: { state: SagaState; commands: SagaCommand[] },
  ): Map<string, LocalRun> {
    const reserved = new Map<string, LocalRun>();
    const runner = this.localRunner;
    if (!runner) return reserved;
    for (const command of result.commands) {
      if (command.type !== 'DispatchStep' || command.delayMs !== 0) continue;
      const run = runner.reserve(jobData(saga, command, result.state), result.state);
      if (run) reserved.set(localKey(command), run);
    }
    return reserved;
  }

  /**
   * Applies one event. `hint` is a snapshot the caller already holds; it is only a starting point: a lost
   * compare-and-set or an event that looks stale against it leads to a fresh read before the answer is final.
   */
  apply(sagaId: string, event: SagaEvent, hint?: SagaSnapshot, options: ApplyOptions = {}): Promise<ApplyResult> {
    const step = 'step' in event ? event.step : undefined;
    const attempt = 'attempt' in event ? event.attempt : undefined;
    return withSagaLog({ sagaId, step, attempt, traceparent: hint?.traceparent }, () =>
      this.applyEvent(sagaId, event, hint, options),
    );
  }

  private async applyEvent(
    sagaId: string,
    event: SagaEvent,
    hint: SagaSnapshot | undefined,
    options: ApplyOptions,
  ): Promise<ApplyResult> {
    const outcome = await this.inLane(sagaId, () => this.commitEvent(sagaId, event, hint, options));
    if (!outcome.applied) return outcome;
    const { snapshot, commands, children, local } = outcome;
    await this.dispatch(snapshot, commands, children, local);
    await this.afterEnd(snapshot);
    return { applied: true, snapshot };
  }

  /** Runs `fn` after the transitions of `sagaId` that this process started before it (see `lanes`). */
  private async inLane<T>(sagaId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.lanes.get(sagaId) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    const tail = mine.then(
      () => undefined,
      () => undefined,
    );
    this.lanes.set(sagaId, tail);
    try {
      return await mine;
    } finally {
      if (this.lanes.get(sagaId) === tail) this.lanes.delete(sagaId);
    }
  }

  private async commitEvent(
    sagaId: string,
    event: SagaEvent,
    hint: SagaSnapshot | undefined,
    options: ApplyOptions,
  ): Promise<
    | {
        applied: true;
        snapshot: SagaSnapshot;
        commands: SagaCommand[];
        children: Map<string, PlannedChild>;
        local: Map<string, LocalRun>;
      }
    | { applied: false; reason: string; snapshot: SagaSnapshot | null }
  > {
    // A hint older than what this process committed since (a lane waited behind another transition) is not used.
    const cached = this.cache.getFresh(sagaId);
    let snapshot = (hint && (!cached || cached.version <= hint.version) ? hint : cached) ?? null;
    let fresh = false;
    if (!snapshot) {
      snapshot = await this.store.load(sagaId);
      fresh = true;
    }
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      if (!snapshot) return { applied: false, reason: 'saga not found', snapshot: null };
      const definition = await this.registry.spec(snapshot.type, snapshot.definitionVersion);
      const result = transition(definition, snapshot.state, event);
      if (result.ignored === null) {
        const children = await this.planChildren(snapshot, result.commands);
        const local = this.reserveLocal(snapshot, result);
        let committed: SagaSnapshot | null;
        try {
          committed = await this.store.commit(
            snapshot,
            result.state,
            result.history,
            result.commands,
            definition,
            options.audit,
            [...children.values()].map((c) => c.row),
            handedOver(local),
          );
        } catch (error) {
          releaseAll(local);
          throw error;
        }
        if (committed) {
          this.remember(committed);
          this.metrics.sagaTransitioned(committed.id, committed.type, snapshot.state.status, committed.state.status);
          return { applied: true, snapshot: committed, commands: result.commands, children, local };
        }
        releaseAll(local);
      } else if (fresh) {
        return { applied: false, reason: result.ignored, snapshot };
      }
      // Lost the compare-and-set, or judged against a copy that may be stale: read the truth and decide again.
      snapshot = await this.store.load(sagaId);
      fresh = true;
    }
    throw new Error(`saga ${sagaId}: gave up after ${MAX_CAS_ROUNDS} lost compare-and-set rounds`);
  }

  /**
   * The children a transition starts (`StartChild`), as rows to insert in its own commit: their ids, keys
   * (`<parentId>:<step>`), sealed inputs and first transitions. Computed again if the commit is recomputed, and
   * inserted only if it wins; a key already taken keeps its child (see `startChildren`).
   */
  private async planChildren(parent: SagaSnapshot, commands: SagaCommand[]): Promise<Map<string, PlannedChild>> {
    const planned = new Map<string, PlannedChild>();
    for (const command of commands) {
      if (command.type !== 'StartChild') continue;
      const spec = await this.registry.spec(command.childType, command.childVersion);
      const id = uuidv7();
      const sensitive = spec.sensitive.length > 0;
      const cipher = this.cipher;
      if (sensitive && !cipher) throw new Error(`saga ${spec.name} has sensitive fields and no cipher`);
      const input = command.input;
      const hash = requestHash(spec.name, input, sensitive ? (data) => cipher!.mac(data) : undefined);
      const stored = sensitive ? cipher!.seal(input, spec.sensitive, id) : input;
      const first = transition(spec, initialState(spec, stored), { type: 'SagaStarted' });
      planned.set(command.step, {
        row: {
          id,
          definition: spec,
          idempotencyKey: childKey(parent.id, command.step, command.round),
          requestHash: hash,
          state: first.state,
          history: first.history,
          commands: first.commands,
          // The child's steps join the parent's trace.
          traceparent: parent.traceparent ?? null,
          parent: { id: parent.id, step: command.step, attempt: command.attempt },
        },
        commands: first.commands,
      });
    }
    return planned;
  }

  private remember(snapshot: SagaSnapshot): void {
    if (isTerminal(snapshot.state.status)) this.cache.delete(snapshot.id);
    else this.cache.set(snapshot);
  }

  /**
   * After commit, so a job never runs ahead of the state that explains it. If Redis refuses, or does not answer
   * within ENQUEUE_WAIT_MS, the step row is already the durable record (SCHEDULED with a deadline) and the
   * supervisor enqueues the same job id later; the caller is not held up.
   */
  private async dispatch(
    snapshot: SagaSnapshot,
    commands: SagaCommand[],
    children: Map<string, PlannedChild> = new Map(),
    local: Map<string, LocalRun> = new Map(),
  ): Promise<void> {
    crashAfterCommit(commands); // a test hook, off unless SAGA_CRASH_POINT is set
    const jobs: Parameters<StepQueue['enqueue']>[0] = [];
    const afterJobs: (() => Promise<void>)[] = [];
    for (const command of commands) {
      switch (command.type) {
        case 'DispatchStep': {
          this.metrics.dispatched(snapshot.type, command.step, command.phase, command.attempt);
          // Reserved before the commit by the agent here: run it here (no job); otherwise a job, as always.
          const run = local.get(localKey(command));
          if (run) {
            run.start(snapshot);
            break;
          }
          jobs.push({ data: jobData(snapshot, command, snapshot.state), delayMs: command.delayMs });
          break;
        }
        case 'AwaitSignal':
        case 'StartTimer':
          // Nothing to enqueue: the step row's deadline (written by the commit) is the timer the supervisor watches.
          break;
        case 'DelayStart':
          // Nothing to enqueue: the instance's start_at (written with it) is what the supervisor watches.
          break;
        case 'RaiseAlert':
          // Logged and counted here; the durable alert is the outbox row committed with the transition.
          if (command.status === 'POISONED') this.alerts.stepPoisoned(snapshot, command.error);
          else this.alerts.sagaFailed(snapshot, command.error);
          break;
        case 'StartFanOut':
          // Nothing to do: the item rows were written by the commit; the first items' jobs are DispatchSteps.
          break;
        case 'StartChild': {
          const planned = children.get(command.step);
          if (planned) afterJobs.push(() => this.startChild(snapshot, planned));
          break;
        }
        case 'CancelChild':
          afterJobs.push(() => this.cancelChild(snapshot, command.step, command.reason));
          break;
        case 'UndoChild':
          afterJobs.push(() => this.undoChild(snapshot, command.step, command.compensationAttempt, command.reason));
          break;
        default: {
          const unknown: never = command;
          throw new Error(`unknown command ${JSON.stringify(unknown)}`);
        }
      }
    }
    if (jobs.length > 0) {
      const dependency = this.queue.dependency;
      const enqueued = this.queue.enqueue(jobs).then(
        () => this.monitor.succeeded(dependency),
        (error: unknown) => {
          // Unavailability is logged once per outage by the monitor; anything else here and now.
          if (this.monitor.failed(dependency, error, 'enqueue')) return;
          this.logger.warn(
            `saga ${snapshot.id}: could not enqueue ${jobs.length} job(s), the supervisor will re-drive them: ${String(error)}`,
          );
        },
      );
      if (!this.monitor.isDown(dependency)) {
        await within(enqueued, ENQUEUE_WAIT_MS, 'the queue did not answer in time').catch(() => undefined);
      }
    }
    // What reaches another saga comes after: if it fails, the parent's step row (its deadline) is the durable
    // record, and the supervisor does it again (see Supervisor.onChildStep).
    for (const act of afterJobs) {
      try {
        await act();
      } catch (error) {
        this.logger.warn(`saga ${snapshot.id}: ${String(error)}; the supervisor will see to it`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // Child sagas: what one saga does to another happens here, after its commit, never inside a transition.
  // -------------------------------------------------------------------------------------------------------------

  /**
   * After the commit that inserted a child: its first steps are dispatched. If its key was already taken (a child
   * of the same step and round exists), that child is the step's: its end is delivered if it has ended.
   */
  private async startChild(parent: SagaSnapshot, planned: PlannedChild): Promise<void> {
    const { row } = planned;
    const holder = await this.store.findByKey(row.idempotencyKey);
    if (holder?.id === row.id) {
      const child: SagaSnapshot = {
        id: row.id,
        type: row.definition.name,
        definitionVersion: row.definition.version,
        version: 1,
        state: row.state,
        traceparent: row.traceparent ?? null,
        parent: row.parent,
      };
      this.remember(child);
      this.metrics.sagaStarted(child.type);
      this.metrics.sagaTransitioned(child.id, child.type, null, child.state.status);
      await withSagaLog({ sagaId: child.id, traceparent: child.traceparent }, () =>
        this.dispatch(child, planned.commands),
      );
      return;
    }
    if (!holder) throw new Error(`child of step "${row.parent.step}" of saga ${parent.id} was not inserted`);
    const existing = await this.store.load(holder.id);
    if (existing && isTerminal(existing.state.status)) await this.deliverEnd(existing, row.parent.attempt);
  }

  /** The parent began compensating while its child runs: the child is cancelled (its end will end the step). */
  async cancelChild(parent: SagaSnapshot, step: string, reason: string): Promise<void> {
    const child = await this.store.findChild(parent.id, step);
    if (!child) return;
    if (isTerminal(child.state.status)) {
      await this.deliverEnd(child);
      return;
    }
    const by = `saga ${parent.id}`;
    await this.apply(child.id, {
      type: 'CancelRequested',
      by,
      reason: `its parent saga ${parent.id} (${parent.type}) is compensating: ${reason}`,
    });
  }

  /**
   * The parent compensates a step whose child COMPLETED: the child undoes its steps (`UndoRequested`), and its end
   * (COMPENSATED) is the step's compensation. A child that is past its pivot refuses: the compensation fails for
   * good (`CHILD_PAST_PIVOT`), and the parent waits for an operator. One that has ended undone already is
   * delivered again.
   */
  async undoChild(parent: SagaSnapshot, step: string, compensationAttempt: number, reason: string): Promise<void> {
    const child = await this.store.findChild(parent.id, step);
    if (!child) {
      // No child was started (nothing to undo): the compensation is done.
      await this.apply(parent.id, { type: 'CompensationSucceeded', step, attempt: compensationAttempt });
      return;
    }
    if (child.state.status === SagaStatus.COMPLETED) {
      const result = await this.apply(child.id, {
        type: 'UndoRequested',
        by: `saga ${parent.id}`,
        reason: `its parent saga ${parent.id} (${parent.type}) compensates step "${step}": ${reason}`,
      });
      if (result.applied) return;
      const now = result.snapshot;
      if (now?.state.status === SagaStatus.COMPLETED) {
        const error: ErrorInfo = {
          name: 'ChildPastPivot',
          code: CHILD_PAST_PIVOT,
          message: `child saga ${child.id} cannot be undone: ${result.reason}`,
          retryable: false,
        };
        await this.apply(parent.id, { type: 'CompensationFailed', step, attempt: compensationAttempt, error });
        return;
      }
      if (now && isTerminal(now.state.status)) await this.deliverEnd(now);
      return;
    }
    // Undoing already (a repeated request), or ended: its end is the answer.
    if (isTerminal(child.state.status)) await this.deliverEnd(child);
  }

  /**
   * The supervisor's check of a step that waits for its child, or for its child's undo (its row's deadline passed,
   * or the child's last commit woke it): whatever a crash may have left undone is done again. The child's end is
   * delivered; a child still running under a parent that compensates is cancelled; a completed child whose undo was
   * asked is asked again. `settled`: the step moved on (or there is nothing to wait for); `pending`: check later.
   */
  async reconcileChild(parentId: string, step: string): Promise<'settled' | 'pending'> {
    const parent = await this.store.load(parentId);
    const state = parent?.state.steps[step];
    if (!parent || !state) return 'settled';
    const waiting = state.status === StepStatus.WAITING;
    const undoing = isCompensationInFlight(state);
    if (!waiting && !undoing) return 'settled';
    const child = await this.store.findChild(parent.id, step);
    if (!child) {
      if (undoing) await this.undoChild(parent, step, state.compensation!.attempt, 'no child to undo');
      return 'pending';
    }
    if (isTerminal(child.state.status) && (waiting || child.state.status !== SagaStatus.COMPLETED)) {
      const result = await this.deliverEnd(child, state.attempt);
      return result?.applied ? 'settled' : 'pending';
    }
    if (waiting && parent.state.status !== SagaStatus.RUNNING && !child.state.cancelRequested) {
      await this.cancelChild(parent, step, parent.state.error?.message ?? 'the saga is compensating');
    }
    if (undoing && child.state.status === SagaStatus.COMPLETED) {
      const reason = parent.state.error?.message ?? 'the saga is compensating';
      await this.undoChild(parent, step, state.compensation!.attempt, reason);
    }
    return 'pending';
  }

  /** After a commit that ended a child saga: its parent hears of it (the supervisor again, if this fails). */
  private async afterEnd(snapshot: SagaSnapshot): Promise<void> {
    if (!snapshot.parent || !isTerminal(snapshot.state.status)) return;
    crashAfterEnd(snapshot.type); // a test hook, off unless SAGA_CRASH_POINT is set
    try {
      await this.deliverEnd(snapshot);
    } catch (error) {
      this.logger.warn(
        `saga ${snapshot.id}: could not tell its parent ${snapshot.parent.id} that it ended, the supervisor will: ` +
          String(error),
      );
    }
  }

  /** Tells a child's parent that the child ended (a duplicate is ignored by the parent). */
  async deliverEnd(child: SagaSnapshot, attempt?: number): Promise<ApplyResult | null> {
    if (!child.parent || !isTerminal(child.state.status)) return null;
    const status = child.state.status as ChildEndStatus;
    return this.apply(child.parent.id, {
      type: 'ChildEnded',
      step: child.parent.step,
      attempt: attempt ?? child.parent.attempt,
      childId: child.id,
      status,
      ...(status === SagaStatus.COMPLETED ? { output: child.state.output } : {}),
      error: child.state.error,
    });
  }
}

/**
 * The job of a dispatched attempt: ids only, the saga's root span (under which the attempt's span goes, see
 * tracing.ts), and `isolate` when the step has killed an agent before (the agent that takes it runs it alone).
 */
function jobData(
  saga: Pick<SagaSnapshot, 'id' | 'type' | 'definitionVersion' | 'traceparent'>,
  command: Extract<SagaCommand, { type: 'DispatchStep' }>,
  state: SagaState,
): StepJobData {
  return {
    sagaId: saga.id,
    type: saga.type,
    version: saga.definitionVersion,
    step: command.step,
    phase: command.phase,
    attempt: command.attempt,
    ...(command.item === undefined ? {} : { item: command.item }),
    ...(saga.traceparent ? { traceparent: saga.traceparent } : {}),
    ...((state.steps[command.step]?.deaths ?? 0) > 0 ? { isolate: true as const } : {}),
  };
}

/** A reservation's key: the step, or the step and item of a fan-out's item (a transition may dispatch many). */
function localKey(command: Extract<SagaCommand, { type: 'DispatchStep' }>): string {
  return command.item === undefined ? command.step : `${command.step}#${command.item}`;
}

/**
 * The steps whose dispatched attempt the commit records as handed over to this process (`saga_step.local_run`).
 * A fan-out's items have no such mark: an item whose process died while it ran is re-driven as a lost job.
 */
function handedOver(local: Map<string, LocalRun>): Set<string> {
  return new Set([...local.keys()].filter((key) => !key.includes('#')));
}

function releaseAll(local: Map<string, LocalRun>): void {
  for (const run of local.values()) run.release();
}
