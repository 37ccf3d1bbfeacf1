import { Redis } from 'ioredis';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { defineSaga } from '@saga-engine/sdk';
import { PrivateServices, privateRedisUnavailable } from '../scripts/support/private-servers';
import { crashAfterPivot, crashProbe } from '../scripts/support/probe-sagas';
import { AgentFleet } from './support/agent-fleet';
import { itIf } from './support/skip';
import { TcpProxy } from './support/tcp-proxy';
import { TestDatabase, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/**
 * The engine when a dependency hangs, goes away or works badly, with faults injected on servers of the test's own:
 *
 * - a private Redis stopped with SIGSTOP for 15 s (it accepts connections and answers nothing) under a steady load
 *   of starts: every start answers 201 within 1 s, every read within 1 s, and every saga finishes after it resumes;
 * - PostgreSQL behind a TCP proxy that forwards nothing for 20 s: every request answers within 2 s (503 with
 *   Retry-After where it needs the database), `/health` 503, and work resumes within 5 s of the heal;
 * - a private PostgreSQL stopped: 503, never 500, and a few log lines for the whole outage, not one per request;
 * - Redis refusing writes (out of memory) and PostgreSQL slower than DB_SLOW_MS: `/health` 200 `degraded`, and
 *   `saga_dependency_state` says which.
 *
 * The servers stopped, proxied or filled are the test's own (scripts/support/private-servers.ts, test/support/
 * tcp-proxy.ts); the tests stop nothing else, and only by pid.
 */

/** Two quick steps: a saga that finishes in milliseconds when nothing is in the way. */
const probe = defineSaga('ff-probe', { version: 1 })
  .step('first', { run: (ctx) => ({ attempt: ctx.attempt }) })
  .step('second', { run: () => ({ ok: true }) })
  .build();

const privateRedis = privateRedisUnavailable();

/** The engine's JSON log lines (pino), kept for assertions. */
function logCollector() {
  const lines: { level: number; time: number; msg: string; context?: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        try {
          lines.push(JSON.parse(line));
        } catch {
          // not a JSON line: not ours
        }
      }
      done();
    },
  });
  /** Warnings and errors logged from `from` (Date.now()) on. */
  const problems = (from: number, to = Infinity) =>
    lines.filter((l) => l.level >= 40 && l.time >= from && l.time <= to).map((l) => `[${l.context}] ${l.msg}`);
  return { lines, stream, problems };
}

interface Sample {
  what: string;
  status: number;
  ms: number;
  retryAfter?: string;
  code?: string;
  /** A start's saga id. */
  id?: string;
  at: number;
}

/** Runs `request` and records how long it took and what it answered (a request that throws counts as status 0). */
async function sample(
  samples: Sample[],
  what: string,
  request: () => PromiseLike<{ status: number; headers: Record<string, string>; body: any }>,
): Promise<Sample> {
  const at = Date.now();
  const started = performance.now();
  let entry: Sample;
  try {
    const res = await request();
    entry = {
      what,
      status: res.status,
      ms: performance.now() - started,
      retryAfter: res.headers['retry-after'],
      code: res.body?.code,
      id: typeof res.body?.id === 'string' ? res.body.id : undefined,
      at,
    };
  } catch (error) {
    entry = { what, status: 0, ms: performance.now() - started, code: String(error), at };
  }
  samples.push(entry);
  return entry;
}

/** Calls `fire` every `everyMs` without waiting for it (an open loop, like independent clients) until stopped. */
function steadyLoad(everyMs: number, fire: (n: number) => Promise<unknown>) {
  const running: Promise<unknown>[] = [];
  let n = 0;
  const timer = setInterval(() => running.push(fire(n++)), everyMs);
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      await Promise.all(running);
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const describeSlow = (samples: Sample[], limitMs: number) =>
  samples.filter((s) => s.ms >= limitMs).map((s) => `${s.what} ${s.status} ${Math.round(s.ms)} ms`);

describe('fail fast when a dependency hangs (e2e)', () => {
  itIf(!privateRedis, privateRedis ?? '')(
    'Redis stopped with SIGSTOP for 15 s under load: every start 201 within 1 s, every read within 1 s, all finish',
    async () => {
      const redis = await PrivateServices.create({ redis: true });
      const logs = logCollector();
      const dir = mkdtempSync(join(tmpdir(), 'saga-ff-'));
      let engine: TestEngine | undefined;
      let fleet: AgentFleet | undefined;
      const pid = redis.redisPid!;
      try {
        // The API and the supervisor here, without an agent, so that every start goes through the queue; the agent
        // a process of its own, as a service's would be (scripts/support/probe-agent.ts). (`queue: 'postgres'` only
        // keeps the test engine off the run's Redis: REDIS_URL names the private one.)
        engine = await startTestEngine({
          sagas: [crashProbe, crashAfterPivot],
          agent: false,
          queue: 'postgres',
          logs: logs.stream,
          env: {
            REDIS_URL: redis.redisUrl,
            SCHEDULE_TO_START_MS: '1000',
            SUPERVISOR_INTERVAL_MS: '200',
            LOG_LEVEL: 'log',
          },
        });
        fleet = new AgentFleet(engine, dir);
        await fleet.fill(1);
        const warm = await engine
          .as('operator')
          .post('/v1/sagas')
          .send({ type: 'crash-probe', input: { workMs: 0 } });
        expect(warm.status).toBe(201);
        await engine.waitForStatus(warm.body.id, ['COMPLETED']);

        const e = engine;
        const samples: Sample[] = [];
        const ids: string[] = [warm.body.id];
        const starts = steadyLoad(150, async () => {
          const s = await sample(samples, 'POST /v1/sagas', () =>
            e
              .as('operator')
              .post('/v1/sagas')
              .send({ type: 'crash-probe', input: { workMs: 0 } })
              .timeout(10_000),
          );
          if (s.id) ids.push(s.id);
        });
        const reads = steadyLoad(250, async (n) => {
          if (n % 2 === 0) {
            await sample(samples, 'GET /v1/sagas', () => e.as('viewer').get('/v1/sagas?limit=20').timeout(10_000));
          } else {
            const id = ids[ids.length - 1];
            await sample(samples, 'GET /v1/sagas/:id', () => e.as('viewer').get(`/v1/sagas/${id}`).timeout(10_000));
          }
        });
        await sleep(2_000);
        const stoppedAt = Date.now();
        process.kill(pid, 'SIGSTOP');
        try {
          await sleep(15_000);
        } finally {
          process.kill(pid, 'SIGCONT');
        }
        const resumedAt = Date.now();
        await sleep(2_000);
        await starts.stop();
        await reads.stop();

        const during = samples.filter((s) => s.at >= stoppedAt && s.at < resumedAt);
        const posts = samples.filter((s) => s.what === 'POST /v1/sagas');
        const gets = samples.filter((s) => s.what !== 'POST /v1/sagas');
        const p = (list: Sample[], q: number) =>
          Math.round([...list].sort((a, b) => a.ms - b.ms)[Math.floor((list.length - 1) * q)]?.ms ?? 0);
        process.stdout.write(
          `\nRedis SIGSTOP 15 s: ${posts.length} starts (max ${p(posts, 1)} ms, p99 ${p(posts, 0.99)} ms), ` +
            `${gets.length} reads (max ${p(gets, 1)} ms); ${during.length} requests while stopped\n`,
        );
        expect(during.filter((s) => s.what === 'POST /v1/sagas').length).toBeGreaterThan(80);
        expect(posts.filter((s) => s.status !== 201).map((s) => `${s.status} ${s.code}`)).toEqual([]);
        expect(gets.filter((s) => s.status !== 200).map((s) => `${s.what} ${s.status} ${s.code}`)).toEqual([]);
        const slowest = [...samples]
          .sort((a, b) => b.ms - a.ms)
          .slice(0, 8)
          .map((s) => `${s.what} ${Math.round(s.ms)} ms at ${((s.at - stoppedAt) / 1000).toFixed(1)} s`);
        process.stdout.write(`slowest (time from the stop): ${slowest.join('; ')}\n`);
        expect(describeSlow(samples, 1_000)).toEqual([]);

        // Every saga finishes once Redis is back: what could not be enqueued is re-driven by the supervisor.
        const all: { id: string; status: string }[] = await waitFor(
          async () => {
            const rows = await e.db.query<{ id: string; status: string }>(
              `SELECT id, status FROM saga_instance WHERE type = 'crash-probe'`,
            );
            return rows.length >= posts.length + 1 && rows.every((r) => r.status === 'COMPLETED') ? rows : undefined;
          },
          { timeoutMs: 60_000, intervalMs: 500, what: 'every saga to complete after Redis resumed' },
        );
        expect(all.length).toBe(posts.length + 1);

        // The rate limit failed open, and said so once (and once more when Redis answered again).
        const limiterLines = logs.lines.filter((l) => l.context === 'RateLimit').map((l) => l.msg);
        expect(limiterLines.filter((m) => /did not answer/.test(m))).toHaveLength(1);
        expect(limiterLines.filter((m) => /answers the rate limit again/.test(m))).toHaveLength(1);
        // Redis's outage was logged once (not once per start), and its end once.
        const outage = logs.problems(stoppedAt, resumedAt + 2_000);
        process.stdout.write(
          `warnings and errors while Redis was stopped:\n${outage.map((l) => `  ${l}`).join('\n')}\n`,
        );
        expect(outage.length).toBeLessThanOrEqual(4);
      } finally {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // already gone
        }
        await fleet?.stop();
        await engine?.close().catch(() => undefined);
        await redis.dispose();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );

  it('PostgreSQL blackholed for 20 s: every request answers within 2 s (503 and Retry-After), /health 503, work resumes within 5 s', async () => {
    const db = new TestDatabase();
    await db.create();
    const direct = new URL(db.url);
    const proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port || 5432) });
    const logs = logCollector();
    let engine: TestEngine | undefined;
    try {
      // The engine reaches PostgreSQL only through the proxy (its pool, BullMQ's when the jobs are in PostgreSQL,
      // the watchdog's connection); the test reads the database directly.
      engine = await startTestEngine({
        sagas: [probe],
        db,
        logs: logs.stream,
        env: {
          DATABASE_URL: proxy.via(db.url),
          SCHEDULE_TO_START_MS: '1000',
          SUPERVISOR_INTERVAL_MS: '200',
          LOG_LEVEL: 'log',
        },
      });
      const e = engine;
      const before = await e.as('operator').post('/v1/sagas').send({ type: 'ff-probe', input: {} });
      expect(before.status).toBe(201);
      await e.waitForStatus(before.body.id, ['COMPLETED']);

      const samples: Sample[] = [];
      const requests: [string, () => PromiseLike<any>][] = [
        ['POST /v1/sagas', () => e.as('operator').post('/v1/sagas').send({ type: 'ff-probe', input: {} })],
        ['GET /v1/sagas/:id', () => e.as('viewer').get(`/v1/sagas/${before.body.id}`)],
        ['GET /v1/sagas', () => e.as('viewer').get('/v1/sagas?limit=20')],
        ['GET /v1/sagas/:id/events', () => e.as('viewer').get(`/v1/sagas/${before.body.id}/events`)],
        [
          'POST /v1/sagas/:id/cancel',
          () => e.as('operator').post(`/v1/sagas/${before.body.id}/cancel`).send({ reason: 'fail-fast test' }),
        ],
        ['GET /health', () => e.http().get('/health')],
        ['GET /metrics', () => e.as('viewer').get('/metrics')],
      ];
      const blackholedAt = Date.now();
      proxy.blackhole();
      const load = steadyLoad(150, (n) => {
        const [what, request] = requests[n % requests.length];
        return sample(samples, what, () => (request() as any).timeout(15_000));
      });
      await sleep(20_000);
      await load.stop();
      const healedAt = Date.now();
      proxy.heal();

      const p = (q: number) =>
        Math.round([...samples].sort((a, b) => a.ms - b.ms)[Math.floor((samples.length - 1) * q)]?.ms ?? 0);
      process.stdout.write(
        `\nPostgreSQL blackholed 20 s: ${samples.length} requests, max ${p(1)} ms, p99 ${p(0.99)} ms, ` +
          `median ${p(0.5)} ms\n`,
      );
      expect(describeSlow(samples, 2_000)).toEqual([]);
      const needDatabase = samples.filter((s) => !['GET /health', 'GET /metrics'].includes(s.what));
      expect(
        needDatabase
          .filter((s) => s.status !== 503 || s.code !== 'UNAVAILABLE' || !(Number(s.retryAfter) >= 1))
          .map((s) => `${s.what} ${s.status} ${s.code} retry-after ${s.retryAfter}`),
      ).toEqual([]);
      expect([...new Set(samples.filter((s) => s.what === 'GET /health').map((s) => s.status))]).toEqual([503]);
      expect([...new Set(samples.filter((s) => s.what === 'GET /metrics').map((s) => s.status))]).toEqual([200]);
      const metrics = await e.as('viewer').get('/metrics');
      expect(metrics.status).toBe(200);

      // Work resumes: within 5 s of the heal a new saga is accepted and completes, and the one the outage caught
      // (if any start made it in before the proxy stopped) finishes too.
      const resumed = await waitFor(
        async () => {
          const res = await e.as('operator').post('/v1/sagas').send({ type: 'ff-probe', input: {} }).timeout(5_000);
          if (res.status !== 201) return undefined;
          const saga = await e.waitForStatus(res.body.id, ['COMPLETED'], 10_000);
          return saga;
        },
        { timeoutMs: 10_000, intervalMs: 100, what: 'a saga to start and complete after the heal' },
      );
      const resumedMs = Date.now() - healedAt;
      process.stdout.write(`PostgreSQL healed: a new saga completed ${resumedMs} ms later\n`);
      expect(resumed.status).toBe('COMPLETED');
      expect(resumedMs).toBeLessThan(5_000);
      expect((await e.http().get('/health')).status).toBe(200);

      // The outage is in the log once (and its end once), not once per request.
      const outage = logs.problems(blackholedAt, healedAt + 1_000);
      expect(outage.filter((l) => /PostgreSQL is unavailable/.test(l))).toHaveLength(1);
      expect(outage.length).toBeLessThanOrEqual(4);
    } finally {
      proxy.heal();
      await engine?.close().catch(() => undefined);
      await proxy.close();
      if (!engine) await db.drop();
    }
  }, 120_000);

  it('PostgreSQL stopped: 503 with Retry-After, never 500, a few log lines for the whole outage; all well once back', async () => {
    const services = await PrivateServices.create({ pg: true });
    const logs = logCollector();
    let engine: TestEngine | undefined;
    try {
      engine = await startTestEngine({
        sagas: [probe],
        pgAdminUrl: services.pgAdminUrl,
        logs: logs.stream,
        env: { SUPERVISOR_INTERVAL_MS: '200', SCHEDULE_TO_START_MS: '1000', LOG_LEVEL: 'log' },
      });
      const e = engine;
      const first = await e.as('operator').post('/v1/sagas').send({ type: 'ff-probe', input: {} });
      await e.waitForStatus(first.body.id, ['COMPLETED']);

      const stoppedAt = Date.now();
      await services.stop();
      const samples: Sample[] = [];
      for (let i = 0; i < 30; i++) {
        await sample(samples, 'POST /v1/sagas', () =>
          e.as('operator').post('/v1/sagas').send({ type: 'ff-probe', input: {} }).timeout(10_000),
        );
        await sample(samples, 'GET /v1/sagas/:id', () =>
          e.as('viewer').get(`/v1/sagas/${first.body.id}`).timeout(10_000),
        );
        await sample(samples, 'GET /v1/sagas', () => e.as('viewer').get('/v1/sagas').timeout(10_000));
        await sleep(150);
      }
      const health = await e.http().get('/health');
      expect(health.status).toBe(503);
      expect(
        samples
          .filter((s) => s.status !== 503 || s.code !== 'UNAVAILABLE' || !(Number(s.retryAfter) >= 1))
          .map((s) => `${s.what} ${s.status} ${s.code}`),
      ).toEqual([]);
      expect(describeSlow(samples, 2_000)).toEqual([]);
      const restartAt = Date.now();
      const outage = logs.problems(stoppedAt, restartAt);
      process.stdout.write(
        `\nPostgreSQL stopped: ${samples.length} requests answered 503; ${outage.length} warning or error lines:\n` +
          `${outage.map((l) => `  ${l}`).join('\n')}\n`,
      );
      expect(outage.length).toBeLessThanOrEqual(3);

      await services.start();
      await waitFor(async () => ((await e.http().get('/health')).status === 200 ? true : undefined), {
        timeoutMs: 20_000,
        what: '/health 200 again',
      });
      const after = await e.as('operator').post('/v1/sagas').send({ type: 'ff-probe', input: {} });
      expect(after.status).toBe(201);
      expect((await e.waitForStatus(after.body.id, ['COMPLETED'])).status).toBe('COMPLETED');
      expect(logs.lines.some((l) => l.time >= restartAt && /PostgreSQL is available again/.test(l.msg))).toBe(true);
    } finally {
      await engine?.close().catch(() => undefined);
      await services.dispose();
    }
  }, 120_000);

  itIf(!privateRedis, privateRedis ?? '')(
    '/health says degraded (200) while Redis refuses writes or PostgreSQL is slow, and the gauge says which',
    async () => {
      const redis = await PrivateServices.create({ redis: true });
      const db = new TestDatabase();
      await db.create();
      const direct = new URL(db.url);
      const proxy = await TcpProxy.start({ host: direct.hostname, port: Number(direct.port || 5432) });
      let engine: TestEngine | undefined;
      const admin = new Redis(redis.redisUrl);
      const gauge = async (dependency: string) => {
        const text: string = (await engine!.as('viewer').get('/metrics')).text;
        const match = new RegExp(`^saga_dependency_state\\{dependency="${dependency}"\\} (\\d+)`, 'm').exec(text);
        return match ? Number(match[1]) : undefined;
      };
      try {
        engine = await startTestEngine({
          sagas: [probe],
          db,
          queue: 'postgres',
          env: { DATABASE_URL: proxy.via(db.url), REDIS_URL: redis.redisUrl, DB_SLOW_MS: '300' },
        });
        const e = engine;
        expect((await e.http().get('/health')).body.status).toBe('ok');
        await waitFor(async () => ((await gauge('redis')) === 0 && (await gauge('postgres')) === 0) || undefined, {
          what: 'both dependencies up in the gauge',
        });

        // Redis out of memory under noeviction: it answers, but refuses every write.
        await admin.config('SET', 'maxmemory', '1');
        try {
          const degraded = await waitFor(
            async () => {
              const res = await e.as('viewer').get('/health');
              return res.body.status === 'degraded' ? res : undefined;
            },
            { timeoutMs: 5_000, what: '/health degraded' },
          );
          expect(degraded.status).toBe(200);
          expect(degraded.body.error.queue).toMatchObject({
            status: 'degraded',
            message: expect.stringMatching(/OOM/),
          });
          await waitFor(async () => (await gauge('redis')) === 1 || undefined, { what: 'the gauge: redis 1' });
          // Starts still answer: the supervisor re-drives what could not be enqueued, once Redis takes writes again.
          const start = await e.as('operator').post('/v1/sagas').send({ type: 'ff-probe', input: {} });
          expect(start.status).toBe(201);
        } finally {
          await admin.config('SET', 'maxmemory', '0');
        }
        await waitFor(async () => ((await e.http().get('/health')).body.status === 'ok' ? true : undefined), {
          what: '/health ok again',
        });
        await waitFor(async () => (await gauge('redis')) === 0 || undefined, { what: 'the gauge: redis 0' });

        // PostgreSQL slow: 250 ms each way through the proxy, a SELECT 1 takes about half a second (over 300 ms).
        proxy.delay(250);
        try {
          const slow = await waitFor(
            async () => {
              const res = await e.as('viewer').get('/health').timeout(5_000);
              return res.body.status === 'degraded' ? res : undefined;
            },
            { timeoutMs: 10_000, what: '/health degraded by a slow PostgreSQL' },
          );
          expect(slow.status).toBe(200);
          expect(slow.body.error.postgres).toMatchObject({ status: 'degraded', latencyMs: expect.any(Number) });
          await waitFor(async () => (await gauge('postgres')) === 1 || undefined, {
            timeoutMs: 10_000,
            what: 'the gauge: postgres 1',
          });
        } finally {
          proxy.delay(0);
        }
        await waitFor(async () => (await gauge('postgres')) === 0 || undefined, {
          timeoutMs: 10_000,
          what: 'the gauge: postgres 0',
        });
      } finally {
        admin.disconnect();
        await engine?.close().catch(() => undefined);
        await proxy.close();
        if (!engine) await db.drop();
        await redis.dispose();
      }
    },
    120_000,
  );
});
