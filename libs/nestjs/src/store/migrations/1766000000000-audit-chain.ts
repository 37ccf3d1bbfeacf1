import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A tamper-evident audit log (issue 18): every `saga_audit` row carries the hash of the row before it.
 *
 * - `chain_seq`: the row's position in the chain (1, 2, 3, ... without gaps); `prev_hash`: the hash of the row at
 *   the position before (32 zero bytes for the first); `hash`: sha256(prev_hash || canonical content). The
 *   canonical content is `saga-audit-v1;` then each field as `<UTF-8 byte length>:<text>;` (`-;` for NULL), in the
 *   order chain_seq, id, at (UTC, microseconds, `YYYY-MM-DDTHH:MM:SS.ffffffZ`), actor, role, action, saga_id, step,
 *   signal, reason, outcome, status_code, detail. AuditLog.verify computes the same in the engine, independently.
 * - `saga_audit_chain`: one row, the chain's head (its last position, hash and row id). A BEFORE INSERT trigger
 *   locks it (`SELECT ... FOR UPDATE`), links the new row after it and moves it on, so inserts of concurrent
 *   transactions queue on that row and always form one chain, in commit order; a rolled-back insert takes its link
 *   back with it. Whatever the inserting statement says for chain_seq, prev_hash and hash is overwritten.
 * - The trigger function is SECURITY DEFINER (it runs as the migrations' owner, with a fixed search_path): the
 *   engine's least-privilege role may only read the head, never move it, and cannot write a hash of its own.
 * - `signal` and the action `signal`: delivered signals are audited like the operator actions (accepted and
 *   refused); a signal has no reason, so an accepted one may come without.
 *
 * Rows written before this migration are linked here, in id order.
 */
export class AuditChain1766000000000 implements MigrationInterface {
  name = 'AuditChain1766000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE saga_audit ADD COLUMN signal text CHECK (char_length(signal) <= 100),
        ADD COLUMN chain_seq bigint, ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea`);
    await q.query(`ALTER TABLE saga_audit DROP CONSTRAINT IF EXISTS saga_audit_action_check`);
    await q.query(`
      ALTER TABLE saga_audit ADD CONSTRAINT saga_audit_action_check
        CHECK (action IN ('cancel','retry','resolve-compensation','signal'))`);
    await q.query(`ALTER TABLE saga_audit DROP CONSTRAINT IF EXISTS saga_audit_check`);
    await q.query(`
      ALTER TABLE saga_audit ADD CONSTRAINT saga_audit_check
        CHECK (outcome = 'refused' OR action = 'signal' OR char_length(reason) > 0)`);
    await q.query(`
      ALTER TABLE saga_audit ADD CONSTRAINT saga_audit_signal_action_check
        CHECK ((action = 'signal') = (signal IS NOT NULL))`);

    await q.query(`
      CREATE TABLE saga_audit_chain (
        only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        seq       bigint NOT NULL,
        hash      bytea NOT NULL,
        last_id   bigint
      )`);
    await q.query(`REVOKE ALL ON saga_audit_chain FROM PUBLIC`);
    // The hash of one row after `prev`: the canonical content above. Used by the trigger and the backfill below.
    await q.query(`
      CREATE FUNCTION saga_audit_row_hash(prev bytea, r saga_audit) RETURNS bytea
        LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT sha256(prev || convert_to('saga-audit-v1;' || (
          SELECT string_agg(CASE WHEN f IS NULL THEN '-;'
                                 ELSE octet_length(convert_to(f, 'UTF8'))::text || ':' || f || ';' END, '' ORDER BY n)
            FROM unnest(ARRAY[
              r.chain_seq::text, r.id::text, to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
              r.actor, r.role, r.action, r.saga_id::text, r.step, r.signal, r.reason, r.outcome,
              r.status_code::text, r.detail]) WITH ORDINALITY AS x(f, n)), 'UTF8'))
      $$`);
    await q.query(`
      CREATE FUNCTION saga_audit_chain_link() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        head_seq bigint;
        head_hash bytea;
      BEGIN
        EXECUTE format('SELECT seq, hash FROM %I.saga_audit_chain FOR UPDATE', TG_TABLE_SCHEMA)
          INTO head_seq, head_hash;
        IF head_seq IS NULL THEN
          RAISE EXCEPTION 'saga_audit_chain has no head row' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        NEW.chain_seq := head_seq + 1;
        NEW.prev_hash := head_hash;
        NEW.hash := NULL;
        EXECUTE format('SELECT %I.saga_audit_row_hash($1, $2)', TG_TABLE_SCHEMA) INTO NEW.hash USING head_hash, NEW;
        EXECUTE format('UPDATE %I.saga_audit_chain SET seq = $1, hash = $2, last_id = $3', TG_TABLE_SCHEMA)
          USING NEW.chain_seq, NEW.hash, NEW.id;
        RETURN NEW;
      END
      $$`);
    await q.query(`REVOKE ALL ON FUNCTION saga_audit_row_hash(bytea, saga_audit) FROM PUBLIC`);

    // Link the rows written so far, in id order (the append-only trigger stops UPDATE, even the owner's: lifted
    // for this transaction only).
    await q.query(`ALTER TABLE saga_audit DISABLE TRIGGER saga_audit_no_rewrite`);
    await q.query(`
      DO $$
      DECLARE
        r saga_audit;
        n bigint := 0;
        h bytea := decode(repeat('00', 32), 'hex');
        last bigint;
      BEGIN
        FOR r IN SELECT * FROM saga_audit ORDER BY id LOOP
          n := n + 1;
          r.chain_seq := n;
          r.prev_hash := h;
          h := saga_audit_row_hash(h, r);
          UPDATE saga_audit SET chain_seq = n, prev_hash = r.prev_hash, hash = h WHERE id = r.id;
          last := r.id;
        END LOOP;
        INSERT INTO saga_audit_chain (seq, hash, last_id) VALUES (n, h, last);
      END
      $$`);
    await q.query(`ALTER TABLE saga_audit ENABLE TRIGGER saga_audit_no_rewrite`);
    await q.query(`ALTER TABLE saga_audit ALTER COLUMN chain_seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL,
      ALTER COLUMN hash SET NOT NULL`);
    await q.query(`CREATE UNIQUE INDEX saga_audit_chain_seq ON saga_audit (chain_seq)`);
    await q.query(`
      CREATE TRIGGER saga_audit_chain_link BEFORE INSERT ON saga_audit
        FOR EACH ROW EXECUTE FUNCTION saga_audit_chain_link()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER saga_audit_chain_link ON saga_audit`);
    await q.query(`DROP FUNCTION saga_audit_chain_link()`);
    await q.query(`DROP FUNCTION saga_audit_row_hash(bytea, saga_audit)`);
    await q.query(`DROP TABLE saga_audit_chain`);
    await q.query(`DROP INDEX saga_audit_chain_seq`);
    await q.query(`ALTER TABLE saga_audit DROP CONSTRAINT saga_audit_signal_action_check`);
    await q.query(`ALTER TABLE saga_audit DROP COLUMN signal, DROP COLUMN chain_seq, DROP COLUMN prev_hash,
      DROP COLUMN hash`);
  }
}
