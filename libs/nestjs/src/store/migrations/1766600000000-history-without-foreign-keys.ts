import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * No foreign key from `saga_step` and `saga_event` to `saga_instance` (issue 20). Every start inserts a saga's
 * steps and first events, and every transition inserts events, each row checked by a trigger that looks up and
 * locks its saga's row (`FOR KEY SHARE`): in a lone step's commit those checks were over a quarter of PostgreSQL's
 * time. The rows cannot be orphans without them: the engine writes a saga's steps and events only in the statement
 * that inserts its instance, or that updates it under its compare-and-set (a saga deleted meanwhile updates
 * nothing, so nothing is added); and retention (`purgeFinished`), the one place that deletes sagas, deletes their
 * steps and history in the same statement, as `ON DELETE CASCADE` did. Items, alerts and the signal inbox keep
 * theirs: they are not written on every step.
 */
export class HistoryWithoutForeignKeys1766600000000 implements MigrationInterface {
  name = 'HistoryWithoutForeignKeys1766600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_step DROP CONSTRAINT saga_step_saga_id_fkey`);
    await q.query(`ALTER TABLE saga_event DROP CONSTRAINT saga_event_saga_id_fkey`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE saga_step ADD CONSTRAINT saga_step_saga_id_fkey
         FOREIGN KEY (saga_id) REFERENCES saga_instance (id) ON DELETE CASCADE`,
    );
    await q.query(
      `ALTER TABLE saga_event ADD CONSTRAINT saga_event_saga_id_fkey
         FOREIGN KEY (saga_id) REFERENCES saga_instance (id) ON DELETE CASCADE`,
    );
  }
}
