import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Two things of issue 4:
 *
 * - `saga_instance.pending_signals`: signals that arrived before the step waiting for them started (a participant
 *   that reports faster than the saga gets to its wait). Part of the instance row, so the signal is buffered in the
 *   same compare-and-set as the rest of the transition, and consumed by the wait step in the commit that starts it.
 * - `participant_circuit`: each agent's circuit breaker state per participant, written on every change and
 *   refreshed periodically (`seen_at`), for `GET /v1/participants`.
 */
export class SignalInboxAndCircuits1764040000000 implements MigrationInterface {
  name = 'SignalInboxAndCircuits1764040000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE saga_instance ADD COLUMN pending_signals jsonb NOT NULL DEFAULT '[]'::jsonb`);
    await q.query(`
      CREATE TABLE participant_circuit (
        participant text NOT NULL,
        agent_id    text NOT NULL,
        state       text NOT NULL CHECK (state IN ('closed', 'open', 'half-open')),
        changed_at  timestamptz,
        seen_at     timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (participant, agent_id)
      )`);
    await q.query(`CREATE INDEX participant_circuit_seen ON participant_circuit (seen_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE participant_circuit`);
    await q.query(`ALTER TABLE saga_instance DROP COLUMN pending_signals`);
  }
}
