/**
 * `npm run bench` (not part of the tests): the engine's cost per saga, measured against this machine's own limits
 * in the same run. See README "Performance".
 *
 * 1. Baselines: durable single-row commits/s from 16 connections; raw BullMQ 5-job chains/s (50 in flight).
 * 2. Scenarios on one engine process (scheduler + agent + supervisor, scripts/bench/bench-engine.ts) with the
 *    bench saga (five no-op steps, each with a compensation): (a) 2,000 sagas, 50 in flight; (b) 2,000, 200 in
 *    flight; (c) 300 one at a time; (d) 2,000 failing at step 4 and compensating 3 steps (50 in flight).
 *    Per scenario: sagas/s, saga latency p50/p99, step overhead p50/p99, PostgreSQL transactions per saga
 *    (pg_stat_database of the bench's own database) and WAL syncs per saga (pg_stat_wal: cluster-wide), Redis
 *    commands per saga (INFO commandstats: server-wide), Node CPU ms per saga, peak RSS.
 * 3. Retention/RSS: 20,000 sagas; RSS after 2,000 and after 20,000 (after a GC); Redis used_memory before/after.
 * 4. Scale-out: 2 orchestrators (HTTP) + 1, 2, 4 agent processes; throughput and correctness (every saga in its
 *    expected status, no step attempt invoked twice).
 * 5. Timers: 100,000 sagas sleeping an hour (pending timers): the engine's RSS (after a GC) before and after, a
 *    supervisor sweep's time with them pending (p50/max of 20), and 2,000 sagas sleeping 2 s: the delay between
 *    each timer's due time and the dispatch of its next step (p50, p99; database clock). SUPERVISOR_INTERVAL_MS is
 *    the default, 1 s.
 *
 * Writes bench/results/<YYYY-MM-DD>.md; the last line printed is
 * `RESULT a=<sagas/s> b=<sagas/s> c_p50_ms=<ms> d=<sagas/s> tx_per_saga=<n>`.
 * Uses DATABASE_URL (its server; a fresh database is created and dropped) and REDIS_URL (a fresh key prefix,
 * removed at the end) when set, else 127.0.0.1 defaults. `--quick` runs smaller counts (a smoke run).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { Queue, Worker } from 'bullmq';
import { dropRedisPrefix, freePort, poll } from './support/cluster';

// The repository: this file runs from dist/tools/scripts/ (and wrote its results under dist/tools/ before).
const ROOT = resolve(__dirname, '..').replace(/[\\/]dist([\\/]tools)?$/, '');
const ENGINE_JS = join(__dirname, 'bench', 'bench-engine.js');
const QUICK = process.argv.includes('--quick');
const SKIP_SCALE = process.argv.includes('--no-scale');
/** Only the timers line (on a fresh engine process), e.g. to measure timers on a deployment's database. */
const TIMERS_ONLY = process.argv.includes('--timers-only');
const API_KEY = 'bench-admin-key-0123456789abcdef0123';

const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const dbName = `saga_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const prefix = `bench-${randomBytes(5).toString('hex')}`;
const databaseUrl = withDatabase(adminUrl, dbName);

const scale = (n: number) => (QUICK ? Math.max(20, Math.round(n / 10)) : n);
const log = (line: string) => process.stdout.write(`${line}\n`);

function withDatabase(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

// ---------------------------------------------------------------------------------------------------------------
// Engine processes (IPC)
// ---------------------------------------------------------------------------------------------------------------

class EngineChild {
  private seq = 0;
  private readonly pending = new Map<number, (body: any) => void>();
  readonly ready: Promise<void>;
  readonly child: ChildProcess;

  constructor(
    readonly role: 'all' | 'orchestrator' | 'agent',
    env: Record<string, string>,
  ) {
    this.child = spawn(
      process.execPath,
      [
        '--expose-gc',
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
        ENGINE_JS,
        role,
      ],
      {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    this.ready = new Promise((resolveReady, reject) => {
      this.child.once('exit', (code) => reject(new Error(`bench engine (${role}) exited with ${code}`)));
      this.child.on('message', (m: any) => {
        if (m.ready) resolveReady();
        else this.pending.get(m.seq)?.(m);
      });
    });
  }

  rpc<T = any>(cmd: string, body: Record<string, unknown> = {}): Promise<T> {
    const seq = ++this.seq;
    return new Promise((resolveReply, reject) => {
      this.pending.set(seq, (m) => {
        this.pending.delete(seq);
        if (m.error) reject(new Error(m.error));
        else resolveReply(m);
      });
      this.child.send({ cmd, seq, ...body });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    await Promise.race([this.rpc('stop').catch(() => undefined), new Promise((r) => setTimeout(r, 15_000))]);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}

function engineEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    SAGA_REDIS_PREFIX: prefix,
    SAGA_API_KEYS: `bench:${API_KEY}:admin`,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_PER_MINUTE: '0',
    // As the Dockerfile sets it: glibc's per-thread malloc arenas otherwise let RSS creep up with native buffers
    // (the JS heap stays flat); see README "Performance".
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------------------------------------------

interface Counters {
  xacts: number;
  walSyncs: number;
  walWrites: number;
  redisCalls: number;
}

async function counters(pg: Client, redis: Redis): Promise<Counters> {
  const [db] = (
    await pg.query(`SELECT xact_commit + xact_rollback AS x FROM pg_stat_database WHERE datname = $1`, [dbName])
  ).rows;
  const [wal] = (await pg.query(`SELECT wal_sync, wal_write FROM pg_stat_wal`)).rows;
  const stats = await redis.info('commandstats');
  let calls = 0;
  for (const m of stats.matchAll(/calls=(\d+)/g)) calls += Number(m[1]);
  return { xacts: Number(db.x), walSyncs: Number(wal.wal_sync), walWrites: Number(wal.wal_write), redisCalls: calls };
}

/**
 * PostgreSQL 15 publishes a backend's counters when it goes idle, but at most once a second and, for an idle
 * backend with something pending, within 10 s (PGSTAT_IDLE_INTERVAL): wait that out between scenarios.
 */
const settle = () => new Promise((r) => setTimeout(r, QUICK ? 1_500 : 11_000));

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const f = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

// ---------------------------------------------------------------------------------------------------------------
// Baselines
// ---------------------------------------------------------------------------------------------------------------

async function commitBaseline(seconds: number): Promise<number> {
  const setup = new Client({ connectionString: databaseUrl });
  await setup.connect();
  await setup.query(`CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, v int NOT NULL)`);
  const clients = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const c = new Client({ connectionString: databaseUrl });
      await c.connect();
      return c;
    }),
  );
  let commits = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (c, i) => {
      while (performance.now() < until) {
        await c.query(`INSERT INTO bench_commit (v) VALUES ($1)`, [i]);
        commits++;
      }
    }),
  );
  const rate = commits / ((performance.now() - t0) / 1000);
  await Promise.all(clients.map((c) => c.end()));
  await setup.query(`DROP TABLE bench_commit`);
  await setup.end();
  return rate;
}

/** Milliseconds per durable single-row commit from ONE connection, one after another (no group commit). */
async function singleCommitLatency(n: number): Promise<number> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  await c.query(`CREATE TABLE IF NOT EXISTS bench_single (id bigserial PRIMARY KEY, v int NOT NULL)`);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await c.query(`INSERT INTO bench_single (v) VALUES ($1)`, [i]);
  const ms = (performance.now() - t0) / n;
  await c.query(`DROP TABLE bench_single`);
  await c.end();
  return ms;
}

async function bullmqChainBaseline(chains: number, inflight: number): Promise<number> {
  const connection = { url: redisUrl, maxRetriesPerRequest: null } as const;
  const qPrefix = `${prefix}-raw`;
  const producer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const consumer = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('chain', { connection: producer, prefix: qPrefix });
  let done = 0;
  let started = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  const opts = { removeOnComplete: true, removeOnFail: true };
  const startChain = () => {
    if (started >= chains) return;
    started++;
    void queue.add('hop', { hop: 1 }, opts);
  };
  const worker = new Worker(
    'chain',
    async (job) => {
      const hop = job.data.hop as number;
      if (hop < 5) await queue.add('hop', { hop: hop + 1 }, opts);
      else {
        done++;
        if (done === chains) finish();
        else startChain();
      }
    },
    { connection: consumer, prefix: qPrefix, concurrency: inflight },
  );
  void connection;
  await worker.waitUntilReady();
  const t0 = performance.now();
  for (let i = 0; i < inflight; i++) startChain();
  await all;
  const rate = chains / ((performance.now() - t0) / 1000);
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  // BullMQ does not close connections it was given.
  producer.disconnect();
  consumer.disconnect();
  return rate;
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------------------------

interface ScenarioResult {
  name: string;
  n: number;
  inflight: number;
  rate: number;
  p50: number;
  p99: number;
  stepP50: number;
  stepP99: number;
  txPerSaga: number;
  walSyncsPerSaga: number;
  redisPerSaga: number;
  cpuMsPerSaga: number;
  peakRss: number;
  statuses: Record<string, number>;
}

async function scenario(
  engine: EngineChild,
  pg: Client,
  redis: Redis,
  name: string,
  n: number,
  inflight: number,
  failAt?: number,
): Promise<ScenarioResult> {
  await settle();
  const before = await counters(pg, redis);
  const run = await engine.rpc('run', { n, inflight, ...(failAt ? { failAt } : {}) });
  await settle();
  const after = await counters(pg, redis);
  const expected = failAt ? 'COMPENSATED' : 'COMPLETED';
  if ((run.statuses[expected] ?? 0) !== n) {
    throw new Error(`scenario ${name}: expected ${n} ${expected}, got ${JSON.stringify(run.statuses)}`);
  }
  const result: ScenarioResult = {
    name,
    n,
    inflight,
    rate: n / (run.wallMs / 1000),
    p50: pct(run.latencies, 50),
    p99: pct(run.latencies, 99),
    stepP50: pct(run.stepGaps, 50),
    stepP99: pct(run.stepGaps, 99),
    txPerSaga: (after.xacts - before.xacts) / n,
    walSyncsPerSaga: (after.walSyncs - before.walSyncs) / n,
    redisPerSaga: (after.redisCalls - before.redisCalls) / n,
    cpuMsPerSaga: run.cpuMs / n,
    peakRss: run.peakRss,
    statuses: run.statuses,
  };
  log(
    `  ${name}: ${f(result.rate)} sagas/s, p50 ${f(result.p50)} ms, p99 ${f(result.p99)} ms, step ${f(result.stepP50, 2)}/${f(result.stepP99, 2)} ms, ` +
      `${f(result.txPerSaga, 2)} tx, ${f(result.walSyncsPerSaga, 2)} WAL syncs, ${f(result.redisPerSaga)} Redis cmds, ` +
      `${f(result.cpuMsPerSaga, 2)} CPU ms per saga, peak RSS ${mb(result.peakRss)}`,
  );
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Scale-out
// ---------------------------------------------------------------------------------------------------------------

interface ScaleResult {
  agents: number;
  orchestrators: number;
  n: number;
  rate: number;
  ok: boolean;
  detail: string;
}

async function scaleOut(pg: Client, agents: number, n: number): Promise<ScaleResult> {
  const ports = [await freePort(), await freePort()];
  const env = engineEnv({ SUPERVISOR_INTERVAL_MS: '1000', DB_POOL_SIZE: '6' });
  const orchestrators = ports.map((port) => new EngineChild('orchestrator', { ...env, PORT: String(port) }));
  const workers = Array.from({ length: agents }, () => new EngineChild('agent', env));
  const processes = [...orchestrators, ...workers];
  try {
    await Promise.all(processes.map((p) => p.ready));
    await pg.query(`TRUNCATE saga_instance CASCADE`);
    // Every tenth saga fails at step 4 and compensates.
    const failing = (i: number) => i % 10 === 9;
    const t0 = performance.now();
    let next = 0;
    const ids: string[] = new Array(n);
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < n) {
          const i = next++;
          const port = ports[i % ports.length];
          const res = await fetch(`http://127.0.0.1:${port}/v1/sagas`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
            body: JSON.stringify({ type: 'bench-five-steps', input: failing(i) ? { failAt: 4 } : {} }),
          });
          if (res.status !== 201) throw new Error(`POST /v1/sagas: ${res.status} ${await res.text()}`);
          ids[i] = ((await res.json()) as { id: string }).id;
        }
      }),
    );
    await poll(
      async () => {
        const [row] = (await pg.query(`SELECT count(*)::int AS n FROM saga_instance WHERE completed_at IS NOT NULL`))
          .rows;
        return row.n >= n;
      },
      { timeoutMs: 300_000, intervalMs: 25, what: `${n} sagas to end` },
    );
    const rate = n / ((performance.now() - t0) / 1000);
    // Correctness: each saga in its expected status; every attempt invoked once, across all processes.
    const rows = (await pg.query(`SELECT id, status FROM saga_instance`)).rows as { id: string; status: string }[];
    const status = new Map(rows.map((r) => [r.id, r.status]));
    let wrong = 0;
    ids.forEach((id, i) => {
      if (status.get(id) !== (failing(i) ? 'COMPENSATED' : 'COMPLETED')) wrong++;
    });
    const stats = await Promise.all(processes.map((p) => p.rpc('stats')));
    const seen = new Map<string, number>();
    let doubles = 0;
    for (const s of stats) {
      doubles += s.doubles.length;
      for (const k of s.keys as string[]) seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    for (const count of seen.values()) if (count > 1) doubles++;
    const failed = ids.filter((_, i) => failing(i)).length;
    const expectedKeys = (n - failed) * 5 + failed * (4 + 3);
    const ok = wrong === 0 && doubles === 0 && seen.size === expectedKeys;
    const detail = `${wrong} in a wrong status, ${doubles} attempts run twice, ${seen.size}/${expectedKeys} attempts run`;
    log(`  ${agents} agent(s) + 2 orchestrators: ${f(rate)} sagas/s; ${detail}${ok ? '' : '  <-- FAILED'}`);
    return { agents, orchestrators: 2, n, rate, ok, detail };
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const began = new Date();
  log(`bench: database ${dbName}, Redis prefix ${prefix}${QUICK ? ' (quick)' : ''}`);
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const pg = new Client({ connectionString: databaseUrl });
  const redis = new Redis(redisUrl);
  let engine: EngineChild | undefined;
  try {
    await pg.connect();
    const redisMemStart = await usedMemory(redis);

    if (TIMERS_ONLY) {
      engine = new EngineChild('all', engineEnv());
      await engine.ready;
      log('timers (alone, on a fresh engine process):');
      await timersLine(engine, pg, scale(100_000), scale(2_000));
      return;
    }

    log('baselines:');
    const commits = await commitBaseline(QUICK ? 1 : 3);
    log(`  durable single-row commits from 16 connections: ${f(commits, 0)}/s`);
    const commitMs = await singleCommitLatency(scale(300));
    log(`  one durable single-row commit from one connection: ${f(commitMs, 2)} ms`);
    const chains = await bullmqChainBaseline(scale(2000), 50);
    log(`  raw BullMQ 5-job chains (50 in flight): ${f(chains, 0)}/s`);

    log('scenarios (one engine process: scheduler + agent + supervisor):');
    engine = new EngineChild('all', engineEnv());
    await engine.ready;
    await engine.rpc('run', { n: scale(300), inflight: 50 }); // warm-up (JIT, pools), not reported
    const a = await scenario(engine, pg, redis, '(a) 50 in flight', scale(2000), 50);
    const b = await scenario(engine, pg, redis, '(b) 200 in flight', scale(2000), 200);
    const c = await scenario(engine, pg, redis, '(c) one at a time', scale(300), 1);
    const d = await scenario(engine, pg, redis, '(d) fail at step 4', scale(2000), 50, 4);

    const big = scale(20000);
    const mark = scale(2000);
    const rssRun = await engine.rpc('run', { n: big, inflight: 200, rssAt: [mark, big] });
    const [first, last] = rssRun.rssMarks as { rss: number; heapUsed: number; heapTotal: number }[];
    const [rss2k, rss20k, heap2k, heap20k] = [first.rss, last.rss, first.heapUsed, last.heapUsed];
    const [v8k2k, v8k20k] = [first.heapTotal, last.heapTotal];
    const rssGrowth = (rss20k - rss2k) / rss2k;

    log('timers:');
    const timers = await timersLine(engine, pg, scale(100_000), scale(2_000));
    await engine.stop();
    engine = undefined;
    await poll(async () => (await redis.keys(`${prefix}:*`)).length <= 10, {
      timeoutMs: 10_000,
      what: 'queue to empty',
    }).catch(() => undefined);
    const redisMemEnd = await usedMemory(redis);
    log('retention / RSS:');
    log(
      `  RSS after ${mark}: ${mb(rss2k)}, after ${big}: ${mb(rss20k)} (${f(rssGrowth * 100)} %); ` +
        `JS heap ${mb(heap2k)} -> ${mb(heap20k)} (V8 heap committed ${mb(v8k2k)} -> ${mb(v8k20k)}); ` +
        `Redis used_memory ${mb(redisMemStart)} -> ${mb(redisMemEnd)} (server-wide); ${rssRun.statuses.COMPLETED} completed`,
    );

    const scaled: ScaleResult[] = [];
    if (!SKIP_SCALE) {
      log('scale-out (2 orchestrators over HTTP, N agents, 10 % of sagas compensate):');
      for (const agents of [1, 2, 4]) scaled.push(await scaleOut(pg, agents, scale(2000)));
    }

    const report = renderReport({
      began,
      commits,
      commitMs,
      chains,
      scenarios: [a, b, c, d],
      rss2k,
      heap2k,
      heap20k,
      v8k2k,
      v8k20k,
      rss20k,
      rssGrowth,
      big,
      mark,
      redisMemStart,
      redisMemEnd,
      scaled,
      timers,
    });
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${began.toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}.md`);
    writeFileSync(file, report);
    log(`results: ${file}`);
    const failedScale = scaled.filter((s) => !s.ok).length;
    if (failedScale > 0) process.exitCode = 1;
    log(
      `RESULT a=${f(a.rate, 0)} b=${f(b.rate, 0)} c_p50_ms=${f(c.p50, 1)} d=${f(d.rate, 0)} tx_per_saga=${f(a.txPerSaga, 2)}`,
    );
  } finally {
    await engine?.stop().catch(() => undefined);
    await pg.end().catch(() => undefined);
    await dropRedisPrefix(redisUrl, prefix).catch(() => undefined);
    await dropRedisPrefix(redisUrl, `${prefix}-raw`).catch(() => undefined);
    redis.disconnect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}

interface TimersResult {
  pending: number;
  due: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  rssTenth: number;
  heapTenth: number;
  /** RSS after a GC of a fresh engine process that has swept 10 times: with no timer, and with them all pending. */
  freshRssEmpty: number;
  freshRssLoaded: number;
  freshSweepP50: number;
  pendingPerSecond: number;
  sweepP50: number;
  sweepMax: number;
  delayP50: number;
  delayP99: number;
  delayMax: number;
}

async function timersLine(engine: EngineChild, pg: Client, pending: number, due: number): Promise<TimersResult> {
  // A fresh engine before any timer, for comparison with one that starts with them all pending (below).
  const empty = new EngineChild('all', engineEnv());
  await empty.ready;
  const idle = await empty.rpc('sweep-memory');
  await empty.stop();
  const run = await engine.rpc('timers', { pending, due });
  const fresh = new EngineChild('all', engineEnv());
  await fresh.ready;
  const loaded = await fresh.rpc('sweep-memory');
  await fresh.stop();
  const [{ n }] = (
    await pg.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM saga_step WHERE status = 'SLEEPING' AND deadline_at IS NOT NULL`,
    )
  ).rows;
  if (n < pending) throw new Error(`timers: expected ${pending} pending timers, found ${n}`);
  const delays = (
    await pg.query<{ ms: number }>(
      `SELECT extract(epoch FROM (a.started_at - (n.output->>'dueAt')::timestamptz)) * 1000 AS ms
         FROM saga_step n JOIN saga_step a ON a.saga_id = n.saga_id AND a.name = 'after'
         JOIN saga_instance i ON i.id = n.saga_id
        WHERE i.type = 'bench-timer-due' AND n.name = 'nap' AND a.started_at IS NOT NULL`,
    )
  ).rows.map((r) => Number(r.ms));
  if (delays.length !== due) throw new Error(`timers: expected ${due} woken sagas, found ${delays.length}`);
  const result: TimersResult = {
    pending,
    due,
    rssBefore: run.rssBefore,
    rssAfter: run.rssAfter,
    heapBefore: run.heapBefore,
    heapAfter: run.heapAfter,
    rssTenth: run.rssTenth,
    heapTenth: run.heapTenth,
    freshRssEmpty: idle.rss,
    freshRssLoaded: loaded.rss,
    freshSweepP50: pct(loaded.sweepMs, 50),
    pendingPerSecond: pending / (run.pendingWallMs / 1000),
    sweepP50: pct(run.sweepMs, 50),
    sweepMax: Math.max(...(run.sweepMs as number[])),
    delayP50: pct(delays, 50),
    delayP99: pct(delays, 99),
    delayMax: Math.max(...delays),
  };
  log(
    `  ${pending} pending timers (started at ${f(result.pendingPerSecond, 0)}/s): RSS ${mb(result.rssBefore)} -> ` +
      `${mb(result.rssTenth)} at ${pending / 10} -> ${mb(result.rssAfter)}, JS heap after a GC ` +
      `${mb(result.heapBefore)} -> ${mb(result.heapTenth)} -> ${mb(result.heapAfter)}; a fresh engine's RSS ` +
      `${mb(result.freshRssEmpty)} with none pending, ${mb(result.freshRssLoaded)} with them (sweep ` +
      `${f(result.freshSweepP50, 1)} ms); a sweep with them pending ${f(result.sweepP50, 1)} ms (p50, max ${f(result.sweepMax, 1)}); ` +
      `${due} timers of 2 s: due -> next step dispatched p50 ${f(result.delayP50, 0)} ms, p99 ${f(result.delayP99, 0)} ms, ` +
      `max ${f(result.delayMax, 0)} ms (sweep interval 1000 ms)`,
  );
  return result;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
}

function renderReport(r: {
  began: Date;
  commits: number;
  commitMs: number;
  chains: number;
  scenarios: ScenarioResult[];
  rss2k: number;
  heap2k: number;
  heap20k: number;
  v8k2k: number;
  v8k20k: number;
  rss20k: number;
  rssGrowth: number;
  big: number;
  mark: number;
  redisMemStart: number;
  redisMemEnd: number;
  scaled: ScaleResult[];
  timers: TimersResult;
}): string {
  const lines = [
    `# Bench ${r.began.toISOString()}${QUICK ? ' (quick)' : ''}`,
    '',
    `Machine: ${cpus().length} cores, Node ${process.version}. Baselines in the same run: ` +
      `${f(r.commits, 0)} durable single-row commits/s from 16 connections; ${f(r.commitMs, 2)} ms per durable ` +
      `commit from one connection; ${f(r.chains, 0)} raw BullMQ 5-job chains/s (50 in flight).`,
    '',
    `(c) one at a time needs six durable commits in a row per saga (the start and one per step): its floor here is ` +
      `about ${f(6 * r.commitMs, 1)} ms; its p50 is ${f(r.scenarios[2].p50 / (6 * r.commitMs), 2)} times that.`,
    '',
    '| scenario | sagas | in flight | sagas/s | vs commits/s ÷ 6 | vs BullMQ chains/s | p50 ms | p99 ms | step p50/p99 ms | PG tx/saga | WAL syncs/saga | Redis cmds/saga | CPU ms/saga | peak RSS |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.scenarios.map(
      (s) =>
        `| ${s.name} | ${s.n} | ${s.inflight} | ${f(s.rate)} | ${f(s.rate / (r.commits / 6), 2)} | ${f(s.rate / r.chains, 2)} | ${f(s.p50)} | ${f(s.p99)} | ` +
        `${f(s.stepP50, 2)} / ${f(s.stepP99, 2)} | ${f(s.txPerSaga, 2)} | ${f(s.walSyncsPerSaga, 2)} | ${f(s.redisPerSaga)} | ${f(s.cpuMsPerSaga, 2)} | ${mb(s.peakRss)} |`,
    ),
    '',
    '"vs commits/s ÷ 6": sagas/s over the rate at which this PostgreSQL can commit six durable single-row',
    'transactions (the engine writes one per step plus the start); "vs BullMQ chains/s": over raw BullMQ 5-job chains.',
    'PG tx: pg_stat_database of the bench database (includes the supervisor sweeps); WAL syncs: pg_stat_wal,',
    'cluster-wide; Redis commands: INFO commandstats, server-wide (other clients of the same servers count too).',
    '',
    `Retention/RSS: RSS after ${r.mark} sagas ${mb(r.rss2k)}, after ${r.big} ${mb(r.rss20k)} ` +
      `(${f(r.rssGrowth * 100)} %, target within 20 %: ${Math.abs(r.rssGrowth) <= 0.2 ? 'met' : 'NOT met'}; ` +
      `JS heap after a GC ${mb(r.heap2k)} and ${mb(r.heap20k)}, of a V8 heap committed ${mb(r.v8k2k)} and ` +
      `${mb(r.v8k20k)}); ` +
      `Redis used_memory ${mb(r.redisMemStart)} before, ${mb(r.redisMemEnd)} after.`,
    '',
  ];
  const t = r.timers;
  lines.push(
    `Timers: ${t.pending} pending timers (sagas sleeping 1 h, started at ${f(t.pendingPerSecond, 0)}/s): the engine's ` +
      `RSS after a GC ${mb(t.rssBefore)} before, ${mb(t.rssTenth)} with a tenth of them, ${mb(t.rssAfter)} with all ` +
      `(JS heap ${mb(t.heapBefore)}, ${mb(t.heapTenth)}, ${mb(t.heapAfter)}: what grows from a tenth to all is ` +
      `their cost; RSS also holds what the allocator kept from the burst of starts); a fresh engine process, ` +
      `after 10 sweeps and a GC: ${mb(t.freshRssEmpty)} with no timer, ${mb(t.freshRssLoaded)} with them all ` +
      `pending; ` +
      `a supervisor sweep with them pending ` +
      `${f(t.sweepP50, 1)} ms (p50 of 20, max ${f(t.sweepMax, 1)}). ${t.due} sagas sleeping 2 s: from each timer's ` +
      `due time to its next step's dispatch, p50 ${f(t.delayP50, 0)} ms, p99 ${f(t.delayP99, 0)} ms, max ` +
      `${f(t.delayMax, 0)} ms (SUPERVISOR_INTERVAL_MS 1000: a timer fires at the first sweep after it is due).`,
    '',
  );
  if (r.scaled.length > 0) {
    lines.push('| scale-out | sagas | sagas/s | correct |', '| --- | --- | --- | --- |');
    for (const s of r.scaled) {
      lines.push(
        `| ${s.orchestrators} orchestrators + ${s.agents} agent(s) | ${s.n} | ${f(s.rate)} | ${s.ok ? 'yes' : 'NO'}: ${s.detail} |`,
      );
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

void main().then(
  // Every connection is closed by now; exit anyway, so that a handle a library keeps open cannot hang a script.
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(`bench failed: ${String((error as Error).stack ?? error)}`);
    process.exit(1);
  },
);
