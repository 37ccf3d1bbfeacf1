import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Composition in time: durable timers, delayed starts and schedules.
 *
 * - `saga_step.status` may be `SLEEPING`: a sleep step whose timer is the row's `deadline_at` (database clock). The
 *   supervisor sweeps it through the existing partial index on `deadline_at`, as it sweeps deadlines: a pending
 *   timer costs one index entry and nothing in any process.
 * - `saga_instance.status` may be `DELAYED`, with `start_at` (when it starts) and `start_lease_until` (a
 *   supervisor's claim, as `saga_step.lease_until`); the partial index holds only the DELAYED rows.
 * - `saga_schedule`: a cron expression in a time zone that starts a saga type with an input; `next_fire_at` is the
 *   next tick, swept through a partial index (paused schedules are not in it). `saga_schedule_run`: one row per
 *   tick handled (started, skipped or buffered), with the saga it started. Each tick's saga has the idempotency key
 *   `schedule:<id>:<tick>`, so with any number of orchestrators a tick starts at most one saga.
 * - `saga_schedule_audit`: every change of a schedule, with who and why; append-only like `saga_audit` (the same
 *   trigger function), and no foreign key, so it outlives the schedule.
 *
 * Persisted names (statuses, `overlap`, `catch_up`, `outcome`, `action`) are part of the API: renaming one needs a
 * migration.
 */
export class TimersAndSchedules1765200000000 implements MigrationInterface {
  name = 'TimersAndSchedules1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_step DROP CONSTRAINT IF EXISTS saga_step_status_check`);
    await q.query(`
      ALTER TABLE saga_step ADD CONSTRAINT saga_step_status_check CHECK (status IN ('PENDING','SCHEDULED','RUNNING',
        'RETRYING','SUCCEEDED','FAILED','SKIPPED','WAITING','SLEEPING','COMPENSATING','COMPENSATED',
        'COMPENSATION_FAILED'))`);
    await q.query(`ALTER TABLE saga_instance DROP CONSTRAINT IF EXISTS saga_instance_status_check`);
    await q.query(`
      ALTER TABLE saga_instance ADD CONSTRAINT saga_instance_status_check CHECK (status IN
        ('RUNNING','COMPENSATING','COMPLETED','COMPENSATED','CANCELLED','FAILED','DELAYED'))`);
    await q.query(
      `ALTER TABLE saga_instance ADD COLUMN start_at timestamptz, ADD COLUMN start_lease_until timestamptz`,
    );
    await q.query(`CREATE INDEX saga_instance_start_due ON saga_instance (start_at) WHERE status = 'DELAYED'`);

    await q.query(`
      CREATE TABLE saga_schedule (
        id                uuid PRIMARY KEY,
        saga_type         text NOT NULL,
        input             jsonb NOT NULL,
        cron              text NOT NULL,
        time_zone         text NOT NULL,
        overlap           text NOT NULL CHECK (overlap IN ('skip','allow','buffer')),
        catch_up          text NOT NULL CHECK (catch_up IN ('none','last','all')),
        catch_up_limit    integer NOT NULL CHECK (catch_up_limit BETWEEN 1 AND 1000),
        description       text,
        paused            boolean NOT NULL DEFAULT false,
        -- The next tick not yet handled; NULL while paused.
        next_fire_at      timestamptz,
        -- A tick held back by overlap 'buffer' while the previous run is active.
        buffered_tick     timestamptz,
        -- The saga of the last tick started, for the overlap policy.
        last_saga_id      uuid,
        -- A supervisor's claim, as saga_step.lease_until.
        lease_until       timestamptz,
        -- Bumped by every change (API or sweep): the compare-and-set of both.
        revision          integer NOT NULL DEFAULT 1,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX saga_schedule_due ON saga_schedule (next_fire_at) WHERE NOT paused`);
    await q.query(
      `CREATE INDEX saga_schedule_buffered ON saga_schedule (buffered_tick) WHERE buffered_tick IS NOT NULL AND NOT paused`,
    );
    await q.query(`CREATE INDEX saga_schedule_created ON saga_schedule (created_at DESC, id DESC)`);
    await q.query(`
      CREATE TABLE saga_schedule_run (
        schedule_id  uuid NOT NULL REFERENCES saga_schedule (id) ON DELETE CASCADE,
        tick         timestamptz NOT NULL,
        outcome      text NOT NULL CHECK (outcome IN ('started','skipped','buffered','failed')),
        saga_id      uuid,
        detail       text,
        at           timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (schedule_id, tick)
      )`);
    await q.query(`CREATE INDEX saga_schedule_run_recent ON saga_schedule_run (schedule_id, at DESC)`);
    await q.query(`
      CREATE TABLE saga_schedule_audit (
        id           bigserial PRIMARY KEY,
        at           timestamptz NOT NULL DEFAULT now(),
        actor        text NOT NULL,
        role         text NOT NULL,
        action       text NOT NULL CHECK (action IN ('create','update','pause','resume','delete')),
        schedule_id  uuid NOT NULL,
        reason       text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 500),
        detail       jsonb
      )`);
    await q.query(`CREATE INDEX saga_schedule_audit_schedule ON saga_schedule_audit (schedule_id, id DESC)`);
    await q.query(`
      CREATE TRIGGER saga_schedule_audit_no_rewrite BEFORE UPDATE OR DELETE OR TRUNCATE ON saga_schedule_audit
        FOR EACH STATEMENT EXECUTE FUNCTION saga_audit_append_only()`);
    await q.query(`REVOKE UPDATE, DELETE, TRUNCATE ON saga_schedule_audit FROM PUBLIC`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE saga_schedule_audit`);
    await q.query(`DROP TABLE saga_schedule_run`);
    await q.query(`DROP TABLE saga_schedule`);
    await q.query(`DROP INDEX saga_instance_start_due`);
    await q.query(`ALTER TABLE saga_instance DROP COLUMN start_at, DROP COLUMN start_lease_until`);
    await q.query(`ALTER TABLE saga_instance DROP CONSTRAINT saga_instance_status_check`);
    await q.query(`
      ALTER TABLE saga_instance ADD CONSTRAINT saga_instance_status_check CHECK (status IN
        ('RUNNING','COMPENSATING','COMPLETED','COMPENSATED','CANCELLED','FAILED'))`);
    await q.query(`ALTER TABLE saga_step DROP CONSTRAINT saga_step_status_check`);
    await q.query(`
      ALTER TABLE saga_step ADD CONSTRAINT saga_step_status_check CHECK (status IN ('PENDING','SCHEDULED','RUNNING',
        'RETRYING','SUCCEEDED','FAILED','SKIPPED','WAITING','COMPENSATING','COMPENSATED','COMPENSATION_FAILED'))`);
  }
}
