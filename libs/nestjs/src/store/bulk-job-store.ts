import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { SagaStatus } from '@saga-engine/core';
import { SAGA_DATA_SOURCE } from './data-source';
import { AUDIT_ROW_COLUMNS, type AuditRecord, auditRow } from './saga-audit';
import type { SagaFilter } from './saga-queries';

/** What a bulk job does to each saga. Persisted (`saga_bulk_job.action`): renaming one needs a migration. */
export const BulkAction = {
  RETRY: 'retry',
  CANCEL: 'cancel',
  /** Resolve the failed compensation of one named step (`step`), as `POST /v1/sagas/{id}/steps/{step}/resolve`. */
  RESOLVE: 'resolve',
} as const;
export type BulkAction = (typeof BulkAction)[keyof typeof BulkAction];

/** Persisted (`saga_bulk_job.status`): renaming one needs a migration. */
export const BulkJobStatus = {
  /** Asked for; no supervisor has taken it yet. */
  PENDING: 'PENDING',
  /** A supervisor works through it (or did, and another takes it over when its lease runs out). */
  RUNNING: 'RUNNING',
  /** Every matching saga was acted on (some may have been skipped or failed: see the counters). */
  COMPLETED: 'COMPLETED',
  /** Stopped by an operator: the sagas acted on before stay so, the others are left alone. */
  CANCELLED: 'CANCELLED',
  /**
   * The job itself could not go on (its run failed `MAX_JOB_ATTEMPTS` times in a row, not counting PostgreSQL or
   * Redis being away): `lastError` says why.
   */
  FAILED: 'FAILED',
} as const;
export type BulkJobStatus = (typeof BulkJobStatus)[keyof typeof BulkJobStatus];

/** A job's filter as stored (dates as ISO strings). */
export interface StoredBulkFilter {
  type?: string;
  status?: SagaStatus[];
  createdAfter?: string;
  createdBefore?: string;
}

/** One saga the job could not act on, for the job's error sample. */
export interface BulkJobError {
  sagaId: string;
  status: number;
  code: string;
  message: string;
}

export interface BulkJob {
  id: string;
  action: BulkAction;
  step: string | null;
  filter: StoredBulkFilter;
  /** The types the requesting key was limited to, or null (every type). */
  types: string[] | null;
  reason: string;
  requestedBy: string;
  requestedRole: string;
  cap: number;
  matched: number;
  done: number;
  skipped: number;
  failed: number;
  errors: BulkJobError[];
  status: BulkJobStatus;
  snapshotAt: Date;
  cursor: { createdAt: string; id: string } | null;
  /** The chunk being acted on when the job was last claimed: settled first when a job is resumed. */
  inflight: { createdAt: string; id: string }[];
  attempts: number;
  lastError: string | null;
  cancelledBy: string | null;
  cancelReason: string | null;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
}

/** At most this many per-saga failures are kept with a job (its counters count them all). */
export const MAX_JOB_ERRORS = 20;
/** A job whose run fails this many times in a row (not a saga's action: the job's own queries) is FAILED. */
export const MAX_JOB_ATTEMPTS = 5;

/** The filter of a job as the saga queries take it. */
export function sagaFilterOf(job: Pick<BulkJob, 'filter' | 'types'>): SagaFilter {
  return {
    type: job.filter.type,
    statuses: job.filter.status,
    createdAfter: job.filter.createdAfter ? new Date(job.filter.createdAfter) : undefined,
    createdBefore: job.filter.createdBefore ? new Date(job.filter.createdBefore) : undefined,
    ...(job.types ? { types: job.types } : {}),
  };
}

const COLUMNS = `id, action, step, filter, types, reason, requested_by, requested_role, cap, matched, done, skipped,
  failed, errors, status, snapshot_at, cursor_ts::text AS cursor_ts, cursor_id, inflight, attempts, last_error,
  cancelled_by, cancel_reason, created_at, updated_at, finished_at`;

/**
 * The bulk jobs (`saga_bulk_job`): PostgreSQL is their only record. Every change is one conditional statement, so
 * that a cancel and the supervisor working on the job never overwrite each other, and a supervisor that lost its
 * claim (its lease ran out, another took over) writes nothing more. (Each statement that reads what it changed ends
 * in a SELECT: TypeORM answers a top-level UPDATE with [rows, count], not rows.)
 */
@Injectable()
export class BulkJobStore {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  /**
   * Counts the sagas `filter` matches up to now (the database's clock: the job's snapshot), then writes the job with
   * that count and its audit row in one statement, unless the count is over `cap`: then nothing is written and
   * `created` is null.
   */
  async create(input: {
    action: BulkAction;
    step: string | null;
    filter: StoredBulkFilter;
    types: string[] | null;
    reason: string;
    requestedBy: string;
    requestedRole: string;
    cap: number;
    count: (until: Date) => Promise<number>;
    /** The job's `bulk-start` audit row, but its detail (which names the job): written in the same statement. */
    audit: AuditRecord;
    /** The audit row's detail, given the job's id and the count. */
    detail: (id: string, matched: number) => string;
  }): Promise<{ matched: number; created: BulkJob | null }> {
    // The snapshot bound is the database's clock, as created_at is: sagas that start after it are not swept in.
    const [{ now }] = await this.db.query<{ now: Date }[]>(`SELECT clock_timestamp() AS now`);
    const matched = await input.count(now);
    if (matched > input.cap) return { matched, created: null };
    const id = randomUUID();
    const audit = { ...input.audit, sagaId: null, detail: input.detail(id, matched) };
    // The job and its audit row commit together: no job without its row, no row without its job.
    const rows = await this.db.query<JobRow[]>(
      `WITH job AS (
         INSERT INTO saga_bulk_job (id, action, step, filter, types, reason, requested_by, requested_role, cap, matched,
                                    snapshot_at, status, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::int, $11,
                 CASE WHEN $10::int = 0 THEN 'COMPLETED' ELSE 'PENDING' END, CASE WHEN $10::int = 0 THEN now() END)
         RETURNING ${COLUMNS}),
       audit AS (
         INSERT INTO saga_audit (actor, role, action, saga_id, step, signal, reason, outcome, status_code, detail)
         SELECT a.actor, a.role, a.action, NULL, a.step, NULL, a.reason, a.outcome, a.status_code, a.detail
           FROM job, jsonb_to_record($12::jsonb) AS a(${AUDIT_ROW_COLUMNS}))
       SELECT * FROM job`,
      [
        id,
        input.action,
        input.step,
        JSON.stringify(input.filter),
        input.types,
        input.reason,
        input.requestedBy,
        input.requestedRole,
        input.cap,
        matched,
        now,
        JSON.stringify(auditRow(audit)),
      ],
    );
    return { matched, created: jobOf(rows[0]) };
  }

  async get(id: string): Promise<BulkJob | null> {
    const rows = await this.db.query<JobRow[]>(`SELECT ${COLUMNS} FROM saga_bulk_job WHERE id = $1`, [id]);
    return rows.length ? jobOf(rows[0]) : null;
  }

  /**
   * Newest first. `types`: only the jobs of keys limited to some of these types (a key limited to types sees no
   * job that could have acted on others); null: every job.
   */
  async list(limit: number, types: readonly string[] | null): Promise<BulkJob[]> {
    const rows = await this.db.query<JobRow[]>(
      `SELECT ${COLUMNS} FROM saga_bulk_job
        WHERE $1::text[] IS NULL OR (types IS NOT NULL AND types <@ $1::text[])
        ORDER BY created_at DESC, id DESC LIMIT $2`,
      [types ? [...types] : null, limit],
    );
    return rows.map(jobOf);
  }

  /**
   * PENDING or RUNNING → CANCELLED, with its accepted `bulk-stop` audit row in the same statement; null when the
   * job is not there, else the job (unchanged, nothing written, when it had ended).
   */
  async cancel(id: string, audit: AuditRecord): Promise<{ job: BulkJob; cancelled: boolean } | null> {
    const rows = await this.db.query<JobRow[]>(
      // The owner stays: its last chunk's counters still land (see progress), then it stops.
      `WITH job AS (
         UPDATE saga_bulk_job SET status = 'CANCELLED', cancelled_by = $2, cancel_reason = $3, lease_until = NULL,
                updated_at = now(), finished_at = now()
          WHERE id = $1 AND status IN ('PENDING', 'RUNNING')
          RETURNING ${COLUMNS}),
       audit AS (
         INSERT INTO saga_audit (actor, role, action, saga_id, step, signal, reason, outcome, status_code, detail)
         SELECT a.actor, a.role, a.action, NULL, a.step, NULL, a.reason, a.outcome, a.status_code, a.detail
           FROM job, jsonb_to_record($4::jsonb) AS a(${AUDIT_ROW_COLUMNS}))
       SELECT * FROM job`,
      [id, audit.actor, audit.reason, JSON.stringify(auditRow(audit))],
    );
    if (rows.length) return { job: jobOf(rows[0]), cancelled: true };
    const job = await this.get(id);
    return job ? { job, cancelled: false } : null;
  }

  /**
   * Claims the oldest open job nobody holds (PENDING, or RUNNING with its lease run out: its supervisor died), for
   * `leaseMs`, as `owner`. `FOR UPDATE SKIP LOCKED`: supervisors never claim the same job at once.
   */
  async claim(owner: string, leaseMs: number): Promise<BulkJob | null> {
    const rows = await this.db.query<JobRow[]>(
      `WITH job AS (
         UPDATE saga_bulk_job SET status = 'RUNNING', owner = $1, updated_at = now(),
                lease_until = now() + $2 * interval '1 millisecond'
          WHERE id = (SELECT id FROM saga_bulk_job
                       WHERE status IN ('PENDING', 'RUNNING') AND (lease_until IS NULL OR lease_until < now())
                       ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
          RETURNING ${COLUMNS})
       SELECT * FROM job`,
      [owner, leaseMs],
    );
    return rows.length ? jobOf(rows[0]) : null;
  }

  /**
   * Moves the job on after a chunk: the counters, the errors (the sample capped), the keyset position, and the
   * lease. `running` false: stop, the job was cancelled (the counters still land) or `owner` no longer holds it
   * (its lease ran out and another took it: nothing lands, the other one counts from the last position).
   */
  async progress(
    id: string,
    owner: string,
    leaseMs: number,
    delta: { done: number; skipped: number; failed: number; errors: BulkJobError[] },
    cursor: { createdAt: string; id: string },
  ): Promise<{ running: boolean }> {
    const rows = await this.db.query<{ status: string }[]>(
      `WITH job AS (
       UPDATE saga_bulk_job
          SET done = done + $3, skipped = skipped + $4, failed = failed + $5,
              errors = CASE WHEN jsonb_array_length(errors) >= $6 THEN errors
                            ELSE (SELECT coalesce(jsonb_agg(e), '[]') FROM (
                                    SELECT e FROM jsonb_array_elements(errors || $7::jsonb) WITH ORDINALITY AS x(e, n)
                                     ORDER BY n LIMIT $6) s) END,
              cursor_ts = $8::timestamptz, cursor_id = $9, inflight = '[]', attempts = 0, updated_at = now(),
              lease_until = CASE WHEN status = 'RUNNING' THEN now() + $10 * interval '1 millisecond' END
        WHERE id = $1 AND owner = $2 AND status IN ('RUNNING', 'CANCELLED')
        RETURNING status)
       SELECT status FROM job`,
      [
        id,
        owner,
        delta.done,
        delta.skipped,
        delta.failed,
        MAX_JOB_ERRORS,
        JSON.stringify(delta.errors),
        cursor.createdAt,
        cursor.id,
        leaseMs,
      ],
    );
    return { running: rows.length > 0 && rows[0].status === 'RUNNING' };
  }

  /**
   * Records the chunk about to be acted on (and renews the lease), before any of it is: a job resumed after a
   * crash settles that chunk first. False when `owner` no longer holds the job, or it was cancelled: stop.
   */
  async begin(
    id: string,
    owner: string,
    leaseMs: number,
    chunk: { createdAt: string; id: string }[],
  ): Promise<boolean> {
    const rows = await this.db.query<unknown[]>(
      `WITH job AS (
         UPDATE saga_bulk_job SET inflight = $3::jsonb, updated_at = now(),
                lease_until = now() + $4 * interval '1 millisecond'
          WHERE id = $1 AND owner = $2 AND status = 'RUNNING' RETURNING id)
       SELECT id FROM job`,
      [id, owner, JSON.stringify(chunk.map((s) => ({ createdAt: s.createdAt, id: s.id }))), leaseMs],
    );
    return rows.length > 0;
  }

  /** RUNNING → COMPLETED, by its owner. */
  async complete(id: string, owner: string): Promise<boolean> {
    const rows = await this.db.query<unknown[]>(
      `WITH job AS (
         UPDATE saga_bulk_job SET status = 'COMPLETED', owner = NULL, lease_until = NULL, updated_at = now(),
                finished_at = now()
          WHERE id = $1 AND owner = $2 AND status = 'RUNNING' RETURNING id)
       SELECT id FROM job`,
      [id, owner],
    );
    return rows.length > 0;
  }

  /**
   * A run of the job failed (a query, not one saga's action): counted, the claim released so that the next sweep
   * tries again; FAILED after MAX_JOB_ATTEMPTS failures in a row.
   */
  async runFailed(id: string, owner: string, error: string): Promise<void> {
    await this.db.query(
      `UPDATE saga_bulk_job SET attempts = attempts + 1, last_error = left($3, 1000), owner = NULL, lease_until = NULL,
              status = CASE WHEN attempts + 1 >= $4 THEN 'FAILED' ELSE status END,
              finished_at = CASE WHEN attempts + 1 >= $4 THEN now() END, updated_at = now()
        WHERE id = $1 AND owner = $2 AND status = 'RUNNING'`,
      [id, owner, error, MAX_JOB_ATTEMPTS],
    );
  }

  /** Gives the job back (its supervisor stops, or an outage): the next claim takes it at once, not after a lease. */
  async release(id: string, owner: string): Promise<void> {
    await this.db.query(
      `UPDATE saga_bulk_job SET owner = NULL, lease_until = NULL, updated_at = now()
        WHERE id = $1 AND owner = $2 AND status = 'RUNNING'`,
      [id, owner],
    );
  }

  /**
   * The sagas of `sagaIds` the job already acted on (accepted or refused), with the status it was answered: their
   * audit rows name the job. A job resumed after a crash finds here what it did of its in-flight chunk, and does
   * not act on those again.
   */
  async actedOn(id: string, sagaIds: string[]): Promise<Map<string, number>> {
    const rows = await this.db.query<{ saga_id: string; status_code: number }[]>(
      `SELECT DISTINCT ON (saga_id) saga_id, status_code FROM saga_audit
        WHERE saga_id = ANY($1::uuid[]) AND action IN ('retry', 'cancel', 'resolve-compensation')
          AND (detail = $2 OR detail LIKE $3)
        ORDER BY saga_id, id DESC`,
      [sagaIds, `bulk job ${id}`, `bulk job ${id}:%`],
    );
    return new Map(rows.map((r) => [r.saga_id, r.status_code]));
  }
}

interface JobRow {
  id: string;
  action: BulkAction;
  step: string | null;
  filter: StoredBulkFilter;
  types: string[] | null;
  reason: string;
  requested_by: string;
  requested_role: string;
  cap: number;
  matched: number;
  done: number;
  skipped: number;
  failed: number;
  errors: BulkJobError[];
  status: BulkJobStatus;
  snapshot_at: Date;
  cursor_ts: string | null;
  cursor_id: string | null;
  inflight: { createdAt: string; id: string }[];
  attempts: number;
  last_error: string | null;
  cancelled_by: string | null;
  cancel_reason: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

function jobOf(r: JobRow): BulkJob {
  return {
    id: r.id,
    action: r.action,
    step: r.step,
    filter: r.filter,
    types: r.types,
    reason: r.reason,
    requestedBy: r.requested_by,
    requestedRole: r.requested_role,
    cap: r.cap,
    matched: r.matched,
    done: r.done,
    skipped: r.skipped,
    failed: r.failed,
    errors: r.errors,
    status: r.status,
    snapshotAt: r.snapshot_at,
    cursor: r.cursor_ts && r.cursor_id ? { createdAt: r.cursor_ts, id: r.cursor_id } : null,
    inflight: r.inflight,
    attempts: r.attempts,
    lastError: r.last_error,
    cancelledBy: r.cancelled_by,
    cancelReason: r.cancel_reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}
