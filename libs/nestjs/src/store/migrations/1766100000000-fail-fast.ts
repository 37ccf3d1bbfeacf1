import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Crash containment:
 *
 * - `saga_step.deaths`: how many started attempts of the step (either phase) the supervisor found without an outcome
 *   past their deadline: their agent died, or hung, while running them. A step that has died is run alone on its
 *   agent from then on, and after SAGA_POISON_AFTER_DEATHS deaths it is not retried (`POISONED`).
 * - `saga_step.local_run`: the attempt in flight was handed, by the commit that dispatched it, to an agent of the
 *   committing process, to run in-process at once (no job). If it is found due without a job later, that process
 *   died (or stalled) while it ran: the supervisor enqueues it again to be run alone.
 * - `saga_alert.status`: what the alert says: `FAILED` (the saga needs an operator) or `POISONED` (a step killed its
 *   agent too often; the saga compensates). Persisted values, part of the webhook's payload.
 *
 * Adding a column with a constant default is a catalog change (no table rewrite), quick on any size of table.
 */
export class FailFast1766100000000 implements MigrationInterface {
  name = 'FailFast1766100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE saga_step ADD COLUMN deaths integer NOT NULL DEFAULT 0, ADD COLUMN local_run boolean NOT NULL DEFAULT false`,
    );
    await q.query(
      `ALTER TABLE saga_alert ADD COLUMN status text NOT NULL DEFAULT 'FAILED' CHECK (status IN ('FAILED','POISONED'))`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_alert DROP COLUMN status`);
    await q.query(`ALTER TABLE saga_step DROP COLUMN deaths, DROP COLUMN local_run`);
  }
}
