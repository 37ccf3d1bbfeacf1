import { PrivateServices } from '../scripts/support/private-servers';
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
    const res = await engine!.http().get('/health').timeout(5_000);
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
