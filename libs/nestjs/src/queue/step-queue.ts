import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import type { Queue } from 'bullmq';
import { DependencyMonitor } from '../observability/dependency-monitor';
import type { Dependency } from '../observability/unavailable';
import { type OpenedQueue, describeQueueBackend, openQueue } from './queue-backend';
import { type StepJobData, stepJobId, stepQueueName } from './step-job';
import { TRANSPORT_OPTIONS, type TransportOptions } from './transport-options';

interface QueuedJob {
  data: StepJobData;
  delayMs: number;
}

interface PendingEnqueue {
  jobs: QueuedJob[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** See StepQueue.liveness. */
export type JobLiveness = 'queued' | 'active' | 'gone';

/**
 * Enqueues step attempts. Retries belong to the engine, so every job runs once (`attempts: 1`) and is removed
 * when done: its outcome lives in PostgreSQL, and a removed id can be enqueued again by the supervisor.
 */
@Injectable()
export class StepQueue implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('StepQueue');
  /** One producer per saga type and version, opened on first use (see stepQueueName). */
  private readonly queues = new Map<string, Promise<OpenedQueue<StepJobData>>>();
  /** Opened at start: it proves the backend answers, and serves `ping`. */
  private probe?: OpenedQueue<StepJobData>;
  private closed = false;
  /** Enqueues asked for in this turn of the event loop, added together at its end (see enqueue). */
  private readonly pending: PendingEnqueue[] = [];

  constructor(
    @Inject(TRANSPORT_OPTIONS) readonly options: TransportOptions,
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
  ) {}

  /** Which backend carries the jobs, for logs and `/health`. */
  get backend(): TransportOptions['queue']['kind'] {
    return this.options.queue.kind;
  }

  /** The dependency the jobs live in: Redis, or PostgreSQL for BullMQ's PostgreSQL backend. */
  get dependency(): Dependency {
    return this.options.queue.kind === 'redis' ? 'redis' : 'postgres';
  }

  /**
   * Connects in onModuleInit rather than in the constructor, so that on the PostgreSQL backend the database
   * exists before BullMQ's first query. Refuses to start on a Redis that may evict keys (BullMQ locks and jobs
   * must never vanish).
   */
  async onModuleInit(): Promise<void> {
    this.probe = await this.open('saga-steps.probe');
    this.logger.log(`step queues on ${describeQueueBackend(this.options.queue)}`);
  }

  private open(name: string): Promise<OpenedQueue<StepJobData>> {
    return openQueue<StepJobData>(this.options.queue, name, {
      prefix: this.options.prefix,
      redisCommandTimeoutMs: this.options.redisCommandTimeoutMs,
      pgTimeouts: this.options.pgTimeouts,
      // A connection that cannot reach its server says so on every reconnect: logged once per outage.
      onError: (message, error) => {
        if (!this.monitor.failed(this.dependency, error, 'step queue')) this.logger.warn(message);
      },
    });
  }

  /** The producer of one saga type's version. */
  queue(type: string, version: number): Promise<Queue<StepJobData>> {
    if (this.closed) return Promise.reject(new Error('the step queues are closed'));
    const name = stepQueueName(type, version);
    let opened = this.queues.get(name);
    if (!opened) {
      opened = this.open(name);
      // A failed open is forgotten, so that the next call tries again (Redis may be back by then).
      opened.catch(() => this.queues.delete(name));
      this.queues.set(name, opened);
    }
    return opened.then((o) => o.queue);
  }

  /** Resolves when the queue backend answers; rejects otherwise (for `/health`). */
  ping(): Promise<void> {
    return this.probe ? this.probe.ping() : Promise.reject(new Error('not connected yet'));
  }

  /** Resolves when the queue backend takes a write; rejects otherwise, e.g. Redis out of memory (`/health`). */
  probeWrite(): Promise<void> {
    return this.probe ? this.probe.probeWrite() : Promise.reject(new Error('not connected yet'));
  }

  /**
   * Adds the jobs. The enqueues asked for in the same turn of the event loop (the dispatches of one group commit,
   * the starts answered by one insert) go to each queue as one `addBulk`: one round trip, not one per saga.
   */
  enqueue(jobs: QueuedJob[]): Promise<void> {
    if (jobs.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pending.push({ jobs, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const callers = this.pending.splice(0);
    const byQueue = new Map<string, { jobs: QueuedJob[]; callers: Set<PendingEnqueue> }>();
    for (const caller of callers) {
      for (const job of caller.jobs) {
        const name = stepQueueName(job.data.type, job.data.version);
        const group = byQueue.get(name) ?? { jobs: [], callers: new Set() };
        group.jobs.push(job);
        group.callers.add(caller);
        byQueue.set(name, group);
      }
    }
    // A caller is answered once every queue it wrote to took its jobs, or rejected by the first that did not.
    const outcomes = new Map<PendingEnqueue, Promise<unknown>[]>();
    for (const group of byQueue.values()) {
      const added = this.addBulk(group.jobs);
      for (const caller of group.callers) outcomes.set(caller, [...(outcomes.get(caller) ?? []), added]);
    }
    for (const [caller, added] of outcomes) {
      Promise.all(added).then(() => caller.resolve(), caller.reject);
    }
  }

  private async addBulk(jobs: QueuedJob[]): Promise<void> {
    const queue = await this.queue(jobs[0].data.type, jobs[0].data.version);
    await queue.addBulk(
      jobs.map(({ data, delayMs }) => ({
        name: data.phase,
        data,
        opts: { jobId: stepJobId(data), delay: delayMs, attempts: 1, removeOnComplete: true, removeOnFail: true },
      })),
    );
  }

  /** Jobs by state and the age of the oldest waiting one, over the queues this process opened (`/metrics`). */
  async stats(): Promise<{ counts: Record<string, number>; oldestWaitingAgeSeconds: number }> {
    const counts: Record<string, number> = { waiting: 0, delayed: 0, active: 0, prioritized: 0 };
    let since = Date.now();
    for (const opened of this.queues.values()) {
      const { queue } = await opened;
      const each = await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      for (const [state, n] of Object.entries(each)) counts[state] = (counts[state] ?? 0) + n;
      const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
      // A delayed job waits from the end of its delay, not from when it was added.
      if (oldest) since = Math.min(since, oldest.timestamp + (oldest.delay ?? 0));
    }
    return { counts, oldestWaitingAgeSeconds: Math.max(0, Date.now() - since) / 1000 };
  }

  /**
   * Where the job of an attempt stands: `queued` (waiting, delayed or prioritized: not started), `active` (an
   * agent took it; maybe one that died and whose lock has not expired yet), or `gone` (never enqueued, lost with
   * Redis, or finished and removed). Throws when Redis does not answer: then nobody can tell.
   */
  async liveness(data: StepJobData): Promise<JobLiveness> {
    const queue = await this.queue(data.type, data.version);
    const state = await queue.getJobState(stepJobId(data));
    switch (state) {
      case 'waiting':
      case 'delayed':
      case 'prioritized':
      case 'waiting-children':
        return 'queued';
      case 'active':
        return 'active';
      case 'unknown': // no such job
      case 'completed': // left behind, although jobs are removed when done
      case 'failed':
        return 'gone';
      default: {
        const _never: never = state;
        return 'gone';
      }
    }
  }

  /**
   * The attempt's job if a participant's limit held it back (`throttled`, see StepExecutor.deferAttempt): its state
   * and when an agent last took it (BullMQ's `processedOn`, the agent's clock); null for any other job, or none.
   */
  async throttled(data: StepJobData): Promise<{ state: string; takenAt: number | null } | null> {
    const queue = await this.queue(data.type, data.version);
    const id = stepJobId(data);
    // The state first, then the take time: a job taken again between the two reads then shows that take's time.
    // Read the other way round, a job that left the delayed set meanwhile read 'active' with the time of its
    // previous take, seconds before its wait, and the supervisor counted its attempt as dead.
    const state = await queue.getJobState(id);
    const job = await queue.getJob(id);
    if (!job?.data?.throttled) return null;
    return { state, takenAt: job.processedOn ?? null };
  }

  /**
   * Enqueues an attempt again under the SAME job id (the supervisor, for a job that is gone). A leftover finished
   * copy is removed first, since BullMQ ignores an add whose id exists. A copy that is queued or active is kept:
   * the add is then a no-op, so a race with the original enqueue cannot run the attempt twice from Redis.
   */
  async redrive(data: StepJobData): Promise<void> {
    const queue = await this.queue(data.type, data.version);
    const id = stepJobId(data);
    const state = await queue.getJobState(id);
    if (state === 'completed' || state === 'failed') await queue.remove(id);
    await this.enqueue([{ data, delayMs: 0 }]);
  }

  /**
   * Closed after every module's onModuleDestroy (where agents drain their running jobs), so that the outcomes
   * they report can still enqueue the next steps; the database closes after it (onApplicationShutdown).
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    const all = [...this.queues.values()];
    this.queues.clear();
    await Promise.all(all.map(async (opened) => (await opened.catch(() => null))?.close()));
    await this.probe?.close();
  }
}
