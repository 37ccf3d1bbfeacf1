import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { OperatorActions } from '../api/sagas/operator-actions';
import { ApiError } from '../api/http/api-error';
import { SUPERVISOR_OPTIONS, type SupervisorOptions } from '../module/tokens';
import { BulkAction, type BulkJob, type BulkJobError, BulkJobStore, sagaFilterOf } from '../store/bulk-job-store';
import { AuditAction } from '../store/saga-audit';
import { SagaQueries } from '../store/saga-queries';
import { EngineMetrics } from '../observability/engine-metrics';
import { unavailability } from '../observability/unavailable';

/** Sagas read per query (keyset pagination over the job's snapshot). */
export const BULK_PAGE = 200;
/**
 * Sagas acted on at once, between two progress writes: the chunk recorded as in flight, which a job resumed after a
 * crash settles from the audit (BulkJobStore.actedOn).
 */
export const BULK_CHUNK = 10;

/** Sagas of a chunk acted on at once: a bulk job leaves the connection pool to the API and the agents. */
export const BULK_PARALLEL = 4;

const AUDIT_ACTION: Record<BulkAction, AuditAction> = {
  [BulkAction.RETRY]: AuditAction.RETRY,
  [BulkAction.CANCEL]: AuditAction.CANCEL,
  [BulkAction.RESOLVE]: AuditAction.RESOLVE_COMPENSATION,
};

type Outcome = { kind: 'done' } | { kind: 'skipped' } | { kind: 'failed'; error: BulkJobError };

/**
 * Works through the bulk jobs (`saga_bulk_job`), one at a time per supervisor, any number of supervisors at once.
 *
 * A job is claimed with a lease (`FOR UPDATE SKIP LOCKED`), then its sagas are read oldest first in pages, by
 * keyset over (created_at, id) and bounded by the job's snapshot (sagas created after it was asked for are not
 * swept in), and acted on in chunks of BULK_CHUNK (BULK_PARALLEL at once) through OperatorActions.perform: the very compare-and-set and
 * audit of `POST /v1/sagas/{id}/retry` (or cancel, resolve), in the name of the key that asked, with the job's
 * reason, its audit row naming the job. Each chunk is recorded as in flight before it is acted on, and after it
 * one statement moves the counters, the position and the lease on.
 *
 * A supervisor killed mid-chunk: once its lease ran out another claims the job, settles the chunk in flight (the
 * sagas the dead one acted on are found in the audit, whose rows name the job, and counted, not acted on again; the
 * others are acted on), and goes on from there. A saga that changed meanwhile (retried by hand, finished) answers 409 and is skipped: the action
 * is compare-and-set, never "whatever the state".
 */
@Injectable()
export class BulkJobRunner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('BulkJobs');
  private readonly owner = `bulk-${randomUUID()}`;
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly jobs: BulkJobStore,
    private readonly queries: SagaQueries,
    private readonly actions: OperatorActions,
    @Inject(SUPERVISOR_OPTIONS) private readonly options: SupervisorOptions,
    private readonly metrics: EngineMetrics,
  ) {}

  private get leaseMs(): number {
    return Math.max(5_000, 5 * this.options.intervalMs);
  }

  onApplicationBootstrap(): void {
    this.schedule(0);
  }

  /** Stops after the chunk in progress and gives its job back, so that another supervisor resumes it at once. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick().then((again) => this.schedule(again ? 0 : this.options.intervalMs));
    }, delayMs);
    this.timer.unref?.();
  }

  /** Claims a job and runs it; true when there may be another one waiting. */
  async tick(): Promise<boolean> {
    let job: BulkJob | null = null;
    try {
      job = await this.jobs.claim(this.owner, this.leaseMs);
      if (!job) return false;
      this.logger.log(
        `bulk job ${job.id}: ${job.action} of ${job.matched} sagas, from ${job.done + job.skipped + job.failed}`,
      );
      await this.run(job);
      return !this.stopped;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // PostgreSQL or Redis away is not the job's fault (the DependencyMonitor reports outages): the job is given
      // back and resumed when they are, never FAILED by an outage, nor logged once a sweep.
      const away = unavailability(error) !== null;
      if (job && away) {
        this.logger.debug(`bulk job ${job.id} given back, a dependency is away: ${message}`);
        await this.jobs.release(job.id, this.owner).catch(() => undefined);
      } else if (job) {
        this.logger.warn(`bulk job ${job.id} failed its run (tried again at the next sweep): ${message}`);
        await this.jobs.runFailed(job.id, this.owner, message).catch(() => undefined);
      } else if (!away) {
        this.logger.warn(`bulk jobs: claim failed: ${message}`);
      }
      return false;
    }
  }

  /** One job, from its position to its end (or until cancelled, lost, or this process stops). */
  async run(job: BulkJob): Promise<void> {
    // A chunk in flight when the job's last supervisor died: settled first, from the audit. Its sagas may no longer
    // match the filter (a retried saga is no longer FAILED), so the keyset read below would not see them again.
    if (job.inflight.length > 0 && !(await this.chunk(job, job.inflight, true))) return;
    const filter = sagaFilterOf(job);
    let cursor = job.inflight.length > 0 ? job.inflight[job.inflight.length - 1] : job.cursor;
    for (;;) {
      const page = await this.queries.matchingPage(filter, job.snapshotAt, cursor, BULK_PAGE);
      if (page.length === 0) {
        if (await this.jobs.complete(job.id, this.owner)) this.logger.log(`bulk job ${job.id} completed`);
        return;
      }
      for (let i = 0; i < page.length; i += BULK_CHUNK) {
        if (this.stopped) {
          await this.jobs.release(job.id, this.owner);
          return;
        }
        const chunk = page.slice(i, i + BULK_CHUNK);
        if (!(await this.chunk(job, chunk, false))) return;
        cursor = chunk[chunk.length - 1];
      }
    }
  }

  /**
   * Acts on one chunk: recorded as in flight first, then each saga at once, then the counters and the position in
   * one statement. `resumed`: the chunk was in flight at a crash, and the sagas the audit shows acted on are
   * counted, not acted on again. False: stop (cancelled, or the job is no longer this supervisor's).
   */
  private async chunk(job: BulkJob, chunk: { createdAt: string; id: string }[], resumed: boolean): Promise<boolean> {
    if (!resumed && !(await this.jobs.begin(job.id, this.owner, this.leaseMs, chunk))) {
      this.logger.log(`bulk job ${job.id} stopped (cancelled, or taken over)`);
      return false;
    }
    const ids = chunk.map((s) => s.id);
    const acted = resumed ? await this.jobs.actedOn(job.id, ids) : new Map<string, number>();
    const outcomes = await mapLimited(ids, BULK_PARALLEL, (id) => {
      const status = acted.get(id);
      if (status === undefined) return this.act(job, id);
      return Promise.resolve<Outcome>(status === 202 ? { kind: 'done' } : { kind: 'skipped' });
    });
    const delta = { done: 0, skipped: 0, failed: 0, errors: [] as BulkJobError[] };
    for (const outcome of outcomes) {
      delta[outcome.kind] += 1;
      if (outcome.kind === 'failed') delta.errors.push(outcome.error);
    }
    const { running } = await this.jobs.progress(job.id, this.owner, this.leaseMs, delta, chunk[chunk.length - 1]);
    for (const outcome of ['done', 'skipped', 'failed'] as const) {
      if (delta[outcome] > 0) this.metrics.bulkSagas.inc({ action: job.action, outcome }, delta[outcome]);
    }
    if (!running) this.logger.log(`bulk job ${job.id} stopped (cancelled, or taken over)`);
    return running;
  }

  /**
   * One saga: accepted (done), no longer in a state for it or gone (skipped: 409 INVALID_STATE, 404), refused
   * otherwise (failed: the version has no live agent, the step does not exist). Anything but a 4xx answer (the
   * database is away) is thrown: the run stops and is tried again from the last position.
   */
  private async act(job: BulkJob, sagaId: string): Promise<Outcome> {
    try {
      await this.actions.perform({
        action: AUDIT_ACTION[job.action],
        sagaId,
        step: job.step,
        reason: job.reason,
        principal: { name: job.requestedBy, role: job.requestedRole as 'viewer' | 'operator' | 'admin' },
        bulkJobId: job.id,
      });
      return { kind: 'done' };
    } catch (error) {
      // Not an answer about this saga (the database is away, a bug): the run fails, resumed from its position.
      if (!(error instanceof ApiError) || error.getStatus() >= 500) throw error;
      const status = error.getStatus();
      if (status === 404 && error.code === 'SAGA_NOT_FOUND') return { kind: 'skipped' };
      if (status === 409 && error.code === 'INVALID_STATE') return { kind: 'skipped' };
      return { kind: 'failed', error: { sagaId, status, code: error.code, message: error.message } };
    }
  }
}

/** `fn` over `items`, at most `limit` at a time, the results in order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
