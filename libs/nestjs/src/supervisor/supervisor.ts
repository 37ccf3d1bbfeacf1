import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  Optional,
} from '@nestjs/common';
import {
  CompensationStatus,
  DEADLINE_EXCEEDED,
  type ErrorInfo,
  POISONED,
  type SagaEvent,
  StepPhase,
  StepStatus,
} from '@saga-engine/core';
import { type ClaimedAttempt, type ClaimedStart, SupervisorStore } from '../store/supervisor-store';
import { ScheduleRunner } from '../schedules/schedule-runner';
import { CHILD_CHECK_MS, DEADLINE_GRACE_MS } from '../store/saga-store';
import { type JobLiveness, StepQueue } from '../queue/step-queue';
import { type StepJobData } from '../queue/step-job';
import { DependencyMonitor } from '../observability/dependency-monitor';
import { EngineMetrics } from '../observability/engine-metrics';
import { unavailability } from '../observability/unavailable';
import { withSagaLog } from '../observability/log-context';
import { SUPERVISOR_OPTIONS, type SupervisorOptions } from '../module/tokens';
import { SagaScheduler } from '../scheduler/saga-scheduler';
import { SagaRegistry } from '../scheduler/saga-registry';

/** The error the supervisor reports for a started attempt that did not report by its deadline (see core). */
export { DEADLINE_EXCEEDED, POISONED };

/** Deaths after which a step is POISONED, unless SAGA_POISON_AFTER_DEATHS says otherwise. */
export const DEFAULT_POISON_AFTER_DEATHS = 2;

/** What one sweep found and did. */
export interface SweepReport {
  /** Attempts claimed because their deadline passed. */
  expired: number;
  /** Attempts claimed because they were due long ago (their job was checked for). */
  overdue: number;
  /** Finished sagas deleted by retention. */
  purged: number;
  /** DELAYED sagas claimed because their start time passed. */
  starts: number;
  /** Schedules claimed because a tick was due (or a buffered tick waited). */
  schedules: number;
  /** A claim came back full: sweep again at once. */
  full: boolean;
}

/** Finished sagas deleted per statement by retention. */
const PURGE_BATCH = 1000;

/** Claimed attempts handled at once, so that a big backlog does not drain the connection pools. */
const PARALLEL_ACTIONS = 8;

/**
 * The supervisor (scheduler-agent-supervisor): the part that makes "nothing is lost" true. PostgreSQL is the
 * record of every attempt in flight (the `saga_step` outbox); Redis and the agents may lose anything. Every
 * `intervalMs` it sweeps that record, claiming rows with `FOR UPDATE SKIP LOCKED` plus a lease (see
 * SupervisorStore), so that any number of supervisors can run, and re-drives what it finds:
 *
 * | found (database clock)                  | job in the queue           | does                                    |
 * | --------------------------------------- | -------------------------- | --------------------------------------- |
 * | `deadline_at` passed, attempt started   | (not asked)                | a death: `DEADLINE_EXCEEDED` for that   |
 * |   (an agent marked it RUNNING)          |                            |   attempt; `POISONED` at the N-th death |
 * | `deadline_at` passed, never started     | waiting, delayed, active   | deadline from now: it has not started   |
 * | `deadline_at` passed, never started     | gone (lost, never enqueued)| enqueues the SAME job id again, and     |
 * |                                         |                            |   gives it a deadline from now          |
 * | due for more than `scheduleToStartMs`   | gone                       | enqueues the SAME job id again          |
 * | `deadline_at` passed, attempt started   | its job held back by a     | deadline from when it is taken again    |
 * |   and then held back (`throttled`)      |   participant limit        |   (a wait for a participant's slot)     |
 * | due for more than `scheduleToStartMs`   | queued or active           | nothing                                 |
 * | either                                  | the queue does not answer  | nothing until it is back (lease)        |
 * | `deadline_at` passed, step WAITING      | (a wait has no job)        | `SignalTimedOut`: the signal never came |
 * | `deadline_at` passed, step SLEEPING     | (a timer has no job)       | `TimerFired`: the sleep is over         |
 * | `start_at` passed, saga DELAYED         | -                          | `SagaStarted`                           |
 * | `next_fire_at` passed, schedule         | -                          | starts the tick's saga (ScheduleRunner) |
 *
 * A timer, a delayed start and a schedule's tick are rows with a due time on an index, swept in batches like the
 * deadlines: nothing per timer in memory, no polling per timer, and each fires at the first sweep after it is due
 * (so up to one `intervalMs` late), once (the scheduler's compare-and-set, or the tick's idempotency key).
 *
 * Only an attempt that an agent started can fail here, so an attempt counts against the step's `maximumAttempts`
 * only once it ran: one whose job was lost, never enqueued, or still waits behind a backlog is enqueued again (its
 * deadline counting from then), however long it waited. An agent marks an attempt RUNNING before it runs one from
 * the queue, and after `runningMarkMs` one it runs in-process (a fast one never needs the mark: it reports first).
 *
 * A started attempt past its deadline without an outcome is a death: its agent died (a crash, a kill, a step that
 * aborts the process) or hung. `DEADLINE_EXCEEDED` is a transient failure of exactly that attempt: the engine
 * retries it by the step's policy (or, retries exhausted, undoes it, since its outcome is unknown) and ignores it if
 * that attempt has reported meanwhile. The step's deaths are counted (`saga_step.deaths`): a step that died runs
 * alone on its agent from then on (see AttemptIsolation), and at `poisonAfterDeaths` deaths it fails with
 * `POISONED`, not retryable: the saga compensates (or, past its pivot, goes FAILED), and an alert is raised. For a
 * while after its own sweeps failed (PostgreSQL away), the supervisor gives started attempts more time instead:
 * their agents could not report either.
 *
 * A re-enqueued attempt may run twice (its first copy may have run and lost its report); its idempotency key makes
 * that harmless, and a copy that is no longer current finds itself stale.
 */
@Injectable()
export class Supervisor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Supervisor');
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastError: string | null = null;
  /** When the last sweep finished (Date.now()), null before the first. For `/health` and `/metrics`. */
  lastSweepAt: number | null = null;
  /** Since start (also in EngineMetrics, for Prometheus). */
  readonly stats = {
    sweeps: 0,
    deadlinesExceeded: 0,
    attemptsPoisoned: 0,
    deadlinesExtended: 0,
    jobsRedriven: 0,
    signalsTimedOut: 0,
    timersFired: 0,
    delayedStarted: 0,
    childrenReconciled: 0,
    sagasPurged: 0,
    errors: 0,
  };

  constructor(
    private readonly store: SupervisorStore,
    private readonly runtime: SagaScheduler,
    private readonly registry: SagaRegistry,
    private readonly queue: StepQueue,
    @Inject(SUPERVISOR_OPTIONS) private readonly options: SupervisorOptions,
    private readonly metrics: EngineMetrics = new EngineMetrics(),
    @Optional() @Inject(ScheduleRunner) private readonly schedules: ScheduleRunner | null = null,
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
  ) {}

  private readonly startedAt = Date.now();
  /** When a sweep last failed (Date.now()): agents could not report either, so deaths wait a while (see onDied). */
  private troubleAt = 0;
  /** The queue failed to answer during this sweep: its other queue lookups wait for the next one (their lease). */
  private queueAway = false;

  onApplicationBootstrap(): void {
    this.logger.log(
      `supervisor started: sweeps every ${this.options.intervalMs} ms, schedule-to-start ${this.options.scheduleToStartMs} ms`,
    );
    this.schedule(0);
  }

  /** Stops sweeping and waits for the sweep in progress (on shutdown, before connections close). */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One sweep: deadlines first (they fail attempts), then attempts that never started (they re-enqueue). */
  async sweep(): Promise<SweepReport> {
    const batch = this.options.batchSize ?? 100;
    this.queueAway = false;
    const s2s = this.options.scheduleToStartMs;
    // A claim is released by acting on it (the row changes); the lease only bounds how long a supervisor that
    // died or failed mid-action keeps others off the row.
    const claimLeaseMs = Math.max(5_000, 5 * this.options.intervalMs);
    const expired = [
      ...(await this.store.claimExpired(batch, claimLeaseMs)),
      ...(await this.store.claimExpiredItems(batch, claimLeaseMs)),
    ];
    await forEachLimited(expired, (claim) => this.guard(claim, () => this.onExpired(claim)));
    const overdue = [
      ...(await this.store.claimOverdue(batch, s2s, s2s)),
      ...(await this.store.claimOverdueItems(batch, s2s, s2s)),
    ];
    await forEachLimited(overdue, (claim) => this.guard(claim, () => this.onOverdue(claim)));
    const leaseMs = Math.max(5_000, 5 * this.options.intervalMs);
    const starts = await this.store.claimDueStarts(batch, leaseMs);
    await forEachLimited(starts, (claim) => this.startDelayed(claim));
    const schedules = this.schedules ? await this.schedules.sweep(batch, leaseMs, this.options.intervalMs) : 0;
    const purged = await this.purge();
    this.stats.sweeps++;
    this.lastSweepAt = Date.now();
    this.metrics.swept();
    return {
      expired: expired.length,
      overdue: overdue.length,
      purged,
      starts: starts.length,
      schedules,
      full:
        expired.length >= batch ||
        overdue.length >= batch ||
        starts.length === batch ||
        schedules === batch ||
        purged === PURGE_BATCH,
    };
  }

  /** Retention: one batch of finished sagas past RETENTION_FINISHED_AFTER per sweep (a full one sweeps again). */
  private async purge(): Promise<number> {
    const retentionMs = this.options.retentionMs;
    if (retentionMs === null || retentionMs === undefined) return 0;
    const purged = await this.store.purgeFinished(retentionMs, PURGE_BATCH);
    this.stats.sagasPurged += purged;
    return purged;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick();
    }, delayMs);
  }

  private async tick(): Promise<void> {
    let again = false;
    try {
      again = (await this.sweep()).full;
      if (this.lastError !== null) {
        this.logger.log('sweeping again');
        this.lastError = null;
      }
    } catch (error) {
      this.troubleAt = Date.now();
      this.noteError('sweep failed', error);
    } finally {
      this.schedule(again ? 0 : this.options.intervalMs);
    }
  }

  /** A DELAYED saga's start time passed: it starts (ignored if it was cancelled or started meanwhile). */
  private async startDelayed(claim: ClaimedStart): Promise<void> {
    try {
      const result = await withSagaLog({ sagaId: claim.sagaId }, () =>
        this.runtime.apply(claim.sagaId, { type: 'SagaStarted' }),
      );
      if (result.applied) {
        this.stats.delayedStarted++;
        this.metrics.supervisor('delayed_start');
      }
    } catch (error) {
      this.noteError(`could not start delayed saga ${claim.sagaId}`, error);
    }
  }

  private async onExpired(claim: ClaimedAttempt): Promise<void> {
    if (claim.item === undefined) {
      const spec = await this.registry.spec(claim.sagaType, claim.definitionVersion);
      if (spec.stepsByName[claim.step]?.child) {
        await this.onChildStep(claim);
        return;
      }
    }
    if (claim.phase === StepPhase.RUN && claim.fence.status === StepStatus.SLEEPING) {
      // The sleep is over. Its output says when it was due and when the sweep found it (database clock).
      const event: SagaEvent = {
        type: 'TimerFired',
        step: claim.step,
        attempt: claim.attempt,
        dueAt: claim.deadlineAt ?? claim.claimedAt ?? new Date().toISOString(),
        firedAt: claim.claimedAt ?? new Date().toISOString(),
      };
      const result = await this.runtime.apply(claim.sagaId, event);
      if (result.applied) {
        this.stats.timersFired++;
        this.metrics.supervisor('timer_fired');
      }
      return;
    }
    if (claim.phase === StepPhase.RUN && claim.fence.status === StepStatus.WAITING) {
      const event: SagaEvent = { type: 'SignalTimedOut', step: claim.step, attempt: claim.attempt };
      const result = await this.runtime.apply(claim.sagaId, event);
      if (result.applied) {
        this.stats.signalsTimedOut++;
        this.metrics.supervisor('signal_timed_out');
        this.logger.warn(`saga ${claim.sagaId}: step "${claim.step}" waited for its signal in vain`);
      }
      return;
    }
    if (isStarted(claim)) {
      if (await this.heldBack(claim)) return;
      await this.onDied(claim);
      return;
    }
    // Never started: not a failure, however long it waited. Its job is enqueued again if it is gone, and its
    // deadline counts from now (an agent's RUNNING mark restarts it when the attempt really starts).
    if (this.queueAway) return;
    const job = jobOf(claim);
    if ((await this.live(job)) === 'gone') {
      await this.redrive(job);
      this.logger.warn(
        `saga ${claim.sagaId}: ${describe(claim)} never started and had no job in the queue; enqueued it again`,
      );
    }
    if (await this.store.extendDeadline(claim, (await this.timeoutOf(claim)) + DEADLINE_GRACE_MS)) {
      this.stats.deadlinesExtended++;
      this.metrics.supervisor('deadline_extended');
    }
  }

  /**
   * A started attempt whose job a participant's cluster-wide limit sent back to the queue (`throttled`, see
   * StepExecutor.deferAttempt) is waiting for a slot, not dead: while its job waits its deadline counts from now,
   * once an agent took it again from then. Asks the queue only about jobs so marked; the queue away: not known.
   */
  private async heldBack(claim: ClaimedAttempt): Promise<boolean> {
    if (this.queueAway) return false;
    let held: { state: string; takenAt: number | null } | null;
    try {
      held = await this.queue.throttled(jobOf(claim));
    } catch {
      return false;
    }
    if (!held) return false;
    const timeoutMs = await this.timeoutOf(claim);
    let extendMs = timeoutMs + DEADLINE_GRACE_MS;
    if (held.state === 'active') {
      extendMs = (held.takenAt ?? 0) + timeoutMs + DEADLINE_GRACE_MS - Date.now();
      if (extendMs <= 0) return false;
    } else if (!['waiting', 'delayed', 'prioritized'].includes(held.state)) return false;
    if (await this.store.extendDeadline(claim, extendMs)) {
      this.stats.deadlinesExtended++;
      this.metrics.supervisor('deadline_extended');
    }
    return true;
  }

  /**
   * A started attempt past its deadline without an outcome: its agent died, or hung, while running it. The
   * `poisonAfterDeaths`-th death of the step is POISONED (not retried); the others DEADLINE_EXCEEDED (retried).
   */
  private async onDied(claim: ClaimedAttempt): Promise<void> {
    const graceMs = DEADLINE_GRACE_MS + this.options.intervalMs;
    if (Date.now() - this.troubleAt < graceMs) {
      // This supervisor could not reach PostgreSQL a moment ago: neither could the agents report. More time.
      await this.store.extendDeadline(claim, graceMs);
      return;
    }
    const limit = this.options.poisonAfterDeaths ?? DEFAULT_POISON_AFTER_DEATHS;
    const deaths = (claim.deaths ?? 0) + 1;
    const poisoned = deaths >= limit;
    const error: ErrorInfo = poisoned
      ? {
          name: 'Poisoned',
          code: POISONED,
          retryable: false,
          message:
            `${describe(claim)} did not report by its deadline: the step's agent died, or it hung, ${deaths} ` +
            `time${deaths === 1 ? '' : 's'} (the limit is ${limit}); it is not retried`,
        }
      : {
          name: 'DeadlineExceeded',
          code: DEADLINE_EXCEEDED,
          retryable: true,
          message: `${describe(claim)} did not report by its deadline: its agent died, or the step hung (death ${deaths} of ${limit})`,
        };
    const item = claim.item === undefined ? {} : { item: claim.item };
    const event: SagaEvent =
      claim.phase === StepPhase.RUN
        ? { type: 'StepFailed', step: claim.step, attempt: claim.attempt, error, ...item }
        : { type: 'CompensationFailed', step: claim.step, attempt: claim.attempt, error, ...item };
    const result = await this.runtime.apply(claim.sagaId, event);
    if (!result.applied) return;
    if (poisoned) {
      this.stats.attemptsPoisoned++;
      this.metrics.supervisor('attempt_poisoned');
      this.logger.error(`saga ${claim.sagaId}: ${error.message} (POISONED)`);
    } else {
      this.stats.deadlinesExceeded++;
      this.metrics.supervisor('deadline_exceeded');
      this.logger.warn(`saga ${claim.sagaId}: ${error.message}`);
    }
  }

  private async timeoutOf(claim: ClaimedAttempt): Promise<number> {
    const def = (await this.registry.spec(claim.sagaType, claim.definitionVersion)).stepsByName[claim.step];
    return claim.phase === StepPhase.RUN ? def.timeoutMs : def.compensationTimeoutMs;
  }

  /**
   * A step that waits for its child saga (or for its child's undo) reached its check time, or was woken by the
   * child's last commit: the scheduler delivers the child's end, or reaches the child again (a cancel, an undo),
   * whatever a crash left undone. Then the next check is scheduled, unless the step moved on.
   */
  private async onChildStep(claim: ClaimedAttempt): Promise<void> {
    const outcome = await this.runtime.reconcileChild(claim.sagaId, claim.step);
    if (outcome === 'settled') {
      this.stats.childrenReconciled++;
      this.metrics.supervisor('child_reconciled');
      return;
    }
    await this.store.extendDeadline(claim, CHILD_CHECK_MS);
  }

  private async onOverdue(claim: ClaimedAttempt): Promise<void> {
    if (this.queueAway) return;
    const job = jobOf(claim);
    if ((await this.live(job)) !== 'gone') return;
    await this.redrive(job);
    this.logger.warn(`saga ${claim.sagaId}: ${describe(claim)} had no job in the queue; enqueued it again`);
  }

  /** The job's state in the queue; a queue that does not answer is remembered for the rest of this sweep. */
  private async live(job: StepJobData): Promise<JobLiveness> {
    try {
      return await this.queue.liveness(job);
    } catch (error) {
      this.queueAway = true;
      throw error;
    }
  }

  private async redrive(job: StepJobData): Promise<void> {
    try {
      await this.queue.redrive(job);
    } catch (error) {
      this.queueAway = true;
      throw error;
    }
    this.stats.jobsRedriven++;
    this.metrics.supervisor('job_reenqueued');
  }

  /** One claim's failure (Redis or PostgreSQL away) must not stop the others; its lease brings it back later. */
  private async guard(claim: ClaimedAttempt, action: () => Promise<void>): Promise<void> {
    try {
      const { sagaId, step, phase, attempt } = claim;
      await withSagaLog({ sagaId, step, phase, attempt }, action);
    } catch (error) {
      this.noteError(`could not re-drive ${describe(claim)} of saga ${claim.sagaId}`, error);
    }
  }

  /** What `/health` reports: up while sweeps finish; down when none finished for 3 intervals (at least 30 s). */
  health(now = Date.now()): { up: boolean; lastSweepAt: string | null; lastError: string | null } {
    const allowedMs = Math.max(30_000, 3 * this.options.intervalMs);
    const since = this.lastSweepAt ?? this.startedAt;
    return {
      up: now - since <= allowedMs,
      lastSweepAt: this.lastSweepAt === null ? null : new Date(this.lastSweepAt).toISOString(),
      lastError: this.lastError,
    };
  }

  /**
   * Counts every error; logs one only when it differs from the previous one, and none that says a dependency is
   * away (the DependencyMonitor logs the outage once): no log flood during an outage.
   */
  private noteError(context: string, error: unknown): void {
    this.stats.errors++;
    const message = error instanceof Error ? error.message : String(error);
    if (message === this.lastError) return;
    this.lastError = message;
    const away = unavailability(error);
    if (away) {
      if (away.dependency === 'postgres') this.troubleAt = Date.now();
      this.monitor.failed(this.queueAway ? this.queue.dependency : away.dependency, error, 'supervisor');
      return;
    }
    this.logger.warn(`${context}: ${message}`);
  }
}

/** An agent marked the attempt in flight RUNNING: it started (an attempt that never did is not a death). */
function isStarted(claim: ClaimedAttempt): boolean {
  return claim.phase === StepPhase.RUN
    ? claim.fence.status === StepStatus.RUNNING
    : claim.fence.compStatus === CompensationStatus.RUNNING;
}

/**
 * The job that re-drives the claimed attempt. Run alone (`isolate`) when its step has killed an agent before, or
 * when it was handed to an agent in-process and never reported nor was marked running: that agent's process died
 * (or stalled) while it ran, and it may be what killed it.
 */
function jobOf(claim: ClaimedAttempt): StepJobData {
  return {
    sagaId: claim.sagaId,
    type: claim.sagaType,
    version: claim.definitionVersion,
    step: claim.step,
    phase: claim.phase,
    attempt: claim.attempt,
    ...(claim.item === undefined ? {} : { item: claim.item }),
    ...(claim.localRun || (claim.deaths ?? 0) > 0 ? { isolate: true as const } : {}),
  };
}

function describe(claim: ClaimedAttempt): string {
  const what = claim.phase === StepPhase.RUN ? 'step' : 'compensation of step';
  const item = claim.item === undefined ? '' : ` (item ${claim.item})`;
  return `attempt ${claim.attempt} of ${what} "${claim.step}"${item}`;
}

async function forEachLimited<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(PARALLEL_ACTIONS, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  });
  await Promise.all(lanes);
}
