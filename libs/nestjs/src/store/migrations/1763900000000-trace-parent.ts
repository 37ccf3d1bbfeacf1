import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The saga's root trace context (a W3C `traceparent`: ids only), written at start, so that every step attempt's
 * span joins the same trace, whichever agent runs it and however late. NULL when tracing was off at start.
 */
export class TraceParent1763900000000 implements MigrationInterface {
  name = 'TraceParent1763900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_instance ADD COLUMN trace_parent text`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_instance DROP COLUMN trace_parent`);
  }
}
