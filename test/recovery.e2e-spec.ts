import { Redis } from 'ioredis';
import { checkInvariants } from '../scripts/support/checker';
import { Cluster, poll } from '../scripts/support/cluster';
import { PrivateServices, privateRedisUnavailable } from '../scripts/support/private-servers';
import { TEST_NO_REDIS_REASON, TEST_PG_ADMIN_URL, TEST_QUEUE_KIND, TEST_REDIS_URL } from './support/urls';
import { droneInput } from './support/drone-input';
import { itIf } from './support/skip';

/**
 * Recovery, end to end, with REAL processes (the built orchestrator and agent): kill them with -9 mid-saga, crash
 * one right after a commit, flush Redis, restart PostgreSQL, and watch every saga still end, with the
 * participants' PostgreSQL ledger proving that no effect ran twice.
 *
 * Supervisor timings are shortened (sweep every 200 ms, schedule-to-start 1 s); the deadline grace is the real
 * one (5 s past a step's 2 s timeout), so each test that loses an attempt spends some 8 s on it.
 */
const FAST = {
  SUPERVISOR_INTERVAL_MS: '200',
  SCHEDULE_TO_START_MS: '1000',
  // These scenarios are about the engine's recovery, not circuit breakers: an outage of PostgreSQL (which the demo
  // services use too) would otherwise open the participants' circuits, and the demo saga's 5 quick attempts would
  // give up while they are open (demo-services.e2e-spec.ts tests the breakers).
  PARTICIPANT_FAILURES_TO_OPEN: '1000',
};
const ENDED = ['COMPLETED', 'COMPENSATED', 'CANCELLED', 'FAILED'];

const input = (faults: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) =>
  droneInput({ faults, ...extra });

const stepOf = (saga: any, name: string) => saga.steps.find((s: any) => s.name === name);
const effects = (ledger: any[]) => ledger.map((e) => `${e.service}.${e.operation}`);

/** Every effect the participants applied for the saga was applied exactly once. */
async function expectEachEffectOnce(cluster: Cluster, sagaId: string): Promise<any[]> {
  const ledger = await cluster.ledger(sagaId);
  expect(ledger.filter((e) => e.count !== 1)).toEqual([]);
  return ledger;
}

/** Waits until the step's attempt in flight has been recorded as RUNNING by an agent. */
async function waitUntilRunning(cluster: Cluster, sagaId: string, step: string): Promise<void> {
  await poll(async () => stepOf(await cluster.saga(sagaId), step).status === 'RUNNING', {
    timeoutMs: 15_000,
    what: `${step} to run`,
  });
}

describe('recovery with real processes (e2e)', () => {
  let cluster: Cluster | undefined;
  let services: PrivateServices | undefined;

  async function newCluster(options: ConstructorParameters<typeof Cluster>[0] = {}): Promise<Cluster> {
    cluster = new Cluster({
      pgAdminUrl: TEST_PG_ADMIN_URL,
      redisUrl: TEST_REDIS_URL,
      ...options,
      env: { ...FAST, ...options.env },
    });
    await cluster.createDatabase();
    return cluster;
  }

  /**
   * A test whose failure message carries the processes' last log lines. The scenarios drive Redis itself (a job's
   * key, FLUSHALL, a restart): `redis: 'run'` needs the run's Redis (none on a bare machine without redis-server:
   * BullMQ on PostgreSQL, see test-backends.ts), `redis: 'private'` starts its own (needs redis-server).
   */
  const privateRedis = privateRedisUnavailable();
  const scenario = (name: string, fn: () => Promise<void>, timeoutMs: number, redis: 'run' | 'private' = 'run') =>
    (redis === 'run'
      ? itIf(TEST_QUEUE_KIND === 'redis', TEST_NO_REDIS_REASON)
      : itIf(!privateRedis, privateRedis ?? ''))(
      name,
      async () => {
        try {
          await fn();
        } catch (error) {
          if (cluster && error instanceof Error) error.message += `\n${cluster.logs()}`;
          throw error;
        }
      },
      timeoutMs,
    );

  afterEach(async () => {
    await cluster?.close();
    await services?.dispose();
    cluster = undefined;
    services = undefined;
  });

  scenario(
    '(a) an agent killed -9 while a step runs: a new agent finishes the saga, each effect once',
    async () => {
      const c = await newCluster();
      await c.startOrchestrator();
      const first = await c.startAgent();
      const id = await c.startSaga(input({ 'register-package': { delayMs: 1900 } }));
      await waitUntilRunning(c, id, 'register-package');
      await first.kill('SIGKILL');
      await c.startAgent();

      const saga = await c.waitForStatus(id, ENDED, 40_000);
      expect(saga.status).toBe('COMPLETED');
      // The supervisor declared the lost attempt (its deadline passed), and the engine retried it.
      const failures = (await c.events(id)).filter((e) => e.type === 'StepFailed' && e.step === 'register-package');
      expect(failures.map((e) => [e.attempt, e.data.error.code])).toEqual([[1, 'DEADLINE_EXCEEDED']]);
      expect(stepOf(saga, 'register-package')).toMatchObject({ status: 'SUCCEEDED', attempts: 2 });
      const ledger = await expectEachEffectOnce(c, id);
      expect(effects(ledger)).toEqual([
        'account.verify',
        'delivery.create',
        'package.register',
        'drone.schedule',
        'account.charge',
        'notification.notify',
      ]);
    },
    90_000,
  );

  scenario(
    '(b) an orchestrator killed right after a commit, before the enqueue: restarted, the saga completes',
    async () => {
      const c = await newCluster();
      const doomed = await c.startOrchestrator({
        all: true,
        env: { SAGA_CRASH_POINT: 'after-commit:register-package' },
      });
      const id = await c.startSaga(input());
      expect((await doomed.exited).signal).toBe('SIGKILL');

      // What the crash left: register-package durably SCHEDULED, and no job for it in Redis.
      const [row] = await c.query(`SELECT status, attempt FROM saga_step WHERE saga_id = $1 AND name = $2`, [
        id,
        'register-package',
      ]);
      expect(row).toEqual({ status: 'SCHEDULED', attempt: 1 });
      const redis = new Redis(c.redisUrl);
      try {
        expect(await redis.exists(`${c.prefix}:saga-steps:${id}.register-package.run.1`)).toBe(0);
      } finally {
        redis.disconnect();
      }

      const restarted = await c.startOrchestrator({ all: true });
      const saga = await c.waitForStatus(id, ENDED, 30_000);
      expect(saga.status).toBe('COMPLETED');
      // Enqueued again by the schedule-to-start check, or, when the restart took longer than the step's deadline,
      // by the deadline's (an attempt that never started is never failed: it did not count against its retries).
      expect(restarted.log).toMatch(
        /attempt 1 of step \\?"register-package\\?" (never started and )?had no job in the queue; enqueued it again/,
      );
      expect((await c.events(id)).filter((e) => e.type === 'StepFailed')).toEqual([]);
      const ledger = await expectEachEffectOnce(c, id);
      expect(effects(ledger)).toEqual([
        'account.verify',
        'delivery.create',
        'package.register',
        'drone.schedule',
        'account.charge',
        'notification.notify',
      ]);
    },
    90_000,
  );

  scenario(
    '(c) FLUSHALL mid-run with sagas in flight: the supervisor re-drives them all, each effect once',
    async () => {
      services = await PrivateServices.create({ redis: true });
      // Two steps at a time: most attempts wait in the queue (or in a retry's delay) when Redis loses them.
      const c = await newCluster({ redisUrl: services.redisUrl, env: { AGENT_CONCURRENCY: '2' } });
      await c.startOrchestrator();
      await c.startAgent();

      const slow = { 'create-delivery': { delayMs: 400 }, 'register-package': { delayMs: 700 } };
      const plans: { faults: Record<string, unknown>; extra?: Record<string, unknown>; end: string }[] = [
        ...Array.from({ length: 4 }, () => ({ faults: slow, end: 'COMPLETED' })),
        { faults: { ...slow, 'schedule-drone': { transient: 2 } }, end: 'COMPLETED' },
        { faults: { ...slow, 'charge-account': { transient: 1, delayMs: 300 } }, end: 'COMPLETED' },
        { faults: slow, extra: { weightKg: 30 }, end: 'COMPLETED' },
        { faults: { ...slow, 'charge-account': { fatal: true } }, end: 'COMPENSATED' },
        { faults: { ...slow, 'schedule-drone': { fatal: true, delayMs: 500 } }, end: 'COMPENSATED' },
        { faults: { ...slow, 'register-package': { delayMs: 700, transient: 1 } }, end: 'COMPLETED' },
        {
          faults: { ...slow, 'charge-account': { fatal: true }, 'create-delivery': { compensationTransient: 2 } },
          end: 'COMPENSATED',
        },
        { faults: { 'verify-account': { delayMs: 600 } }, extra: { accountId: 'nobody' }, end: 'COMPENSATED' },
      ];
      const ids = await Promise.all(plans.map((p) => c.startSaga(input(p.faults, p.extra))));

      // Mid-run: a few sagas past create-delivery, most of the rest queued behind them.
      await poll(async () => {
        const sagas = await Promise.all(ids.map((id) => c.saga(id)));
        return sagas.filter((s) => s.steps[1].status === 'SUCCEEDED').length >= 3;
      });
      const redis = new Redis(services.redisUrl);
      try {
        await redis.flushall();
      } finally {
        redis.disconnect();
      }

      const ended = await Promise.all(ids.map((id) => c.waitForStatus(id, ENDED, 60_000)));
      expect(ended.map((s) => s.status)).toEqual(plans.map((p) => p.end));
      for (const saga of ended) await expectEachEffectOnce(c, saga.id);
      // Every compensated saga undid exactly what it did, every completed one nothing; money is conserved.
      expect(await checkInvariants(c.databaseUrl)).toMatchObject({ lost: 0, doubleEffects: 0, violations: [] });
      // Jobs were lost with Redis and found again by the supervisor.
      expect(c.processes[0].log).toMatch(/had no job in the queue; enqueued it again/);
    },
    120_000,
    'private',
  );

  scenario(
    '(c2) Redis restarted and emptied: the same agent reconnects by itself, and every saga still ends',
    async () => {
      services = await PrivateServices.create({ redis: true });
      const c = await newCluster({ redisUrl: services.redisUrl, env: { AGENT_CONCURRENCY: '2' } });
      await c.startOrchestrator();
      await c.startAgent();
      const slow = { 'create-delivery': { delayMs: 300 }, 'register-package': { delayMs: 500 } };
      const ids = await Promise.all([1, 2, 3, 4, 5, 6].map(() => c.startSaga(input(slow))));
      await poll(async () => (await c.saga(ids[0])).steps[1].status === 'SUCCEEDED', { what: 'sagas in flight' });
      await services.restart(); // no persistence: every job is gone, and every connection was cut

      const ended = await Promise.all(ids.map((id) => c.waitForStatus(id, ENDED, 60_000)));
      expect(ended.map((s) => s.status)).toEqual(ids.map(() => 'COMPLETED'));
      for (const id of ids) await expectEachEffectOnce(c, id);
      // Nobody restarted a process: the worker and the producers reconnected on their own.
      expect(c.processes.map((p) => p.alive)).toEqual([true, true]);
      const after = await c.startSaga(input());
      expect((await c.waitForStatus(after, ENDED, 20_000)).status).toBe('COMPLETED');
    },
    120_000,
    'private',
  );

  scenario(
    '(d) a step that hangs past its timeout, its agent killed: retried, then compensated with its own undo',
    async () => {
      const c = await newCluster();
      await c.startOrchestrator();
      const first = await c.startAgent();
      const id = await c.startSaga(input({ 'register-package': { delayMs: 60_000 } }));
      await waitUntilRunning(c, id, 'register-package');
      await first.kill('SIGKILL');
      await c.startAgent();

      const saga = await c.waitForStatus(id, ENDED, 60_000);
      expect(saga.status).toBe('COMPENSATED');
      expect(saga.error).toMatchObject({ step: 'register-package', transient: true });
      const failures = (await c.events(id)).filter((e) => e.type === 'StepFailed' && e.step === 'register-package');
      // The first attempt's agent died: its deadline caught it. The next ones timed out in a live agent.
      expect(failures.map((e) => e.data.error.code)).toEqual([
        'DEADLINE_EXCEEDED',
        'TIMEOUT',
        'TIMEOUT',
        'TIMEOUT',
        'TIMEOUT',
      ]);
      // Its outcome is unknown, so its own undo ran too, before the earlier step's.
      expect(stepOf(saga, 'register-package')).toMatchObject({
        status: 'COMPENSATED',
        attempts: 5,
        compensation: { status: 'SUCCEEDED' },
      });
      const ledger = await expectEachEffectOnce(c, id);
      expect(effects(ledger)).toEqual(['account.verify', 'delivery.create', 'package.delete', 'delivery.cancel']);
    },
    90_000,
  );

  scenario(
    '(e) PostgreSQL restarted under sagas in flight: they all end, and the processes keep working after',
    async () => {
      services = await PrivateServices.create({ pg: true });
      const c = await newCluster({ pgAdminUrl: services.pgAdminUrl });
      await c.startOrchestrator();
      await c.startAgent();

      const slow = { 'create-delivery': { delayMs: 500 }, 'register-package': { delayMs: 900 } };
      const plans = [
        { faults: slow, end: 'COMPLETED' },
        { faults: slow, end: 'COMPLETED' },
        { faults: { ...slow, 'schedule-drone': { delayMs: 1200 } }, end: 'COMPLETED' },
        { faults: { ...slow, 'charge-account': { fatal: true } }, end: 'COMPENSATED' },
        { faults: { ...slow, 'notify-customer': { transient: 2 } }, end: 'COMPLETED' },
        { faults: { ...slow, 'register-package': { delayMs: 900, transient: 1 } }, end: 'COMPLETED' },
      ];
      const ids = await Promise.all(plans.map((p) => c.startSaga(input(p.faults))));
      await poll(async () => (await c.saga(ids[0])).steps[1].status === 'SUCCEEDED', { what: 'sagas in flight' });
      await services.restart();

      const ended = await Promise.all(ids.map((id) => c.waitForStatus(id, ENDED, 60_000)));
      expect(ended.map((s) => s.status)).toEqual(plans.map((p) => p.end));
      for (const id of ids) await expectEachEffectOnce(c, id);
      expect(await checkInvariants(c.databaseUrl)).toMatchObject({ lost: 0, doubleEffects: 0, violations: [] });
      // The outage was real: the processes saw their connections cut or refused.
      expect(c.logs(500)).toMatch(/terminating connection|ECONNREFUSED|Connection terminated/);

      // Nobody had to restart the processes: a new saga runs through.
      expect(c.processes.every((p) => p.alive)).toBe(true);
      const after = await c.startSaga(input());
      expect((await c.waitForStatus(after, ENDED, 20_000)).status).toBe('COMPLETED');
    },
    150_000,
  );

  scenario(
    '(f) SIGTERM to an agent mid-step: it takes no new job, lets the step finish and report, then exits',
    async () => {
      const c = await newCluster({ env: { SHUTDOWN_GRACE_MS: '10000' } });
      await c.startOrchestrator();
      const agent = await c.startAgent();
      const id = await c.startSaga(input({ 'register-package': { delayMs: 1800 } }));
      await waitUntilRunning(c, id, 'register-package');
      const stopping = Date.now();
      const exit = await agent.kill('SIGTERM');
      expect(exit.signal === 'SIGTERM' || exit.code === 0).toBe(true);
      expect(Date.now() - stopping).toBeLessThan(8_000);
      expect(agent.log).toMatch(/agent stopping: no new jobs/);

      // The step finished inside the grace period and its outcome was recorded: attempt 1 succeeded, no deadline.
      const paused = await c.saga(id);
      expect(stepOf(paused, 'register-package')).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
      expect(stepOf(paused, 'schedule-drone').status).toBe('SCHEDULED');

      await c.startAgent();
      const saga = await c.waitForStatus(id, ENDED, 20_000);
      expect(saga.status).toBe('COMPLETED');
      expect((await c.events(id)).filter((e) => e.type === 'StepFailed')).toEqual([]);
      await expectEachEffectOnce(c, id);
    },
    60_000,
  );
});
