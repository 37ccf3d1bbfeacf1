import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { STEP_QUEUE, type StepJobData, stepJobId } from './step-job';
import { TRANSPORT_OPTIONS, type TransportOptions } from './transport-options';
import { assertNoEviction, createRedis } from './redis';

/**
 * Enqueues step attempts. Retries belong to the engine, so every job runs once (`attempts: 1`) and is removed
 * when done: its outcome lives in PostgreSQL, and a removed id can be enqueued again by the supervisor.
 */
@Injectable()
export class StepQueue implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(StepQueue.name);
  readonly connection: Redis;
  readonly queue: Queue<StepJobData>;

  constructor(@Inject(TRANSPORT_OPTIONS) readonly options: TransportOptions) {
    this.connection = createRedis(options.redisUrl, 'producer');
    this.connection.on('error', (err) => this.logger.warn(`Redis (producer): ${err.message}`));
    this.queue = new Queue<StepJobData>(STEP_QUEUE, { connection: this.connection, prefix: options.prefix });
  }

  /** Refuses to start on a Redis that may evict keys (BullMQ locks and jobs must never vanish). */
  async onModuleInit(): Promise<void> {
    if (this.connection.status !== 'ready') {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`REDIS_URL: no answer from Redis within 10 s`)), 10_000);
        this.connection.once('ready', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await assertNoEviction(this.connection);
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

  async onModuleDestroy(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}
