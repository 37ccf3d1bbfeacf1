import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  Optional,
} from '@nestjs/common';
import { DelayedError, type Job, type Worker } from 'bullmq';
import type { SagaState } from '@saga-engine/core';
import { type StepJobData, stepQueueName } from '../queue/step-job';
import { TRANSPORT_OPTIONS, type TransportOptions } from '../queue/transport-options';
import { openWorker } from '../queue/queue-backend';
import type { SagaSnapshot } from '../store/saga-store';
import { RUNTIME_OPTIONS, type RuntimeOptions } from '../module/tokens';
import { type LocalRun, SagaScheduler } from '../scheduler/saga-scheduler';
import { SagaRegistry } from '../scheduler/saga-registry';
import { StepExecutor } from './step-executor';
import { AttemptIsolation, IsolationBusyError } from './attempt-isolation';
import { HandlerSlots, type SlotRelease } from './handler-slots';
import { DependencyMonitor } from '../observability/dependency-monitor';
import { StepQueue } from '../queue/step-queue';

/** After the grace period, how long aborted steps get to report their (transient) failure. */
const ABORT_REPORT_MS = 5_000;
/** A job that cannot run here now (an attempt runs alone) goes back to the queue for this long. */
const BOUNCE_MS = 50;
/** A start waiting for room in its saga version's line (see StepWorker.room). */
interface Admission {
  resolve: () => void;
  timer: NodeJS.Timeout;
}

/** Hand-overs that may wait in line for a slot, per slot of `agentConcurrency` (see StepWorker). */
const LOCAL_BACKLOG = 4;
/** Sagas moving in a process, per slot, beyond which a new start waits for room (see StepWorker.room). */
const MOVING_PER_SLOT = 3;

/**
 * The agent: a BullMQ worker whose processor is the StepExecutor. Scale out by running more processes.
 *
 * It also runs attempts in-process: when the scheduler of this process commits a step's outcome and the next attempt is
 * due at once, it hands that attempt here instead of enqueueing a job (when a slot of `agentConcurrency` is free:
 * in-process runs and jobs from the queue share them, per saga version; beyond that, or while stopping, the attempt
 * goes through the queue). The step row committed with the dispatch is the durable record either way: if this process
 * dies, the supervisor finds the attempt due with no job (schedule-to-start) or, once it was marked RUNNING, past its
 * deadline, and re-drives it. An attempt runs either here or from a job, never both: it is handed over once, after the
 * commit, and nothing else enqueues it while the row is not overdue (the RUNNING mark, after `runningMarkMs` <
 * schedule-to-start, makes it not due).
 *
 * When every slot is taken, a hand-over waits in line for one (up to LOCAL_BACKLOG per slot), and a new start waits
 * briefly for room: a burst of starts then does not send its steps through the queue only to take them back from
 * it. A waiting hand-over has not started (its timeout, its RUNNING mark and its deadline count from when it runs);
 * one still waiting after `runningMarkMs` goes to the queue under its job id, so it is taken up, or enqueued, well
 * within schedule-to-start, and the supervisor never enqueues a second copy.
 */
@Injectable()
export class StepWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Agent');
  /** One BullMQ worker per saga version this process has the code of (see stepQueueName). */
  private readonly workers: { worker: Worker<StepJobData>; release: () => void }[] = [];
  /** In-process runs until they have reported (what shutdown waits for). */
  private readonly local = new Set<Promise<unknown>>();
  /**
   * Per saga version, the handlers running now, in-process or from the queue: what `agentConcurrency` bounds (see
   * HandlerSlots). A run gives its slot back when its handler settles, before it reports, so the next step that its
   * report dispatches can take that slot (counted until the report, a saga moving step after step would find every
   * slot held by the reports that dispatch, and overflow to the queue while nothing runs).
   */
  private readonly slots = new Map<string, HandlerSlots>();
  /** Per saga version's slots, the starts waiting for room in its line (see room). */
  private readonly rooms = new Map<HandlerSlots, Admission[]>();
  /** Starts let in that have not reserved their first step yet (see admit). */
  private admitted = 0;
  /** Hand-overs in line for a slot: given to the queue if this process stops meanwhile. */
  private readonly waiting = new Set<{ spill: () => void }>();

  constructor(
    private readonly executor: StepExecutor,
    private readonly runtime: SagaScheduler,
    private readonly registry: SagaRegistry,
    @Inject(TRANSPORT_OPTIONS) private readonly transport: TransportOptions,
    @Inject(RUNTIME_OPTIONS) private readonly options: RuntimeOptions,
    @Optional() private readonly isolation: AttemptIsolation = new AttemptIsolation(),
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
    @Optional() @Inject(StepQueue) private readonly queue: StepQueue | null = null,
  ) {}

  onApplicationBootstrap(): void {
    const definitions = this.registry.codeDefinitions();
    const dependency = this.transport.queue.kind === 'redis' ? 'redis' : 'postgres';
    // A dependency that is away is logged once per outage (by the monitor), not once per job or reconnect.
    const warn = (message: string, error: Error, about: 'redis' | 'postgres' = dependency) => {
      if (!this.monitor.failed(about, error, 'agent')) this.logger.warn(message);
    };
    for (const def of definitions) {
      // On Redis or on BullMQ's PostgreSQL backend, whichever the transport options name (see queueBackendFor).
      const name = stepQueueName(def.name, def.version);
      const opened = openWorker<StepJobData>(this.transport.queue, name, (job, token) => this.process(job, token), {
        prefix: this.transport.prefix,
        concurrency: this.options.agentConcurrency,
        pgTimeouts: this.transport.pgTimeouts,
        onError: (message, error) => warn(message, error),
      });
      opened.worker.on('failed', (job, error) =>
        warn(`job ${job?.id ?? '?'} failed before its outcome was recorded: ${error.message}`, error, 'postgres'),
      );
      opened.worker.on('error', (error) => warn(`worker ${name}: ${error.message}`, error));
      this.workers.push(opened);
    }
    // While an attempt runs alone (it killed an agent before), this agent takes no job (see AttemptIsolation).
    this.isolation.onIsolation(
      () => {
        for (const { worker } of this.workers) worker.pause(true).catch(() => undefined);
      },
      () => {
        // (Closing: nothing to resume.)
        for (const { worker } of this.workers) Promise.resolve(worker.resume()).catch(() => undefined);
      },
    );
    this.runtime.setLocalRunner({
      reserve: (job, state) => this.reserveLocal(job, state),
      room: (type, version) => this.room(type, version),
    });
    this.logger.log(
      `agent started: ${definitions.map((d) => `${d.name} v${d.version}`).join(', ') || 'no saga types'}, ` +
        `concurrency ${this.options.agentConcurrency} per type`,
    );
  }

  /**
   * A job from the queue. One that cannot run here now (an attempt runs alone) goes back to the queue at once. One
   * held back by a participant's limit moves to the delayed set under the same id, marked `throttled` (so exactly
   * one copy of the attempt exists), until its turn. BullMQ is told so with a DelayedError: neither is a failure.
   */
  private async process(job: Job<StepJobData>, token: string | undefined): Promise<unknown> {
    // Taken, not started: it waits for a handler slot before the executor marks it started (schedule-to-start). A
    // job a participant's limit held back may have been started already: the supervisor gives it its timeout from
    // when it is taken, so it does not wait here but goes back to the delayed set until a slot is free.
    const slots = this.slotsOf(job.data);
    const slot = job.data.throttled ? slots.tryTake() : await slots.take();
    try {
      // (No slot: it goes back to the queue shortly, as a job that cannot run here now, below.)
      if (!slot) throw new IsolationBusyError('no handler slot free');
      const result = await this.executor.execute(job.data, undefined, slot, async (delayMs) => {
        if (!job.data.throttled) await job.updateData({ ...job.data, throttled: true });
        await job.moveToDelayed(Date.now() + delayMs, token);
      });
      if (result === 'deferred') throw new DelayedError();
      return result;
    } catch (error) {
      if (!(error instanceof IsolationBusyError) || !token) throw error;
      await job.moveToDelayed(Date.now() + BOUNCE_MS, token);
      throw new DelayedError();
    } finally {
      slot?.();
    }
  }

  /** The handler slots of the job's saga version (see HandlerSlots). */
  private slotsOf(job: Pick<StepJobData, 'type' | 'version'>): HandlerSlots {
    const key = stepQueueName(job.type, job.version);
    let slots = this.slots.get(key);
    if (!slots) {
      slots = new HandlerSlots(this.options.agentConcurrency);
      slots.onLeave = () => this.admitStarts();
      this.slots.set(key, slots);
    }
    return slots;
  }

  /**
   * Takes an attempt that a commit of this process is about to dispatch, to run it here right after (see
   * LocalRunner): a free slot of `agentConcurrency` (shared with the jobs from the queue), unless this process has
   * not the saga's code, an attempt runs alone here, or this one must run alone itself (its step killed an agent
   * before): those go through the queue.
   */
  private reserveLocal(job: StepJobData, state: SagaState): LocalRun | null {
    // Another service's saga (this API started it, or its signal moved it on): its agents run it.
    if (!this.registry.code(job.type, job.version)) return null;
    if (this.isolation.active || (state.steps[job.step]?.deaths ?? 0) > 0) return null;
    const slots = this.slotsOf(job);
    const release = slots.tryTake();
    if (release) return { start: (snapshot) => this.runLocally(job, snapshot, release), release };
    // Every slot taken: in line for one, unless too many wait already (then the queue, schedule-to-start).
    if (!this.queue || slots.waiting >= this.options.agentConcurrency * LOCAL_BACKLOG) return null;
    return this.inLine(job, slots);
  }

  /**
   * A hand-over in line for a slot. It runs when it has both its slot and its commit; if it has not got a slot
   * after `runningMarkMs`, it leaves the line and goes to the queue (once committed; not at all if the commit fails).
   */
  private inLine(job: StepJobData, slots: HandlerSlots): LocalRun {
    const ticket = slots.wait();
    let snapshot: SagaSnapshot | undefined;
    let slot: SlotRelease | undefined;
    let spilled = false;
    let dropped = false;
    const entry = {
      spill: () => {
        if (!ticket.cancel()) return; // (a slot came meanwhile: it runs)
        spilled = true;
        leave();
        if (snapshot) this.spill(job);
      },
    };
    const timer = setTimeout(entry.spill, this.options.runningMarkMs);
    const leave = () => {
      clearTimeout(timer);
      this.waiting.delete(entry);
    };
    this.waiting.add(entry);
    void ticket.granted.then((release) => {
      leave();
      if (dropped) return release();
      slot = release;
      if (snapshot) this.runLocally(job, snapshot, release);
    });
    return {
      start: (committed) => {
        snapshot = committed;
        if (spilled) this.spill(job);
        else if (slot) this.runLocally(job, committed, slot);
      },
      release: () => {
        // The commit did not happen: nothing to run; a slot given meanwhile goes back.
        dropped = true;
        if (ticket.cancel()) leave();
        else slot?.();
      },
    };
  }

  /**
   * Asked before a start that runs at once (see LocalRunner): while this process moves many sagas already (its
   * version's slots held and line, and the in-process runs not yet reported: more than MOVING_PER_SLOT per slot),
   * the start waits, at most `runningMarkMs`, until fewer move. The sagas already running come first, and the line
   * stays short enough that their next steps need not go through the queue; new sagas come in as room frees.
   */
  private room(type: string, version: number): Promise<void> | null {
    if (!this.queue || !this.registry.code(type, version)) return null;
    const slots = this.slotsOf({ type, version });
    if (this.roomFor(slots) > 0) return null;
    return new Promise((resolve) => {
      const admission = { resolve, timer: setTimeout(() => this.admit(slots, admission), this.options.runningMarkMs) };
      const line = this.rooms.get(slots) ?? [];
      this.rooms.set(slots, line);
      line.push(admission);
    });
  }

  /** How many more sagas this process may take in for `slots`' version now (see room). */
  private roomFor(slots: HandlerSlots): number {
    const moving = slots.busy + slots.waiting + this.local.size + this.admitted;
    return this.options.agentConcurrency * MOVING_PER_SLOT - moving;
  }

  /** Lets in, oldest first, as many waiting starts as there is room for now (when a line shortens or a run ends). */
  private admitStarts(): void {
    for (const [slots, line] of this.rooms) {
      // (An admitted start is counted only once it goes on, a moment later: so at most the room seen now.)
      let room = this.roomFor(slots);
      while (room-- > 0 && line.length > 0) this.admit(slots, line[0]);
    }
  }

  private admit(slots: HandlerSlots, admission: Admission): void {
    clearTimeout(admission.timer);
    const line = this.rooms.get(slots) ?? [];
    const at = line.indexOf(admission);
    if (at >= 0) line.splice(at, 1);
    admission.resolve();
    // Counted as moving until it has gone on (it reserves its first step at once, in the next microtasks).
    if (this.admitted++ === 0) setImmediate(() => (this.admitted = 0));
  }

  /** To the queue under its job id (no delay): the committed row is its record, as for any job. */
  private spill(job: StepJobData): void {
    const sent: Promise<unknown> = this.queue!.enqueue([{ data: job, delayMs: 0 }])
      .catch((error: unknown) => {
        // Not enqueued (the queue is away): the supervisor finds the attempt due with no job and enqueues it.
        if (!this.monitor.failed('redis', error, 'agent')) {
          this.logger.warn(`${job.sagaId}.${job.step}: could not hand over to the queue: ${String(error)}`);
        }
      })
      .finally(() => this.local.delete(sent));
    this.local.add(sent); // (shutdown waits for it, before the queue closes)
  }

  private runLocally(job: StepJobData, snapshot: SagaSnapshot, release: () => void): void {
    const run: Promise<unknown> = this.executor
      .execute(job, snapshot, release)
      .catch((error: unknown) => {
        if (this.monitor.failed('postgres', error, 'agent')) return;
        this.logger.warn(
          `${job.sagaId}.${job.step}.${job.phase}.${job.attempt} (in-process) failed before its outcome was recorded: ${String(error)}`,
        );
      })
      .finally(() => {
        release();
        this.local.delete(run);
        if (this.rooms.size > 0) this.admitStarts();
      });
    this.local.add(run);
  }

  /**
   * Graceful shutdown (SIGTERM, through Nest's shutdown hooks; before the queue and the database connections
   * close, which happens in onApplicationShutdown): stop taking jobs, let the running steps finish and report for
   * up to `shutdownGraceMs`, then abort them (each reports a transient failure, retried by its policy) and give
   * them a last moment to report. A step that still has not reported is re-driven by the supervisor.
   */
  async onModuleDestroy(): Promise<void> {
    // From now on every dispatch goes to the queue (still open: it closes after this), for another agent.
    this.runtime.setLocalRunner(null);
    // The hand-overs still in line go to the queue now, for another agent (or this one's next life).
    for (const entry of [...this.waiting]) entry.spill();
    for (const [slots, line] of this.rooms) for (const admission of [...line]) this.admit(slots, admission);
    const graceMs = this.options.shutdownGraceMs ?? 10_000;
    const closing = Promise.all([...this.workers.map((w) => w.worker.close()), this.drainLocal()]);
    this.logger.log(`agent stopping: no new jobs; waiting up to ${graceMs} ms for the running ones`);
    if (!(await settlesWithin(closing, graceMs))) {
      this.logger.warn(`agent stopping: steps still running after ${graceMs} ms; aborting them`);
      this.executor.abortAll();
      if (!(await settlesWithin(closing, ABORT_REPORT_MS))) {
        this.logger.warn('agent stopping: some steps did not report; the supervisor will re-drive them');
      }
    }
    for (const w of this.workers) w.release();
  }

  /** Until no in-process run is left (one that reports may start none: the runner is unset by then). */
  private async drainLocal(): Promise<void> {
    while (this.local.size > 0) await Promise.allSettled([...this.local]);
  }
}

/** Whether `promise` settles within `ms` (without rejecting the caller either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
