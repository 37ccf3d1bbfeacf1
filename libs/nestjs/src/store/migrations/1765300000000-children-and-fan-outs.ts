import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Composition in space: child sagas and fan-outs over run-time lists.
 *
 * - `saga_instance.parent_id`, `parent_step`, `parent_attempt`: a child saga's link to the step (and the attempt of
 *   it) that started it, written with the child, in the same statement as the parent's commit that put the step
 *   WAITING. The child's idempotency key is `<parentId>:<step>` (a later round's `<parentId>:<step>:<round>`). The
 *   partial index lists a saga's children without touching the sagas that have no parent. No foreign key: a
 *   parent and its children are purged each on its own (the purge keeps a finished child while its parent may still
 *   compensate it).
 * - `saga_step_item`: one row per item of a fan-out step, written when the list is known: the item (as JSON) and its
 *   key, then its state like a `saga_step` row's (status, attempts, output, error, compensation) and its own outbox
 *   columns (`due_at`, `deadline_at`, `lease_until`), swept by the supervisor through partial indexes like the
 *   steps'. A transition writes only the items it changed, so a fan-out of 10,000 items costs a row per item, not a
 *   rewrite of all of them per event.
 * - `saga_event.item`: the item an entry of the history is about (null for the others): each item has its own
 *   attempt history.
 *
 * The statuses of items are those of steps (see the CHECK constraints): persisted names, part of the API.
 */
export class ChildrenAndFanOuts1765300000000 implements MigrationInterface {
  name = 'ChildrenAndFanOuts1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE saga_instance ADD COLUMN parent_id uuid, ADD COLUMN parent_step text, ADD COLUMN parent_attempt integer`,
    );
    await q.query(
      `CREATE INDEX saga_instance_parent ON saga_instance (parent_id, created_at) WHERE parent_id IS NOT NULL`,
    );
    await q.query(`
      CREATE TABLE saga_step_item (
        saga_id            uuid NOT NULL REFERENCES saga_instance (id) ON DELETE CASCADE,
        step               text NOT NULL,
        idx                integer NOT NULL CHECK (idx >= 0),
        key                text NOT NULL,
        item               jsonb,
        status             text NOT NULL CHECK (status IN ('PENDING','SCHEDULED','RUNNING','RETRYING','SUCCEEDED',
                             'FAILED','COMPENSATING','COMPENSATED','COMPENSATION_FAILED')),
        attempt            integer NOT NULL DEFAULT 0,
        attempt_base       integer NOT NULL DEFAULT 0,
        output             jsonb,
        error              jsonb,
        outcome_unknown    boolean NOT NULL DEFAULT false,
        comp_status        text CHECK (comp_status IN ('SCHEDULED','RUNNING','RETRYING','SUCCEEDED','FAILED','RESOLVED')),
        comp_attempt       integer NOT NULL DEFAULT 0,
        comp_attempt_base  integer NOT NULL DEFAULT 0,
        comp_error         jsonb,
        due_at             timestamptz,
        deadline_at        timestamptz,
        lease_until        timestamptz,
        started_at         timestamptz,
        finished_at        timestamptz,
        comp_started_at    timestamptz,
        comp_finished_at   timestamptz,
        PRIMARY KEY (saga_id, step, idx)
      )`);
    await q.query(`CREATE INDEX saga_step_item_deadline ON saga_step_item (deadline_at) WHERE deadline_at IS NOT NULL`);
    await q.query(`CREATE INDEX saga_step_item_due ON saga_step_item (due_at) WHERE due_at IS NOT NULL`);
    await q.query(`ALTER TABLE saga_event ADD COLUMN item integer`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_event DROP COLUMN item`);
    await q.query(`DROP TABLE saga_step_item`);
    await q.query(`DROP INDEX saga_instance_parent`);
    await q.query(
      `ALTER TABLE saga_instance DROP COLUMN parent_id, DROP COLUMN parent_step, DROP COLUMN parent_attempt`,
    );
  }
}
