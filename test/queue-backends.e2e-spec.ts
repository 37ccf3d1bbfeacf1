import { startTestEngine, type TestEngine } from './support/test-engine';
import { TEST_NO_REDIS_REASON, TEST_QUEUE_KIND } from './support/urls';
import { droneInput } from './support/drone-input';
import { itIf } from './support/skip';

/**
 * The engine behaves the same whichever backend carries the step jobs: one saga that completes and one that is
 * compensated, on Redis and on BullMQ's PostgreSQL backend, compared step by step, event by event and effect by
 * effect. Redis is there when the run has one (always on CI, and wherever redis-server is installed); without it
 * only the PostgreSQL side runs, and the Redis side is listed as skipped with the reason.
 */
const BACKENDS = ['postgres', 'redis'] as const;
type Backend = (typeof BACKENDS)[number];
const available = (backend: Backend) => backend === 'postgres' || TEST_QUEUE_KIND === 'redis';

const input = droneInput;

const SCENARIOS = {
  happy: { input: input(), status: 'COMPLETED' },
  compensated: { input: input({ faults: { 'charge-account': { fatal: true } } }), status: 'COMPENSATED' },
} as const;
type Scenario = keyof typeof SCENARIOS;

/** What must not depend on the backend: ids and times aside, everything the API and the ledger show. */
interface Outcome {
  status: string;
  steps: unknown[];
  events: unknown[];
  effects: string[];
}

describe('queue backends (e2e)', () => {
  const outcomes: Partial<Record<Backend, Partial<Record<Scenario, Outcome>>>> = {};

  describe.each(BACKENDS)('on %s', (backend) => {
    const maybe = itIf(available(backend), TEST_NO_REDIS_REASON);
    let engine: TestEngine | undefined;

    beforeAll(async () => {
      if (available(backend)) engine = await startTestEngine({ demo: true, queue: backend });
    });
    afterAll(() => engine?.close());

    maybe('reports the backend in /health', async () => {
      const health = await engine!.as('viewer').get('/health');
      expect(health.status).toBe(200);
      expect(health.body.info.queue).toEqual({ status: 'up', backend });
    });

    maybe.each(Object.keys(SCENARIOS) as Scenario[])('runs the %s saga to its end', async (scenario) => {
      const { input: body, status } = SCENARIOS[scenario];
      const started = await engine!.as('operator').post('/v1/sagas').send({ type: 'drone-delivery', input: body });
      expect(started.status).toBe(201);
      const saga = await engine!.waitForStatus(started.body.id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
      expect(saga.status).toBe(status);
      const events = (await engine!.as('viewer').get(`/v1/sagas/${saga.id}/events`)).body.items;
      const ledger = await engine!.ledger(saga.id);
      expect(ledger.every((entry) => entry.count === 1)).toBe(true);
      (outcomes[backend] ??= {})[scenario] = {
        status: saga.status,
        steps: saga.steps.map((s: any) => ({
          name: s.name,
          status: s.status,
          attempts: s.attempts,
          compensation: s.compensation && { status: s.compensation.status, attempts: s.compensation.attempts },
        })),
        events: events.map((e: any) => [e.seq, e.type, e.step, e.attempt]),
        effects: ledger.map((e) => `${e.service}.${e.operation}`),
      };
    });
  });

  const both = itIf(available('redis'), TEST_NO_REDIS_REASON);
  both('gives the same outcomes on both', () => {
    for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
      expect(outcomes.redis?.[scenario]).toBeDefined();
      expect(outcomes.postgres?.[scenario]).toEqual(outcomes.redis?.[scenario]);
    }
    expect(outcomes.postgres?.compensated?.effects).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'drone.schedule',
      'drone.release',
      'package.delete',
      'delivery.cancel',
    ]);
  });
});
