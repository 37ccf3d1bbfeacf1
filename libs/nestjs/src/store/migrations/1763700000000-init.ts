import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The schema of record. Status values are persisted names (see libs/engine/src/status.ts): changing them needs a
 * new migration. Hand-written on purpose: the CHECK constraints and partial indexes are part of the design.
 */
export class Init1763700000000 implements MigrationInterface {
  name = 'Init1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE saga_instance (
        id                 uuid PRIMARY KEY,
        type               text NOT NULL,
        definition_version integer NOT NULL,
        status             text NOT NULL CHECK (status IN
                             ('RUNNING','COMPENSATING','COMPLETED','COMPENSATED','CANCELLED','FAILED')),
        version            integer NOT NULL,
        input              jsonb NOT NULL,
        output             jsonb,
        error              jsonb,
        cancel_requested   boolean NOT NULL DEFAULT false,
        event_count        integer NOT NULL DEFAULT 0,
        idempotency_key    text,
        request_hash       text NOT NULL,
        created_at         timestamptz NOT NULL DEFAULT now(),
        updated_at         timestamptz NOT NULL DEFAULT now(),
        completed_at       timestamptz
      )`);
    await q.query(
      `CREATE UNIQUE INDEX saga_instance_idempotency_key ON saga_instance (idempotency_key) WHERE idempotency_key IS NOT NULL`,
    );
    // Keyset pagination for GET /v1/sagas, newest first, with and without the common filters.
    await q.query(`CREATE INDEX saga_instance_created ON saga_instance (created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX saga_instance_status_created ON saga_instance (status, created_at DESC, id DESC)`);
    await q.query(`CREATE INDEX saga_instance_type_created ON saga_instance (type, created_at DESC, id DESC)`);

    await q.query(`
      CREATE TABLE saga_step (
        saga_id            uuid NOT NULL REFERENCES saga_instance (id) ON DELETE CASCADE,
        name               text NOT NULL,
        position           integer NOT NULL,
        status             text NOT NULL CHECK (status IN ('PENDING','SCHEDULED','RUNNING','RETRYING','SUCCEEDED',
                             'FAILED','SKIPPED','WAITING','COMPENSATING','COMPENSATED','COMPENSATION_FAILED')),
        attempt            integer NOT NULL DEFAULT 0,
        attempt_base       integer NOT NULL DEFAULT 0,
        output             jsonb,
        error              jsonb,
        outcome_unknown    boolean NOT NULL DEFAULT false,
        comp_status        text CHECK (comp_status IN ('SCHEDULED','RUNNING','RETRYING','SUCCEEDED','FAILED','RESOLVED')),
        comp_attempt       integer NOT NULL DEFAULT 0,
        comp_attempt_base  integer NOT NULL DEFAULT 0,
        comp_error         jsonb,
        -- The outbox: while an attempt (of the action or of its compensation) is in flight, when it is due and
        -- by when it must have reported. The supervisor sweeps deadline_at.
        due_at             timestamptz,
        deadline_at        timestamptz,
        started_at         timestamptz,
        finished_at        timestamptz,
        comp_started_at    timestamptz,
        comp_finished_at   timestamptz,
        PRIMARY KEY (saga_id, name)
      )`);
    await q.query(`CREATE INDEX saga_step_deadline ON saga_step (deadline_at) WHERE deadline_at IS NOT NULL`);

    await q.query(`
      CREATE TABLE saga_event (
        saga_id  uuid NOT NULL REFERENCES saga_instance (id) ON DELETE CASCADE,
        seq      integer NOT NULL,
        type     text NOT NULL,
        step     text,
        attempt  integer,
        data     jsonb,
        at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (saga_id, seq)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE saga_event`);
    await q.query(`DROP TABLE saga_step`);
    await q.query(`DROP TABLE saga_instance`);
  }
}
