import { startTestEngine, type TestEngine } from './support/test-engine';

/**
 * The per-key rate limit holds across orchestrators: two engines on one Redis (the same SAGA_REDIS_PREFIX, as two
 * processes behind a load balancer) share RATE_LIMIT_PER_MINUTE per key, answer 429 with Retry-After past it, and
 * count keys apart.
 */
describe('rate limit shared through Redis (e2e)', () => {
  let a: TestEngine;
  let b: TestEngine;

  beforeAll(async () => {
    a = await startTestEngine({ demo: true, agent: false, queue: 'redis', env: { RATE_LIMIT_PER_MINUTE: '5' } });
    b = await startTestEngine({
      demo: true,
      agent: false,
      queue: 'redis',
      env: { RATE_LIMIT_PER_MINUTE: '5', SAGA_REDIS_PREFIX: a.prefix },
    });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('counts one key across both processes: 5 in all, then 429 with Retry-After on either', async () => {
    const statuses: number[] = [];
    for (const engine of [a, b, a, b, a]) statuses.push((await engine.as('viewer').get('/v1/saga-types')).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    for (const engine of [b, a]) {
      const res = await engine.as('viewer').get('/v1/saga-types');
      expect(res.status).toBe(429);
      expect(res.body).toMatchObject({ statusCode: 429, code: 'RATE_LIMITED' });
      const retryAfter = Number(res.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // Another key has its own budget.
    expect((await b.as('operator').get('/v1/saga-types')).status).toBe(200);
    // /health is not counted (no key).
    expect((await a.http().get('/health')).status).toBe(200);
  });
});
