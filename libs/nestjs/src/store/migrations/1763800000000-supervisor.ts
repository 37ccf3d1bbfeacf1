import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the supervisor needs to sweep the outbox cheaply and safely with any number of supervisors running:
 * a claim lease per step row, and a partial index on `due_at` (the one on `deadline_at` exists). Both indexes
 * hold only the rows of attempts in flight, so a sweep costs the same with a million finished sagas as with none.
 */
export class Supervisor1763800000000 implements MigrationInterface {
  name = 'Supervisor1763800000000';

  async up(q: QueryRunner): Promise<void> {
    // Until when a supervisor holds the row: others skip it. Cleared whenever a new attempt is dispatched.
    await q.query(`ALTER TABLE saga_step ADD COLUMN lease_until timestamptz`);
    await q.query(`CREATE INDEX saga_step_due ON saga_step (due_at) WHERE due_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX saga_step_due`);
    await q.query(`ALTER TABLE saga_step DROP COLUMN lease_until`);
  }
}
