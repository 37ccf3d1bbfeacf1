import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { v7 as uuidv7 } from 'uuid';
import {
  type SagaCommand,
  type SagaEvent,
  type SagaSpec,
  type SagaState,
  initialState,
  isTerminal,
  transition,
} from '@saga-engine/core';
import { type AuditRecord } from '../store/saga-audit';
import { type SagaSnapshot, SagaStore } from '../store/saga-store';
import { type StepJobData } from '../queue/step-job';
import { StepQueue } from '../queue/step-queue';
import { AlertService } from '../observability/alert.service';
import { DependencyMonitor } from '../observability/dependency-monitor';
import { within } from '../observability/time-limit';
import { crashAfterCommit } from './crash-point';
import { EngineMetrics } from '../observability/engine-metrics';
import { requestHash } from './request-hash';
import { SagaRegistry } from './saga-registry';
import { SnapshotCache } from './snapshot-cache';
import type { InputCipher } from '../security/input-cipher';
import { withSagaLog } from '../observability/log-context';
import { INPUT_CIPHER } from '../module/tokens';
import { startSagaSpan } from '../observability/tracing';

export type StartResult =
  | { outcome: 'created'; snapshot: SagaSnapshot }
  | { outcome: 'replayed'; id: string }
  | { outcome: 'conflict'; id: string };

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
}

export interface LocalRun {
  start(snapshot: SagaSnapshot): void;
  release(): void;
}

/** When a new instance starts, if not at once: an instant, or a delay counted on the database clock. */
export type StartDelay = { startAt: Date } | { startInMs: number };

/** How many times a transition is recomputed after losing a compare-and-set before giving up. */
const MAX_CAS_ROUNDS = 50;

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
        local: new Set(local.keys()),
      });
    } catch (error) {
      releaseAll(local);
      throw error;
    }
    if (!inserted.inserted) {
      releaseAll(local);
      const same = inserted.existing.requestHash === hash && inserted.existing.type === definition.name;
      return { outcome: same ? 'replayed' : 'conflict', id: inserted.existing.id };
    }
    const snapshot = inserted.snapshot;
    this.remember(snapshot);
    await withSagaLog({ sagaId: id, traceparent: snapshot.traceparent }, () =>
      this.afterStart(definition, snapshot, result.commands, local),
    );
    return { outcome: 'created', snapshot };
  }

  private async afterStart(
    definition: SagaSpec,
    snapshot: SagaSnapshot,
    commands: SagaCommand[],
    local: Map<string, LocalRun>,
  ): Promise<void> {
    this.metrics.sagaStarted(definition.name);
    this.metrics.sagaTransitioned(snapshot.id, definition.name, null, snapshot.state.status);
    await this.dispatch(snapshot, commands, local);
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
      if (run) reserved.set(command.step, run);
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
    let snapshot = hint ?? this.cache.getFresh(sagaId) ?? null;
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
            new Set(local.keys()),
          );
        } catch (error) {
          releaseAll(local);
          throw error;
        }
        if (committed) {
          this.remember(committed);
          this.metrics.sagaTransitioned(committed.id, committed.type, snapshot.state.status, committed.state.status);
          await this.dispatch(committed, result.commands, local);
          return { applied: true, snapshot: committed };
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
    local: Map<string, LocalRun> = new Map(),
  ): Promise<void> {
    crashAfterCommit(commands); // a test hook, off unless SAGA_CRASH_POINT is set
    const jobs: Parameters<StepQueue['enqueue']>[0] = [];
    for (const command of commands) {
      switch (command.type) {
        case 'DispatchStep': {
          this.metrics.dispatched(snapshot.type, command.step, command.phase, command.attempt);
          // Reserved before the commit by the agent here: run it here (no job); otherwise a job, as always.
          const run = local.get(command.step);
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
        default: {
          const unknown: never = command;
          throw new Error(`unknown command ${JSON.stringify(unknown)}`);
        }
      }
    }
    if (jobs.length === 0) return;
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
    if (this.monitor.isDown(dependency)) return;
    await within(enqueued, ENQUEUE_WAIT_MS, 'the queue did not answer in time').catch(() => undefined);
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
    ...(saga.traceparent ? { traceparent: saga.traceparent } : {}),
    ...((state.steps[command.step]?.deaths ?? 0) > 0 ? { isolate: true as const } : {}),
  };
}

function releaseAll(local: Map<string, LocalRun>): void {
  for (const run of local.values()) run.release();
}
