import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { STEP_QUEUE, type StepJobData, TRANSPORT_OPTIONS, type TransportOptions, createRedis } from '@app/transport';
import { RUNTIME_OPTIONS, type RuntimeOptions } from './runtime-tokens';
import { StepExecutor } from './step-executor';

/** The agent: a BullMQ worker whose processor is the StepExecutor. Scale out by running more processes. */
@Injectable()
export class StepWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Agent');
  private worker?: Worker<StepJobData>;
  private connection?: Redis;

  constructor(
    private readonly executor: StepExecutor,
    @Inject(TRANSPORT_OPTIONS) private readonly transport: TransportOptions,
    @Inject(RUNTIME_OPTIONS) private readonly options: RuntimeOptions,
  ) {}

  onApplicationBootstrap(): void {
    this.connection = createRedis(this.transport.redisUrl, 'worker');
    this.connection.on('error', (err) => this.logger.warn(`Redis (worker): ${err.message}`));
    this.worker = new Worker<StepJobData>(STEP_QUEUE, (job) => this.executor.execute(job.data), {
      connection: this.connection,
      prefix: this.transport.prefix,
      concurrency: this.options.agentConcurrency,
    });
    this.worker.on('failed', (job, error) =>
      this.logger.warn(`job ${job?.id ?? '?'} failed before its outcome was recorded: ${error.message}`),
    );
    this.worker.on('error', (error) => this.logger.warn(`worker: ${error.message}`));
    this.logger.log(`agent started: queue "${STEP_QUEUE}", concurrency ${this.options.agentConcurrency}`);
  }

  /** Stops taking jobs and lets the running ones finish and report (SIGTERM with enableShutdownHooks). */
  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
    this.connection?.disconnect();
  }
}
