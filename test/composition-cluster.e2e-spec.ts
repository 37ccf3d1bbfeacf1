import { Cluster, poll } from '../scripts/support/cluster';
import { TEST_NO_REDIS_REASON, TEST_PG_ADMIN_URL, TEST_QUEUE_KIND, TEST_REDIS_URL } from './support/urls';
import { itIf } from './support/skip';

/**
 * Child sagas and fan-outs with the engine as REAL processes (the built orchestrator, agents and demo services):
 * the demo's parcel-order saga (a fan-out over an order's parcels, then a child drone-delivery), with an agent
 * killed -9 in the middle of the list, and an agent killed -9 right after it committed the end of a child, before
 * it told the parent. The demo participants' PostgreSQL ledger proves that each effect happened once.
 */
const FAST = {
  SUPERVISOR_INTERVAL_MS: '200',
  SCHEDULE_TO_START_MS: '1000',
  PARTICIPANT_FAILURES_TO_OPEN: '1000',
};
const ENDED = ['COMPLETED', 'COMPENSATED', 'CANCELLED', 'FAILED'];
const scenario = itIf(TEST_QUEUE_KIND === 'redis', TEST_NO_REDIS_REASON);

const order = (parcels: Record<string, unknown>[], extra: Record<string, unknown> = {}) => ({
  accountId: 'acc-42',
  pickup: { lat: 52.52, lng: 13.405 },
  expressPriceCents: 2500,
  parcels,
  ...extra,
});
const parcel = (id: string, fault?: string) => ({
  parcelId: id,
  dropoff: { lat: 52.5, lng: 13.45 },
  weightKg: 2,
  ...(fault ? { fault } : {}),
});

describe('children and fan-outs with real processes (e2e, kill -9)', () => {
  let cluster: Cluster | undefined;

  async function newCluster(): Promise<Cluster> {
    cluster = new Cluster({ pgAdminUrl: TEST_PG_ADMIN_URL, redisUrl: TEST_REDIS_URL, env: FAST });
    await cluster.createDatabase();
    return cluster;
  }
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  /** Every effect the participants applied for the saga was applied exactly once. */
  async function eachEffectOnce(c: Cluster, sagaId: string): Promise<any[]> {
    const ledger = await c.ledger(sagaId);
    expect(ledger.filter((e) => e.count !== 1)).toEqual([]);
    return ledger;
  }

  scenario(
    "an agent killed -9 in the middle of a fan-out: a new agent finishes the list, each parcel's booking once",
    async () => {
      const c = await newCluster();
      await c.startOrchestrator();
      const first = await c.startAgent();
      const ids = Array.from({ length: 24 }, (_, i) => `p${i}`);
      const id = await c.startSaga(order(ids.map((p) => parcel(p, 'slow'))), 'parcel-order');
      const before = await poll(
        async () => {
          const saga = await c.saga(id);
          const items = saga.steps.find((s: any) => s.name === 'book-parcels').items;
          return (items?.counts.SUCCEEDED ?? 0) >= 4 ? items : undefined;
        },
        { what: 'some parcels booked', timeoutMs: 30_000 },
      );
      await first.kill('SIGKILL');
      await c.startAgent();

      const done = await c.waitForStatus(id, ENDED, 90_000);
      expect(done.status).toBe('COMPLETED');
      const book = done.steps.find((s: any) => s.name === 'book-parcels');
      expect(book.items).toEqual({ total: 24, counts: { SUCCEEDED: 24 } });
      // Killed mid-list: the items it held were taken up again (its jobs, or the supervisor from their rows).
      expect(before.counts.SUCCEEDED).toBeLessThan(24);
      const ledger = await eachEffectOnce(c, id);
      expect(
        ledger
          .filter((e) => e.operation === 'create')
          .map((e) => e.idempotencyKey)
          .sort(),
      ).toEqual(ids.map((p) => `${id}:book-parcels:${p}`).sort());
      await eachEffectOnce(c, done.children[0].id);
    },
    150_000,
  );

  scenario(
    "an agent killed -9 right after it committed a child's end, before it told the parent: the supervisor tells it",
    async () => {
      const c = await newCluster();
      await c.startOrchestrator();
      // This agent dies the moment it has committed the end of a drone-delivery that is a child.
      const doomed = await c.startAgent({ SAGA_CRASH_POINT: 'after-end:drone-delivery' });
      const id = await c.startSaga(order([parcel('a'), parcel('b')]), 'parcel-order');
      const exit = await doomed.exited;
      expect(exit.signal).toBe('SIGKILL');
      const child = await poll(
        async () => {
          const saga = await c.saga(id);
          const kid = saga.children?.[0];
          return kid?.status === 'COMPLETED' ? kid : undefined;
        },
        { what: 'the child to be COMPLETED' },
      );
      // Nobody told the parent: its step still waits for the child, its row woken by the child's last commit.
      await c.startAgent();
      const done = await c.waitForStatus(id, ENDED, 60_000);
      expect(done.status).toBe('COMPLETED');
      expect(done.steps.find((s: any) => s.name === 'fly-express')).toMatchObject({
        status: 'SUCCEEDED',
        child: { id: child.id, status: 'COMPLETED' },
      });
      expect(done.output.flyExpress.chargeAccount.chargeId).toEqual(expect.any(String));
      const ended = (await c.events(id)).filter((e) => e.type === 'ChildEnded');
      expect(ended).toHaveLength(1);
      expect(c.logs(200)).toMatch(/SAGA_CRASH_POINT after-end:drone-delivery/);
      await eachEffectOnce(c, id);
      await eachEffectOnce(c, child.id);
    },
    120_000,
  );
});
