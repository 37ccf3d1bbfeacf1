import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Operator actions on one step (issue 19): re-run a saga from a step, skip a step.
 *
 * - `saga_step.run`: how many times an operator re-ran the step (`POST /v1/sagas/{id}/steps/{step}/retry`); part
 *   of its idempotency key (`<sagaId>:<step>:rerun-<run>` once above 0), so that participants tell a deliberate
 *   re-run from a repeat.
 * - `saga_step.skipped`: the step SUCCEEDED because an operator skipped it (`.../skip`), with their output.
 * - The audit log's actions `retry-from-step` and `skip-step`.
 */
export class OperatorStepActions1766300000000 implements MigrationInterface {
  name = 'OperatorStepActions1766300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE saga_step ADD COLUMN run int NOT NULL DEFAULT 0 CHECK (run >= 0),
        ADD COLUMN skipped boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE saga_audit DROP CONSTRAINT saga_audit_action_check`);
    await q.query(`
      ALTER TABLE saga_audit ADD CONSTRAINT saga_audit_action_check
        CHECK (action IN ('cancel','retry','resolve-compensation','signal','retry-from-step','skip-step'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_audit DROP CONSTRAINT saga_audit_action_check`);
    await q.query(`
      ALTER TABLE saga_audit ADD CONSTRAINT saga_audit_action_check
        CHECK (action IN ('cancel','retry','resolve-compensation','signal'))`);
    await q.query(`ALTER TABLE saga_step DROP COLUMN run, DROP COLUMN skipped`);
  }
}
