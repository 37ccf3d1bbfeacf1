import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Bulk actions (issue 19, item 3): retry, cancel or resolve every saga a filter matches, as a durable job.
 *
 * - `saga_bulk_job`: one row per job, PostgreSQL its only record (Redis carries nothing of it). `filter` is the
 *   filter of `GET /v1/sagas` (type, statuses, created range) and `types` the types the requesting key is limited
 *   to (NULL: every type). `snapshot_at` bounds the sweep: only sagas created at or before it are acted on, so a
 *   saga started after the job was asked for is never swept in. `cursor_ts`/`cursor_id` is the keyset position
 *   (created_at, id) of the last saga acted on, moved with the counters in one statement after each chunk: a job
 *   resumes there after a crash. `inflight` is the chunk being acted on (written before, cleared with the counters):
 *   a job resumed after a crash settles it first (its sagas acted on are found in the audit, whose rows name the
 *   job), since those sagas may no longer match the filter (a retried saga is no longer FAILED). `owner`/`lease_until` is the claim of the supervisor that runs it (another takes it
 *   over when the lease ran out). `errors` holds a sample of the per-saga failures (at most 20).
 * - `saga_audit`: a job's start and stop are audited too (actions `bulk-start`, `bulk-stop`), with no saga: those
 *   rows have `saga_id` NULL, and only those. Each saga the job acts on gets the ordinary row of its action.
 *
 * Persisted names (`action`, `status`, the audit actions) are part of the API: renaming one needs a migration.
 */
export class BulkJobs1766400000000 implements MigrationInterface {
  name = 'BulkJobs1766400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE saga_bulk_job (
        id             uuid PRIMARY KEY,
        action         text NOT NULL CHECK (action IN ('retry','cancel','resolve')),
        step           text CHECK (char_length(step) <= 64),
        filter         jsonb NOT NULL,
        types          text[],
        reason         text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
        requested_by   text NOT NULL,
        requested_role text NOT NULL,
        cap            integer NOT NULL CHECK (cap > 0),
        matched        integer NOT NULL CHECK (matched >= 0),
        done           integer NOT NULL DEFAULT 0,
        skipped        integer NOT NULL DEFAULT 0,
        failed         integer NOT NULL DEFAULT 0,
        errors         jsonb NOT NULL DEFAULT '[]',
        status         text NOT NULL DEFAULT 'PENDING'
                       CHECK (status IN ('PENDING','RUNNING','COMPLETED','CANCELLED','FAILED')),
        snapshot_at    timestamptz NOT NULL,
        cursor_ts      timestamptz,
        cursor_id      uuid,
        inflight       jsonb NOT NULL DEFAULT '[]',
        owner          text,
        lease_until    timestamptz,
        attempts       integer NOT NULL DEFAULT 0,
        last_error     text,
        cancelled_by   text,
        cancel_reason  text CHECK (char_length(cancel_reason) <= 500),
        created_at     timestamptz NOT NULL DEFAULT now(),
        updated_at     timestamptz NOT NULL DEFAULT now(),
        finished_at    timestamptz,
        CHECK ((action = 'resolve') = (step IS NOT NULL))
      )`);
    await q.query(`CREATE INDEX saga_bulk_job_created ON saga_bulk_job (created_at DESC, id DESC)`);
    await q.query(
      `CREATE INDEX saga_bulk_job_open ON saga_bulk_job (created_at) WHERE status IN ('PENDING','RUNNING')`,
    );

    await q.query(`ALTER TABLE saga_audit ALTER COLUMN saga_id DROP NOT NULL`);
    await q.query(`ALTER TABLE saga_audit DROP CONSTRAINT IF EXISTS saga_audit_action_check`);
    await q.query(`
      ALTER TABLE saga_audit ADD CONSTRAINT saga_audit_action_check
        CHECK (action IN ('cancel','retry','resolve-compensation','signal','retry-from-step','skip-step','bulk-start',
          'bulk-stop'))`);
    await q.query(`
      ALTER TABLE saga_audit ADD CONSTRAINT saga_audit_bulk_saga_check
        CHECK ((action IN ('bulk-start','bulk-stop')) = (saga_id IS NULL))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE saga_bulk_job`);
    await q.query(`ALTER TABLE saga_audit DROP CONSTRAINT saga_audit_bulk_saga_check`);
    await q.query(`ALTER TABLE saga_audit DROP CONSTRAINT saga_audit_action_check`);
    await q.query(`
      ALTER TABLE saga_audit ADD CONSTRAINT saga_audit_action_check
        CHECK (action IN ('cancel','retry','resolve-compensation','signal','retry-from-step','skip-step'))`);
  }
}
