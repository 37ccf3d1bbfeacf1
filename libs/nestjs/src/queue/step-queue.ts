import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { type OpenedQueue, describeQueueBackend, openQueue } from './queue-backend';
import { STEP_QUEUE, type StepJobData, stepJobId } from './step-job';
import { TRANSPORT_OPTIONS, type TransportOptions } from './transport-options';

/** See StepQueue.liveness. */
export type JobLiveness = 'queued' | 'active' | 'gone';

/**
 * Enqueues step attempts. Retries belong to the engine, so every job runs once (`attempts: 1`) and is removed
 * when done: its outcome lives in PostgreSQL, and a removed id can be enqueued again by the supervisor.
 */
@Injectable()
export class StepQueue implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(StepQueue.name);
  private opened?: OpenedQueue<StepJobData>;

  constructor(@Inject(TRANSPORT_OPTIONS) readonly options: TransportOptions) {}

  /** Which backend carries the jobs, for logs and `/health`. */
  get backend(): TransportOptions['queue']['kind'] {
    return this.options.queue.kind;
  }

  /**
   * Connects in onModuleInit rather than in the constructor, so that on the PostgreSQL backend the database
   * exists (StoreModule creates it) before BullMQ's first query. Refuses to start on a Redis that may evict keys
   * (BullMQ locks and jobs must never vanish).
   */
  async onModuleInit(): Promise<void> {
    this.opened = await openQueue<StepJobData>(this.options.queue, STEP_QUEUE, {
      prefix: this.options.prefix,
      onError: (message) => this.logger.warn(message),
    });
    this.logger.log(`step queue "${STEP_QUEUE}" on ${describeQueueBackend(this.options.queue)}`);
  }

  get queue(): Queue<StepJobData> {
    if (!this.opened) throw new Error('StepQueue is used before its module was initialised');
    return this.opened.queue;
  }

  /** Resolves when the queue backend answers; rejects otherwise (for `/health`). */
  ping(): Promise<void> {
    return this.opened ? this.opened.ping() : Promise.reject(new Error('not connected yet'));
  }

  async enqueue(jobs: { data: StepJobData; delayMs: number }[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.queue.addBulk(
      jobs.map(({ data, delayMs }) => ({
        name: data.phase,
        data,
        opts: { jobId: stepJobId(data), delay: delayMs, attempts: 1, removeOnComplete: true, removeOnFail: true },
      })),
    );
  }

  /** Jobs by state and the age of the oldest waiting one (for `/metrics`, at scrape time). */
  async stats(): Promise<{ counts: Record<string, number>; oldestWaitingAgeSeconds: number }> {
    const counts = await this.queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
    const [oldest] = await this.queue.getJobs(['waiting'], 0, 0, true);
    // A delayed job waits from the end of its delay, not from when it was added.
    const since = oldest ? oldest.timestamp + (oldest.delay ?? 0) : Date.now();
    return { counts, oldestWaitingAgeSeconds: Math.max(0, Date.now() - since) / 1000 };
  }

  /**
   * Where the job of an attempt stands: `queued` (waiting, delayed or prioritized: not started), `active` (an
   * agent took it; maybe one that died and whose lock has not expired yet), or `gone` (never enqueued, lost with
   * Redis, or finished and removed). Throws when Redis does not answer: then nobody can tell.
   */
  async liveness(data: StepJobData): Promise<JobLiveness> {
    const state = await this.queue.getJobState(stepJobId(data));
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
   * Enqueues an attempt again under the SAME job id (the supervisor, for a job that is gone). A leftover finished
   * copy is removed first, since BullMQ ignores an add whose id exists. A copy that is queued or active is kept:
   * the add is then a no-op, so a race with the original enqueue cannot run the attempt twice from Redis.
   */
  async redrive(data: StepJobData): Promise<void> {
    const id = stepJobId(data);
    const state = await this.queue.getJobState(id);
    if (state === 'completed' || state === 'failed') await this.queue.remove(id);
    await this.enqueue([{ data, delayMs: 0 }]);
  }

  /**
   * Closed after every module's onModuleDestroy (where agents drain their running jobs), so that the outcomes
   * they report can still enqueue the next steps.
   */
  async onApplicationShutdown(): Promise<void> {
    await this.opened?.close();
  }
}
