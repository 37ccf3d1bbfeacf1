import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Retention (RETENTION_FINISHED_AFTER): the supervisor deletes finished sagas (COMPLETED, COMPENSATED,
 * CANCELLED: `completed_at` set) older than the setting, oldest first, in batches. This index finds them without
 * reading the live ones.
 */
export class Retention1764000000000 implements MigrationInterface {
  name = 'Retention1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX saga_instance_finished ON saga_instance (completed_at) WHERE completed_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX saga_instance_finished`);
  }
}
