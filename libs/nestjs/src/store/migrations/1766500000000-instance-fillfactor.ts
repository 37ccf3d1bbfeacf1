import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Room on every page of `saga_instance` for the next version of its rows (issue 20). A step's commit rewrites its
 * saga's row (state, version, updated_at) without touching an indexed column, which PostgreSQL can do as a HOT
 * update, on the same page and with no index entry, only when the page has room. Full pages (the default
 * fillfactor, 100) made two thirds of those updates add an entry to each of the table's ten indexes, the GIN index
 * of search attributes among them. Applies to pages written from now on; `VACUUM FULL` rewrites the old ones.
 */
export class InstanceFillfactor1766500000000 implements MigrationInterface {
  name = 'InstanceFillfactor1766500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_instance SET (fillfactor = 70)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_instance RESET (fillfactor)`);
  }
}
