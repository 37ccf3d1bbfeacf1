import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Many services, one engine:
 *
 * - `saga_definition`: every saga type and version, as data (its steps, stages, policies: a SagaSpec) with the
 *   JSON Schema of its input. Each process that has a saga's code publishes it at start, so that processes without
 *   the code (a central API and supervisor, the dashboard) can start, steer and show its instances.
 *   `fingerprint` is a hash of the spec: a version whose shape changed while instances run on it is refused.
 * - `saga_agent`: the agents that run now and the saga types (and versions) they have the code for, refreshed
 *   every few seconds (`seen_at`), so that the API can tell a saga that waits for an agent that is not running.
 */
export class DefinitionsAndAgents1765100000000 implements MigrationInterface {
  name = 'DefinitionsAndAgents1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE saga_definition (
        type          text NOT NULL,
        version       int NOT NULL CHECK (version > 0),
        spec          jsonb NOT NULL,
        input_schema  jsonb,
        fingerprint   text NOT NULL,
        published_at  timestamptz NOT NULL DEFAULT now(),
        published_by  text NOT NULL,
        PRIMARY KEY (type, version)
      )`);
    await q.query(`
      CREATE TABLE saga_agent (
        id          text PRIMARY KEY,
        host        text NOT NULL,
        pid         int NOT NULL,
        saga_types  text[] NOT NULL,
        started_at  timestamptz NOT NULL DEFAULT now(),
        seen_at     timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX saga_agent_seen ON saga_agent (seen_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE saga_agent`);
    await q.query(`DROP TABLE saga_definition`);
  }
}
