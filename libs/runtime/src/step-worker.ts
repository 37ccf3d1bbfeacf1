import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { Worker } from 'bullmq';
import { STEP_QUEUE, type StepJobData, TRANSPORT_OPTIONS, type TransportOptions, openWorker } from '@app/transport';
import { RUNTIME_OPTIONS, type RuntimeOptions } from './runtime-tokens';
import { StepExecutor } from './step-executor';

/** After the grace period, how long aborted steps get to report their (transient) failure. */
const ABORT_REPORT_MS = 5_000;

/** The agent: a BullMQ worker whose processor is the StepExecutor. Scale out by running more processes. */
@Injectable()
export class StepWorker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Agent');
  private worker?: Worker<StepJobData>;
  private release?: () => void;

  constructor(
    private readonly executor: StepExecutor,
    @Inject(TRANSPORT_OPTIONS) private readonly transport: TransportOptions,
    @Inject(RUNTIME_OPTIONS) private readonly options: RuntimeOptions,
  ) {}

  onApplicationBootstrap(): void {
    // On Redis or on BullMQ's PostgreSQL backend, whichever the transport options name (see queueBackendFor).
    const opened = openWorker<StepJobData>(this.transport.queue, STEP_QUEUE, (job) => this.executor.execute(job.data), {
      prefix: this.transport.prefix,
      concurrency: this.options.agentConcurrency,
      onError: (message) => this.logger.warn(message),
    });
    this.worker = opened.worker;
    this.release = opened.release;
    this.worker.on('failed', (job, error) =>
      this.logger.warn(`job ${job?.id ?? '?'} failed before its outcome was recorded: ${error.message}`),
    );
    this.worker.on('error', (error) => this.logger.warn(`worker: ${error.message}`));
    this.logger.log(`agent started: queue "${STEP_QUEUE}", concurrency ${this.options.agentConcurrency}`);
  }

  /**
   * Graceful shutdown (SIGTERM, through Nest's shutdown hooks; before the queue and the database connections
   * close, which happens in onApplicationShutdown): stop taking jobs, let the running steps finish and report for
   * up to `shutdownGraceMs`, then abort them (each reports a transient failure, retried by its policy) and give
   * them a last moment to report. A step that still has not reported is re-driven by the supervisor.
   */
  async onModuleDestroy(): Promise<void> {
    if (!this.worker) return;
    const graceMs = this.options.shutdownGraceMs ?? 10_000;
    const closing = this.worker.close();
    this.logger.log(`agent stopping: no new jobs; waiting up to ${graceMs} ms for the running ones`);
    if (!(await settlesWithin(closing, graceMs))) {
      this.logger.warn(`agent stopping: steps still running after ${graceMs} ms; aborting them`);
      this.executor.abortAll();
      if (!(await settlesWithin(closing, ABORT_REPORT_MS))) {
        this.logger.warn('agent stopping: some steps did not report; the supervisor will re-drive them');
      }
    }
    this.release?.();
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
