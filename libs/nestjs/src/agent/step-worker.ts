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
import { DependencyMonitor } from '../observability/dependency-monitor';

/** After the grace period, how long aborted steps get to report their (transient) failure. */
const ABORT_REPORT_MS = 5_000;
/** A job that cannot run here now (an attempt runs alone) goes back to the queue for this long. */
const BOUNCE_MS = 50;

/**
 * The agent: a BullMQ worker whose processor is the StepExecutor. Scale out by running more processes.
 *
 * It also runs attempts in-process: when the scheduler of this process commits a step's outcome and the next
 * attempt is due at once, it hands that attempt here instead of enqueueing a job (up to `agentConcurrency` such
 * handlers running at a time; beyond that, or while stopping, the attempt goes through the queue). The step row
 * committed with the dispatch is the durable record either way: if this process dies, the supervisor finds the
 * attempt due with no job (schedule-to-start) or, once it was marked RUNNING, past its deadline, and re-drives it. An attempt runs
 * either here or from a job, never both: it is handed over once, after the commit, and nothing else enqueues it
 * while the row is not overdue (the RUNNING mark, after `runningMarkMs` < schedule-to-start, makes it not due).
 */
@Injectable()
export class StepWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Agent');
  /** One BullMQ worker per saga version this process has the code of (see stepQueueName). */
  private readonly workers: { worker: Worker<StepJobData>; release: () => void }[] = [];
  /** In-process runs until they have reported (what shutdown waits for). */
  private readonly local = new Set<Promise<unknown>>();
  /**
   * Of those, the ones whose handler is still running: what `agentConcurrency` bounds. A run gives its slot back
   * when its handler settles, before it reports, so the next step that its report dispatches can take that slot
   * (counted until the report, a saga moving step after step would find every slot held by the reports that
   * dispatch, and overflow to the queue while nothing runs).
   */
  private localHandlers = 0;

  constructor(
    private readonly executor: StepExecutor,
    private readonly runtime: SagaScheduler,
    private readonly registry: SagaRegistry,
    @Inject(TRANSPORT_OPTIONS) private readonly transport: TransportOptions,
    @Inject(RUNTIME_OPTIONS) private readonly options: RuntimeOptions,
    @Optional() private readonly isolation: AttemptIsolation = new AttemptIsolation(),
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
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
    this.runtime.setLocalRunner({ reserve: (job, state) => this.reserveLocal(job, state) });
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
    try {
      const result = await this.executor.execute(job.data, undefined, undefined, async (delayMs) => {
        if (!job.data.throttled) await job.updateData({ ...job.data, throttled: true });
        await job.moveToDelayed(Date.now() + delayMs, token);
      });
      if (result === 'deferred') throw new DelayedError();
      return result;
    } catch (error) {
      if (!(error instanceof IsolationBusyError) || !token) throw error;
      await job.moveToDelayed(Date.now() + BOUNCE_MS, token);
      throw new DelayedError();
    }
  }

  /**
   * Takes an attempt that a commit of this process is about to dispatch, to run it here right after (see
   * LocalRunner): a slot of `agentConcurrency`, unless this process has not the saga's code, an attempt runs alone
   * here, or this one must run alone itself (its step killed an agent before): those go through the queue.
   */
  private reserveLocal(job: StepJobData, state: SagaState): LocalRun | null {
    if (this.localHandlers >= this.options.agentConcurrency) return null;
    // Another service's saga (this API started it, or its signal moved it on): its agents run it.
    if (!this.registry.code(job.type, job.version)) return null;
    if (this.isolation.active || (state.steps[job.step]?.deaths ?? 0) > 0) return null;
    this.localHandlers++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.localHandlers--;
    };
    return { start: (snapshot) => this.runLocally(job, snapshot, release), release };
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
