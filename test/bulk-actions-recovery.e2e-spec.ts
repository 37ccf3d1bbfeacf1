import { Client } from 'pg';
import { Cluster, poll } from '../scripts/support/cluster';
import { droneInput } from './support/drone-input';
import { TEST_NO_REDIS_REASON, TEST_PG_ADMIN_URL, TEST_QUEUE_KIND, TEST_REDIS_URL } from './support/urls';
import { itIf } from './support/skip';

/**
 * A bulk job survives its supervisor killed -9 mid-job (the built engine as a real process, scripts/support/cluster):
 * a new process takes the job over once the dead one's lease ran out, resumes at the last recorded position, and
 * acts on every saga exactly once: the sagas of the chunk in flight at the kill are found in the audit log (their
 * rows name the job) and counted, not acted on again.
 */
const COUNT = 100;
/** The job is held on this saga (oldest first), mid-chunk: the chunk before it is recorded, this one is not. */
const HELD = 55;

describe('bulk actions: a supervisor killed -9 mid-job (e2e)', () => {
  let cluster: Cluster | undefined;
  let holder: Client | undefined;

  afterEach(async () => {
    await holder?.end().catch(() => undefined);
    await cluster?.close();
    cluster = undefined;
    holder = undefined;
  });

  itIf(TEST_QUEUE_KIND === 'redis', TEST_NO_REDIS_REASON)(
    `resumes after the kill and cancels each of ${COUNT} DELAYED sagas exactly once`,
    async () => {
      const c = new Cluster({
        pgAdminUrl: TEST_PG_ADMIN_URL,
        redisUrl: TEST_REDIS_URL,
        env: { SUPERVISOR_INTERVAL_MS: '200' },
      });
      cluster = c;
      try {
        await c.createDatabase();
        const first = await c.startOrchestrator({ all: true });
        const started: string[] = [];
        for (let i = 0; i < COUNT; i += 20) {
          const batch = await Promise.all(
            Array.from({ length: 20 }, () =>
              c.request('POST', '/v1/sagas', { type: 'drone-delivery', input: droneInput(), startIn: '1d' }),
            ),
          );
          for (const res of batch) {
            expect(res.status).toBe(201);
            started.push(res.body.id);
          }
        }
        const ids = (
          await c.query<{ id: string }>(
            `SELECT id FROM saga_instance WHERE id = ANY($1::uuid[]) ORDER BY created_at, id`,
            [started],
          )
        ).map((r) => r.id);

        // Hold one saga's row: the job blocks on it, its chunk half done and not yet recorded.
        holder = new Client({ connectionString: c.databaseUrl });
        await holder.connect();
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM saga_instance WHERE id = $1 FOR UPDATE`, [ids[HELD]]);

        const asked = await c.request('POST', '/v1/bulk-actions', {
          action: 'cancel',
          filter: { type: 'drone-delivery', status: ['DELAYED'] },
          reason: 'campaign withdrawn',
        });
        expect(asked.status).toBe(202);
        const jobId: string = asked.body.id;
        const job = async () => (await c.request('GET', `/v1/bulk-actions/${jobId}`)).body;
        await poll(async () => (await job()).processed === 50, {
          timeoutMs: 30_000,
          what: 'the job to reach the held saga',
        });
        expect((await first.kill('SIGKILL')).signal).toBe('SIGKILL');
        // Released after the kill: the dead process's statement for the held chunk (the engine may commit the
        // chunk's sagas together) runs to its end in PostgreSQL or not at all; the job's position does not move.
        await holder.query('ROLLBACK');
        const second = await c.startOrchestrator({ all: true });

        const done = await poll(
          async () => {
            const j = await job();
            return ['COMPLETED', 'FAILED', 'CANCELLED'].includes(j.status) && j;
          },
          { timeoutMs: 60_000, intervalMs: 200, what: 'the job to end after the restart' },
        );
        expect(done).toMatchObject({ status: 'COMPLETED', matched: COUNT, processed: COUNT, done: COUNT, failed: 0 });
        // The new process took the job over where the dead one had recorded it.
        expect(second.log).toContain(`bulk job ${jobId}: cancel of ${COUNT} sagas, from 50`);
        const statuses = await c.query<{ status: string; n: number }>(
          `SELECT status, count(*)::int AS n FROM saga_instance WHERE id = ANY($1::uuid[]) GROUP BY status`,
          [ids],
        );
        expect(statuses).toEqual([{ status: 'CANCELLED', n: COUNT }]);
        // Each saga acted on once: one audit row per saga naming the job, accepted.
        const audit = await c.query<{ saga_id: string; n: number; outcomes: string[] }>(
          `SELECT saga_id, count(*)::int AS n, array_agg(outcome) AS outcomes FROM saga_audit
            WHERE action = 'cancel' AND (detail = $1 OR detail LIKE $2) GROUP BY saga_id`,
          [`bulk job ${jobId}`, `bulk job ${jobId}:%`],
        );
        expect(audit).toHaveLength(COUNT);
        expect(audit.filter((a) => a.n !== 1 || a.outcomes[0] !== 'accepted')).toEqual([]);
        // And each saga's history has one CancelRequested.
        const requested = await c.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM saga_event WHERE saga_id = ANY($1::uuid[]) AND type = 'CancelRequested'`,
          [ids],
        );
        expect(requested[0].n).toBe(COUNT);
      } catch (error) {
        if (error instanceof Error) error.message += `\n${c.logs()}`;
        throw error;
      }
    },
    180_000,
  );
});
