import { droneInput } from './support/drone-input';
import { startTestEngine, type TestEngine } from './support/test-engine';

/** The two routes the dashboard added to the API: who am I, and the overview's figures. */
describe('GET /v1/me and GET /v1/stats (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ demo: true });
  });
  afterAll(() => engine?.close());

  it('/v1/me answers the key’s name and role, for every role, and 401 without a key', async () => {
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      const res = await engine.as(role).get('/v1/me');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ name: role, role });
    }
    expect((await engine.http().get('/v1/me')).status).toBe(401);
  });

  it('/v1/stats counts by status and buckets what started and how it ended', async () => {
    const ok = (await engine.as('operator').post('/v1/sagas').send({ type: 'drone-delivery', input: droneInput() }))
      .body.id as string;
    const bad = (
      await engine
        .as('operator')
        .post('/v1/sagas')
        .send({ type: 'drone-delivery', input: droneInput({ faults: { 'charge-account': { fatal: true } } }) })
    ).body.id as string;
    await engine.waitForStatus(ok, ['COMPLETED']);
    await engine.waitForStatus(bad, ['COMPENSATED']);
    // One saga that ended three hours ago: in the counts and the 6h window, not in the 1h one.
    await engine.db.query(
      `INSERT INTO saga_instance (id, type, definition_version, status, version, input, request_hash, created_at,
                                  updated_at, completed_at)
       VALUES (gen_random_uuid(), 'drone-delivery', 1, 'CANCELLED', 1, '{}', 'x', now() - interval '3 hours',
               now() - interval '3 hours', now() - interval '3 hours')`,
    );

    const hour = await engine.as('viewer').get('/v1/stats?window=1h');
    expect(hour.status).toBe(200);
    expect(hour.body.counts).toEqual({
      RUNNING: 0,
      COMPENSATING: 0,
      COMPLETED: 1,
      COMPENSATED: 1,
      CANCELLED: 1,
      FAILED: 0,
      DELAYED: 0,
    });
    expect(hour.body.bucketMs).toBe(60_000);
    expect(hour.body.series).toHaveLength(60);
    const sum = (body: any, key: string) => body.series.reduce((n: number, b: any) => n + b[key], 0);
    expect([sum(hour.body, 'started'), sum(hour.body, 'completed'), sum(hour.body, 'compensated')]).toEqual([2, 1, 1]);
    expect(sum(hour.body, 'cancelled')).toBe(0);
    const times = (hour.body.series as { at: string }[]).map((b) => Date.parse(b.at));
    times.slice(1).forEach((t, i) => expect(t - times[i]).toBe(60_000));
    // The last bucket holds now.
    expect(times[times.length - 1]).toBeLessThanOrEqual(Date.now());
    expect(times[times.length - 1] + 60_000).toBeGreaterThan(Date.now() - 1000);

    const six = await engine.as('viewer').get('/v1/stats?window=6h');
    expect(six.body.series).toHaveLength(72);
    expect(sum(six.body, 'cancelled')).toBe(1);
    expect((await engine.as('viewer').get('/v1/stats')).body.windowMs).toBe(3_600_000);
  });

  it('/v1/stats refuses an unknown window with a 400 naming the field', async () => {
    for (const query of ['window=2h', 'window=', 'window[]=1h', 'window=__proto__', 'window=toString']) {
      const res = await engine.as('viewer').get(`/v1/stats?${query}`);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('INPUT_INVALID');
      // `window[]` is another parameter (no nested query syntax is parsed): refused, by name, as unknown.
      expect(res.body.message).toMatch(/window must be one of|property window\[\] should not exist/);
    }
  });
});
