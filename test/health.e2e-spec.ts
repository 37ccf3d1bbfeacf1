import { Cluster, poll } from '../scripts/support/cluster';
import { PrivateServices } from '../scripts/support/private-servers';
import { droneInput } from './support/drone-input';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/** `/health` with a PostgreSQL of its own that the test stops and starts again. */
describe('health (e2e)', () => {
  let services: PrivateServices | undefined;
  let engine: TestEngine | undefined;

  beforeAll(async () => {
    services = await PrivateServices.create({ pg: true });
    engine = await startTestEngine({
      demo: true,
      pgAdminUrl: services.pgAdminUrl,
      env: { SUPERVISOR_INTERVAL_MS: '200' },
    });
  }, 120_000);
  afterAll(async () => {
    await engine?.close().catch(() => undefined);
    await services?.dispose();
  }, 60_000);

  const health = async () => {
    const started = Date.now();
    const res = await engine!.as('viewer').get('/health').timeout(5_000);
    return { res, ms: Date.now() - started };
  };

  it('is 200 with PostgreSQL, the queue and the supervisor up', async () => {
    await waitFor(async () => ((await health()).res.body.info?.supervisor?.lastSweepAt ? true : undefined), {
      timeoutMs: 10_000,
      what: 'a first supervisor sweep',
    });
    const { res } = await health();
    expect(res.status).toBe(200);
    expect(res.body.info).toMatchObject({
      postgres: { status: 'up' },
      queue: { status: 'up' },
      supervisor: { status: 'up', enabled: true, lastSweepAt: expect.any(String) },
    });
  });

  it('answers 503 within 2 s while PostgreSQL is stopped, and 200 once it is back', async () => {
    await services!.stop();
    const down = await health();
    expect(down.res.status).toBe(503);
    expect(down.ms).toBeLessThan(2_000);
    expect(down.res.body.error.postgres).toMatchObject({ status: 'down' });

    await services!.start();
    const up = await waitFor(
      async () => {
        const { res } = await health();
        return res.status === 200 ? res : undefined;
      },
      { timeoutMs: 20_000, what: '/health to answer 200 again' },
    );
    expect(up.body.info.postgres).toMatchObject({ status: 'up' });
  }, 60_000);
});

/**
 * The same outage with the step jobs in PostgreSQL (BullMQ's PostgreSQL backend, what `npm start` uses without
 * Redis), the engine as its own process while sagas run, three times. Two failures it caught: a pool client that
 * got the server's FATAL while checked out killed the process (store/pg-client-errors.ts), and a queue
 * connection that was bootstrapping when PostgreSQL stopped made BullMQ's worker spin without yielding, never to
 * fetch a job again (queue/pg-bootstrap-retry.ts). As a separate process, a spin fails this test rather than
 * freezing the test run.
 */
describe('health with the step jobs in PostgreSQL, the engine as a process (e2e)', () => {
  let services: PrivateServices | undefined;
  let cluster: Cluster | undefined;

  beforeAll(async () => {
    services = await PrivateServices.create({ pg: true });
    cluster = new Cluster({
      pgAdminUrl: services.pgAdminUrl,
      // No Redis: the jobs go to PostgreSQL, and the demo services talk over TCP.
      env: { REDIS_URL: '', SUPERVISOR_INTERVAL_MS: '200', PARTICIPANT_FAILURES_TO_OPEN: '1000' },
    });
    await cluster.createDatabase();
    await cluster.startOrchestrator({ all: true });
  }, 120_000);
  afterAll(async () => {
    await cluster?.close().catch(() => undefined);
    await services?.dispose();
  }, 60_000);

  const health = async () => {
    const started = Date.now();
    const res = await fetch(`${cluster!.baseUrl}/health`, { signal: AbortSignal.timeout(5_000) });
    return { status: res.status, ms: Date.now() - started };
  };

  /**
   * Starts a saga as a client should across an outage: a 503 is retried shortly (docs/api.md), for at most 10 s.
   * Right after /health turned 200, a start may still meet a pooled connection that died with the server.
   */
  const startAsAClient = async (): Promise<string> => {
    const until = Date.now() + 10_000;
    for (;;) {
      const res = await cluster!.request('POST', '/v1/sagas', { type: 'drone-delivery', input: droneInput() });
      if (res.status === 201) return res.body.id as string;
      if (res.status !== 503 || Date.now() > until) {
        throw new Error(`POST /v1/sagas answered ${res.status}: ${JSON.stringify(res.body)}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  it('answers 503 within 2 s each time PostgreSQL stops, 200 once it is back, and runs sagas after', async () => {
    for (let round = 1; round <= 3; round++) {
      // Sagas in flight, so that the agent's queue connections are busy when PostgreSQL goes.
      for (let i = 0; i < 5; i++) await startAsAClient();
      await services!.stop();
      const down = await health();
      expect({ round, status: down.status }).toEqual({ round, status: 503 });
      expect(down.ms).toBeLessThan(2_000);
      await services!.start();
      await poll(async () => (await health()).status === 200, {
        timeoutMs: 30_000,
        what: `/health 200 (round ${round})`,
      });
    }
    const id = await startAsAClient();
    await cluster!.waitForStatus(id, ['COMPLETED'], 60_000);
  }, 240_000);
});
