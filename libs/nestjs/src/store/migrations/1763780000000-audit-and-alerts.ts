import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The operator audit log and the alert outbox.
 *
 * `saga_audit` is append-only in the database itself: statement-level triggers raise on UPDATE, DELETE and
 * TRUNCATE, so not even a bug in the engine can rewrite who did what. (A superuser can still disable a trigger;
 * production runs the engine as a role that owns neither the table nor the trigger.) It has no foreign key to
 * saga_instance: refused actions name sagas that do not exist, and the audit outlives the sagas it names.
 *
 * `saga_alert` is an outbox: a row is written in the same statement as the transition that made a saga FAILED,
 * and the orchestrator's sender claims and posts it later, so a crash between the two loses no alert.
 * Persisted names (`action`, `outcome`) are part of the audit API: renaming one needs a new migration.
 */
export class AuditAndAlerts1763780000000 implements MigrationInterface {
  name = 'AuditAndAlerts1763780000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE saga_audit (
        id           bigserial PRIMARY KEY,
        at           timestamptz NOT NULL DEFAULT now(),
        actor        text NOT NULL,
        role         text NOT NULL,
        action       text NOT NULL CHECK (action IN ('cancel','retry','resolve-compensation')),
        saga_id      uuid NOT NULL,
        step         text,
        reason       text NOT NULL CHECK (char_length(reason) <= 500),
        outcome      text NOT NULL CHECK (outcome IN ('accepted','refused')),
        status_code  integer NOT NULL,
        detail       text,
        -- An accepted action always carries a real reason; only a refusal (e.g. by role) may come without one.
        CHECK (outcome = 'refused' OR char_length(reason) > 0)
      )`);
    await q.query(`CREATE INDEX saga_audit_saga ON saga_audit (saga_id, id DESC)`);
    await q.query(`
      CREATE FUNCTION saga_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'saga_audit is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
      END
      $$`);
    // Statement-level, so that even an UPDATE or DELETE matching no row is refused.
    await q.query(`
      CREATE TRIGGER saga_audit_no_rewrite BEFORE UPDATE OR DELETE OR TRUNCATE ON saga_audit
        FOR EACH STATEMENT EXECUTE FUNCTION saga_audit_append_only()`);

    await q.query(`
      CREATE TABLE saga_alert (
        id               bigserial PRIMARY KEY,
        saga_id          uuid NOT NULL REFERENCES saga_instance (id) ON DELETE CASCADE,
        saga_type        text NOT NULL,
        error            jsonb,
        raised_at        timestamptz NOT NULL DEFAULT now(),
        -- Delivery attempts so far; also the fencing token of the sender that claimed the row last.
        attempts         integer NOT NULL DEFAULT 0,
        -- When a sender may claim it next (a claim pushes it forward by a lease); NULL once given up.
        next_attempt_at  timestamptz DEFAULT now(),
        delivered_at     timestamptz,
        -- The webhook's origin it was posted to, or NULL when no webhook is configured (logged only).
        delivered_to     text,
        last_error       text
      )`);
    await q.query(
      `CREATE INDEX saga_alert_pending ON saga_alert (next_attempt_at, id) WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL`,
    );
    await q.query(`CREATE INDEX saga_alert_saga ON saga_alert (saga_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE saga_alert`);
    await q.query(`DROP TABLE saga_audit`);
    await q.query(`DROP FUNCTION saga_audit_append_only()`);
  }
}
