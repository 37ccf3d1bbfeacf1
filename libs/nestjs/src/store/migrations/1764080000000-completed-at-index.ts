import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `GET /v1/stats` counts sagas that ended per time bucket over a recent window (`completed_at >= now - window`).
 * Without an index that is a scan of every saga ever run; with it, a range scan of the window. The retention sweep
 * (RETENTION_FINISHED_AFTER) reads it from the other end: the oldest finished sagas first. Partial: running sagas
 * have no `completed_at` and are never in it.
 */
export class CompletedAtIndex1764080000000 implements MigrationInterface {
  name = 'CompletedAtIndex1764080000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `CREATE INDEX saga_instance_completed ON saga_instance (completed_at, status) WHERE completed_at IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX saga_instance_completed`);
  }
}
