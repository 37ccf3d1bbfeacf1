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
 *    (e) the REST path: the same all-in-one engine with its REST API, 2,000 sagas started by 50 concurrent HTTP
 *    clients (keep-alive, an API key), measured until every saga ended.
 * 3. Retention/RSS: 20,000 sagas; RSS after 2,000 and after 20,000 (after a GC); Redis used_memory before/after.
 * 4. (f) The production topology: 2 orchestrators (REST starts, 50 HTTP clients) + 1, 2, 4 agent processes over
 *    Redis, each warmed up by 300 sagas first as (e)'s engine; throughput and correctness (every saga in its
 *    expected status, no step attempt invoked twice).
 *
 * 6. (g) A real workload, after (f): the drone-delivery demo, its participant services (apps/demo-services, Nest
 *    Redis transport, their own PostgreSQL transactions) as a process of their own beside an all-in-one engine
 *    process; sagas started over REST at fixed rates (open loop) until a rate is not steady (an attempt timed out,
 *    a saga did not complete, the backlog grew); the highest steady rate, and at it where a saga's time goes
 *    (engine, transport, participant). `--no-workload` skips it, `--only-workload` runs it alone.
 *
 * Every scenario also reports CPU ms per saga per role: each engine process's (/proc/<pid>/stat), PostgreSQL's
 * (the postmaster and its children, /proc), Redis's (INFO cpu) and the bench driver's own (the HTTP clients).
 * 5. Timers: 100,000 sagas sleeping an hour (pending timers): the engine's RSS (after a GC) before and after, a
 *    supervisor sweep's time with them pending (p50/max of 20), and 2,000 sagas sleeping 2 s: the delay between
 *    each timer's due time and the dispatch of its next step (p50, p99; database clock). SUPERVISOR_INTERVAL_MS is
 *    the default, 1 s.
 *
 * Writes bench/results/<YYYY-MM-DD>.md; the last line printed is
 * `RESULT a=<sagas/s> b=<sagas/s> c_p50_ms=<ms> d=<sagas/s> tx_per_saga=<n> e=<sagas/s> f1=<sagas/s> ... g=<sagas/s>`.
 * Uses DATABASE_URL (its server; a fresh database is created and dropped) and REDIS_URL (a fresh key prefix,
 * removed at the end) when set, else a private PostgreSQL and Redis of its own on free ports
 * (scripts/support/private-servers.ts), so that server-wide counters and CPU are the bench's alone. `--quick` runs
 * smaller counts (a smoke run).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { Queue, Worker } from 'bullmq';
import { Pool } from 'undici';
import { dropRedisPrefix, freePort, poll } from './support/cluster';
import { PrivateServices, privateRedisUnavailable } from './support/private-servers';

// The repository: this file runs from dist/tools/scripts/ (and wrote its results under dist/tools/ before).
const ROOT = resolve(__dirname, '..').replace(/[\\/]dist([\\/]tools)?$/, '');
const ENGINE_JS = join(__dirname, 'bench', 'bench-engine.js');
const QUICK = process.argv.includes('--quick');
const SKIP_SCALE = process.argv.includes('--no-scale');
/** Only the timers line (on a fresh engine process), e.g. to measure timers on a deployment's database. */
const TIMERS_ONLY = process.argv.includes('--timers-only');
/** `--only=a,c,e,f1`: just those scenarios, for a quick look at one while working on it (no baselines, no file). */
const ONLY =
  process.argv
    .find((arg) => arg.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',') ?? null;
/** (g), the drone-delivery workload: `--no-workload` skips it, `--only-workload` runs it alone. */
const SKIP_WORKLOAD = process.argv.includes('--no-workload');
const ONLY_WORKLOAD = process.argv.includes('--only-workload');
const API_KEY = 'bench-admin-key-0123456789abcdef0123';

// Set in main(): the servers given by DATABASE_URL / REDIS_URL, else private ones.
let adminUrl = process.env.DATABASE_URL ?? '';
let redisUrl = process.env.REDIS_URL ?? '';
let services: PrivateServices | undefined;
const dbName = `saga_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const prefix = `bench-${randomBytes(5).toString('hex')}`;
let databaseUrl = '';
/** Concurrent HTTP clients of (e) and (f). */
const HTTP_CLIENTS = 50;

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

type EngineRole = 'all' | 'all-http' | 'orchestrator' | 'agent';
let childCount = 0;
/** A directory: V8 CPU profiles of every engine process over each scenario's measured window go there. */
const PROF_DIR = process.env.BENCH_CPU_PROF;

/** Starts the processes' profilers (BENCH_CPU_PROF); the answer stops them and writes `<tag>-<label>.cpuprofile`. */
async function profile(tag: string, engines: EngineChild[]): Promise<() => Promise<void>> {
  if (!PROF_DIR) return async () => undefined;
  mkdirSync(PROF_DIR, { recursive: true });
  await Promise.all(engines.map((e) => e.rpc('profile-start')));
  return async () => {
    await Promise.all(
      engines.map((e) => e.rpc('profile-stop', { file: resolve(PROF_DIR, `${tag}-${e.label}.cpuprofile`) })),
    );
  };
}

class EngineChild {
  private seq = 0;
  private readonly pending = new Map<number, (body: any) => void>();
  readonly ready: Promise<void>;
  readonly child: ChildProcess;

  /** Names its profiles under BENCH_CPU_PROF: `<scenario>-<label>.<n>.cpuprofile` (e.g. `f1-agent.7`). */
  readonly label: string;

  constructor(
    readonly role: EngineRole,
    env: Record<string, string>,
    label: string = role,
  ) {
    this.label = `${label}.${++childCount}`;
    this.child = spawn(process.execPath, ['--expose-gc', ENGINE_JS, role], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
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
    // As the Dockerfile sets it: a young generation of 32 MB, so that the garbage collector runs less often (see
    // docs/performance.md, "What made it fast").
    NODE_OPTIONS: process.env.NODE_OPTIONS ?? '--max-semi-space-size=32',
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
  /** Calls by Redis command (INFO commandstats). */
  redisByCommand: Map<string, number>;
}

let walInIo = false;

async function counters(pg: Client, redis: Redis): Promise<Counters> {
  const [db] = (
    await pg.query(`SELECT xact_commit + xact_rollback AS x FROM pg_stat_database WHERE datname = $1`, [dbName])
  ).rows;
  // PostgreSQL 18 moved the WAL's writes and syncs from pg_stat_wal to pg_stat_io.
  const [wal] = (
    await pg.query(
      walInIo
        ? `SELECT sum(fsyncs) AS wal_sync, sum(writes) AS wal_write FROM pg_stat_io WHERE object = 'wal'`
        : `SELECT wal_sync, wal_write FROM pg_stat_wal`,
    )
  ).rows;
  const stats = await redis.info('commandstats');
  let calls = 0;
  const redisByCommand = new Map<string, number>();
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls += Number(m[2]);
    redisByCommand.set(m[1], Number(m[2]));
  }
  return {
    xacts: Number(db.x),
    walSyncs: Number(wal.wal_sync),
    walWrites: Number(wal.wal_write),
    redisCalls: calls,
    redisByCommand,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// CPU per role
// ---------------------------------------------------------------------------------------------------------------

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** A process's CPU time so far (user + system, ms), and its parent; undefined once it is gone (or not here). */
function procStat(pid: number): { cpuMs: number; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ": state, ppid, ... utime is field 14, stime field 15 (1-based).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

/** What a process of each kind is reported as. */
const ROLE_NAMES: Record<EngineRole, string> = {
  all: 'engine',
  'all-http': 'engine',
  orchestrator: 'orchestrators',
  agent: 'agents',
};
/** The order of the roles in the output. */
const ROLE_ORDER = ['engine', 'orchestrators', 'agents', 'PostgreSQL', 'Redis', 'driver'];

interface CpuSample {
  /** ms per engine process, by pid (with its role's name). */
  engines: Map<number, { role: string; ms: number }>;
  /** ms per PostgreSQL process, by pid. */
  pg: Map<number, number>;
  redisMs: number;
  driverMs: number;
}

/**
 * PostgreSQL's processes: the private server's postmaster and all its children (backends, WAL writer,
 * checkpointer, autovacuum); on a server given by DATABASE_URL, the bench database's backends that run on this
 * machine (pg_stat_activity), which leaves out the server's background processes.
 */
async function pgPids(pg: Client): Promise<number[]> {
  const postmaster = services?.postgresPid;
  if (postmaster !== undefined) {
    const pids = [postmaster];
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (Number.isInteger(pid) && procStat(pid)?.ppid === postmaster) pids.push(pid);
    }
    return pids;
  }
  const rows = (await pg.query(`SELECT pid FROM pg_stat_activity WHERE datname = $1`, [dbName])).rows;
  return rows.map((r: { pid: number }) => r.pid);
}

async function cpuSample(pg: Client, redis: Redis, engines: EngineChild[]): Promise<CpuSample> {
  const sample: CpuSample = { engines: new Map(), pg: new Map(), redisMs: NaN, driverMs: 0 };
  for (const e of engines) {
    const stat = procStat(e.child.pid!);
    if (stat) sample.engines.set(e.child.pid!, { role: ROLE_NAMES[e.role], ms: stat.cpuMs });
  }
  for (const pid of await pgPids(pg)) {
    const stat = procStat(pid);
    if (stat) sample.pg.set(pid, stat.cpuMs);
  }
  const info = await redis.info('cpu');
  const sys = /used_cpu_sys:([\d.]+)/.exec(info)?.[1];
  const user = /used_cpu_user:([\d.]+)/.exec(info)?.[1];
  sample.redisMs = (Number(sys) + Number(user)) * 1000;
  const self = process.cpuUsage();
  sample.driverMs = (self.user + self.system) / 1000;
  return sample;
}

/**
 * CPU ms per saga by role between two samples, and their total. A PostgreSQL process that started in between counts
 * whole; one that ended in between is lost (the engines' pools keep their connections, so that is rare).
 */
function cpuPerSaga(before: CpuSample, after: CpuSample, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (role: string, ms: number) => (out[role] = (out[role] ?? 0) + ms / n);
  for (const [pid, { role, ms }] of after.engines) add(role, ms - (before.engines.get(pid)?.ms ?? 0));
  let pgMs = 0;
  for (const [pid, ms] of after.pg) pgMs += ms - (before.pg.get(pid) ?? 0);
  add('PostgreSQL', pgMs);
  add('Redis', after.redisMs - before.redisMs);
  add('driver', after.driverMs - before.driverMs);
  out.total = Object.values(out).reduce((sum, v) => sum + v, 0);
  return out;
}

/** The order of (g)'s processes in its CPU line. */
const WORKLOAD_ORDER = ['engine', 'demo services', 'PostgreSQL', 'Redis', 'driver'];

const cpuLine = (cpu: Record<string, number>, order = ROLE_ORDER) =>
  `CPU ms/saga ${order
    .filter((r) => r in cpu)
    .map((r) => `${r} ${f(cpu[r], 2)}`)
    .join(' + ')} = ${f(cpu.total, 2)}`;

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
  /** The Redis commands most called per saga, e.g. `evalsha 20.1, bzpopmin 3.2`. */
  redisTop: string;
  cpuMsPerSaga: number;
  /** CPU ms per saga by role (engine, orchestrators, agents, PostgreSQL, Redis, driver) and `total`. */
  cpu: Record<string, number>;
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
  const cpu0 = await cpuSample(pg, redis, [engine]);
  const stopProfile = await profile(name.slice(1, 2), [engine]);
  const run = await engine.rpc('run', { n, inflight, ...(failAt ? { failAt } : {}) });
  await stopProfile();
  const cpu1 = await cpuSample(pg, redis, [engine]);
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
    redisTop: redisTop(before, after, n),
    cpuMsPerSaga: run.cpuMs / n,
    cpu: cpuPerSaga(cpu0, cpu1, n),
    peakRss: run.peakRss,
    statuses: run.statuses,
  };
  logScenario(result);
  return result;
}

function redisTop(before: Counters, after: Counters, n: number): string {
  return [...after.redisByCommand]
    .map(([command, calls]) => [command, (calls - (before.redisByCommand.get(command) ?? 0)) / n] as const)
    .filter(([, perSaga]) => perSaga >= 0.5)
    .sort((x, y) => y[1] - x[1])
    .slice(0, 4)
    .map(([command, perSaga]) => `${command} ${f(perSaga)}`)
    .join(', ');
}

function logScenario(r: ScenarioResult): void {
  const steps = Number.isFinite(r.stepP50) ? `step ${f(r.stepP50, 2)}/${f(r.stepP99, 2)} ms, ` : '';
  const rss = Number.isFinite(r.peakRss) ? `, peak RSS ${mb(r.peakRss)}` : '';
  log(
    `  ${r.name}: ${f(r.rate)} sagas/s${r.name.startsWith('(e)') || r.name.startsWith('(f') ? ` (${r.inflight} open when the last start was answered)` : ''}, p50 ${f(r.p50)} ms, p99 ${f(r.p99)} ms, ${steps}` +
      `${f(r.txPerSaga, 2)} tx, ${f(r.walSyncsPerSaga, 2)} WAL syncs, ${f(r.redisPerSaga)} Redis cmds` +
      `${r.redisTop ? ` (${r.redisTop})` : ''} per saga; ` +
      `${cpuLine(r.cpu)}${rss}`,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Over REST: (e) and (f)
// ---------------------------------------------------------------------------------------------------------------

/**
 * Starts `n` sagas through `POST /v1/sagas` from HTTP_CLIENTS concurrent clients (undici pools: keep-alive, one
 * request at a time per connection), spread over `ports`; answers their ids in order.
 */
async function restStarts(ports: number[], n: number, input: (i: number) => object): Promise<string[]> {
  const pools = ports.map((port) => new Pool(`http://127.0.0.1:${port}`, { connections: HTTP_CLIENTS }));
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
  const ids: string[] = new Array(n);
  let next = 0;
  try {
    await Promise.all(
      Array.from({ length: HTTP_CLIENTS }, async () => {
        while (next < n) {
          const i = next++;
          const res = await pools[i % pools.length].request({
            path: '/v1/sagas',
            method: 'POST',
            headers,
            body: JSON.stringify({ type: 'bench-five-steps', input: input(i) }),
          });
          const text = await res.body.text();
          if (res.statusCode !== 201) throw new Error(`POST /v1/sagas: ${res.statusCode} ${text}`);
          ids[i] = (JSON.parse(text) as { id: string }).id;
        }
      }),
    );
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  return ids;
}

/**
 * Waits until `total` sagas of the database have ended (polling PostgreSQL every 25 ms); answers how many queries
 * it made, so that they can be taken out of the transaction count.
 */
async function waitForEnded(pg: Client, total: number): Promise<number> {
  let queries = 0;
  await poll(
    async () => {
      queries++;
      const [row] = (await pg.query(`SELECT count(*)::int AS n FROM saga_instance WHERE completed_at IS NOT NULL`))
        .rows;
      return row.n >= total;
    },
    { timeoutMs: 300_000, intervalMs: 25, what: `${total} sagas to end` },
  );
  return queries;
}

/** Latencies (database clock: created_at to completed_at) and statuses of these sagas. */
async function endsOf(pg: Client, ids: string[]): Promise<{ latencies: number[]; status: Map<string, string> }> {
  const rows = (
    await pg.query(
      `SELECT id, status, extract(epoch FROM (completed_at - created_at)) * 1000 AS ms
         FROM saga_instance WHERE id = ANY($1::uuid[])`,
      [ids],
    )
  ).rows as { id: string; status: string; ms: number }[];
  return { latencies: rows.map((r) => Number(r.ms)), status: new Map(rows.map((r) => [r.id, r.status])) };
}

async function endedCount(pg: Client): Promise<number> {
  return (await pg.query(`SELECT count(*)::int AS n FROM saga_instance WHERE completed_at IS NOT NULL`)).rows[0].n;
}

/**
 * Empties the sagas between scenarios. The engines just started sweep the same tables, so the TRUNCATE may lose a
 * deadlock to one of them: it is tried again (the sweeps take no lock for long).
 */
async function truncate(pg: Client): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await pg.query(`TRUNCATE saga_instance, saga_step, saga_event CASCADE`);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '40P01' || attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}

/**
 * (e) The REST path: `n` sagas started over HTTP on an all-in-one engine with its REST API (scheduler, agent,
 * supervisor and API in one process), from HTTP_CLIENTS clients; measured until every saga ended.
 */
async function restScenario(pg: Client, redis: Redis, n: number): Promise<ScenarioResult> {
  const port = await freePort();
  const engine = new EngineChild('all-http', engineEnv({ PORT: String(port) }));
  try {
    await engine.ready;
    // Warm-up (JIT, pools, keep-alive connections), not reported.
    const warm = await endedCount(pg);
    await restStarts([port], scale(300), () => ({}));
    await waitForEnded(pg, warm + scale(300));
    await settle();
    const base = await endedCount(pg);
    const before = await counters(pg, redis);
    const cpu0 = await cpuSample(pg, redis, [engine]);
    const stopProfile = await profile('e', [engine]);
    const t0 = performance.now();
    const ids = await restStarts([port], n, () => ({}));
    // REST clients do not wait for a saga's end: how many were open when the last start was answered.
    const open = base + n - (await endedCount(pg));
    const polls = 1 + (await waitForEnded(pg, base + n));
    const wallMs = performance.now() - t0;
    await stopProfile();
    const cpu1 = await cpuSample(pg, redis, [engine]);
    await settle();
    const after = await counters(pg, redis);
    const { latencies, status } = await endsOf(pg, ids);
    const statuses: Record<string, number> = {};
    for (const st of status.values()) statuses[st] = (statuses[st] ?? 0) + 1;
    if ((statuses.COMPLETED ?? 0) !== n) {
      throw new Error(`scenario (e): expected ${n} COMPLETED, got ${JSON.stringify(statuses)}`);
    }
    const result: ScenarioResult = {
      name: '(e) REST path',
      n,
      inflight: open,
      rate: n / (wallMs / 1000),
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      stepP50: NaN,
      stepP99: NaN,
      // The driver's own polls for the end are transactions of the bench database: not the engine's.
      txPerSaga: (after.xacts - before.xacts - polls) / n,
      walSyncsPerSaga: (after.walSyncs - before.walSyncs) / n,
      redisPerSaga: (after.redisCalls - before.redisCalls) / n,
      redisTop: redisTop(before, after, n),
      cpuMsPerSaga: cpuPerSaga(cpu0, cpu1, n).engine,
      cpu: cpuPerSaga(cpu0, cpu1, n),
      peakRss: NaN,
      statuses,
    };
    logScenario(result);
    return result;
  } finally {
    await engine.stop();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (f) The production topology
// ---------------------------------------------------------------------------------------------------------------

interface ScaleResult extends ScenarioResult {
  agents: number;
  orchestrators: number;
  ok: boolean;
  detail: string;
}

/**
 * (f) 2 orchestrators (API + scheduler + supervisor, REST starts from HTTP_CLIENTS clients) and `agents` agent
 * processes over Redis; 10 % of the sagas fail at step 4 and compensate. Throughput until every saga ended, CPU per
 * role, and correctness: each saga in its expected status, every attempt invoked once across all processes.
 */
async function scaleOut(pg: Client, redis: Redis, agents: number, n: number): Promise<ScaleResult> {
  const ports = [await freePort(), await freePort()];
  const env = engineEnv({ SUPERVISOR_INTERVAL_MS: '1000', DB_POOL_SIZE: '6' });
  const tag = `f${agents}`;
  const orchestrators = ports.map((port) => new EngineChild('orchestrator', { ...env, PORT: String(port) }));
  const workers = Array.from({ length: agents }, () => new EngineChild('agent', env));
  const processes = [...orchestrators, ...workers];
  try {
    await Promise.all(processes.map((p) => p.ready));
    // Warm-up of every process (JIT, pools, keep-alive connections), as (e)'s, not reported: its sagas' rows and
    // the invocations they counted are dropped. (Without it each fresh process ran its first sagas cold, and (f4)
    // has six fresh processes to (f1)'s three.)
    await truncate(pg);
    await restStarts(ports, scale(300), () => ({}));
    await waitForEnded(pg, scale(300));
    await Promise.all(processes.map((p) => p.rpc('reset')));
    await truncate(pg);
    // Every tenth saga fails at step 4 and compensates.
    const failing = (i: number) => i % 10 === 9;
    await settle();
    const before = await counters(pg, redis);
    const cpu0 = await cpuSample(pg, redis, processes);
    const stopProfile = await profile(tag, processes);
    const t0 = performance.now();
    const ids = await restStarts(ports, n, (i) => (failing(i) ? { failAt: 4 } : {}));
    const open = n - (await endedCount(pg));
    const polls = 1 + (await waitForEnded(pg, n));
    const wallMs = performance.now() - t0;
    await stopProfile();
    const cpu1 = await cpuSample(pg, redis, processes);
    await settle();
    const after = await counters(pg, redis);
    // Correctness: each saga in its expected status; every attempt invoked once, across all processes.
    const { latencies, status } = await endsOf(pg, ids);
    const statuses: Record<string, number> = {};
    for (const st of status.values()) statuses[st] = (statuses[st] ?? 0) + 1;
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
    const result: ScaleResult = {
      name: `(f${agents}) 2 orchestrators + ${agents} agent${agents > 1 ? 's' : ''}`,
      n,
      inflight: open,
      rate: n / (wallMs / 1000),
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      stepP50: NaN,
      stepP99: NaN,
      txPerSaga: (after.xacts - before.xacts - polls) / n,
      walSyncsPerSaga: (after.walSyncs - before.walSyncs) / n,
      redisPerSaga: (after.redisCalls - before.redisCalls) / n,
      redisTop: redisTop(before, after, n),
      cpuMsPerSaga: NaN,
      cpu: cpuPerSaga(cpu0, cpu1, n),
      peakRss: NaN,
      statuses,
      agents,
      orchestrators: 2,
      ok,
      detail,
    };
    logScenario(result);
    log(`    correct: ${detail}${ok ? '' : '  <-- FAILED'}`);
    return result;
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// (g) A real workload: the drone-delivery demo and its participant services
// ---------------------------------------------------------------------------------------------------------------

/** The demo's entry point (apps/demo-services): `--all` is the all-in-one engine, without it the participants. */
const DEMO_JS = join(ROOT, 'dist', 'apps', 'demo-services', 'main.js');

/** A saga the demo completes: a light parcel (by drone), an account that exists, no fault. */
const droneInput = (i: number) => ({
  accountId: `acc-bench-${i % 100}`,
  pickup: { lat: 48.85, lng: 2.35 },
  dropoff: { lat: 48.86, lng: 2.36 },
  weightKg: 2,
  priceCents: 1,
});

/** The drone-delivery steps that call a participant (over the Nest Redis transport). */
const PARTICIPANT_STEPS = [
  'verify-account',
  'create-delivery',
  'register-package',
  'schedule-drone',
  'charge-account',
  'notify-customer',
];

interface WorkloadStep {
  rate: number;
  n: number;
  /** Attempts that failed TIMEOUT (the step's own timeout) or DEADLINE_EXCEEDED (the supervisor's). */
  timedOut: number;
  /** Other failed attempts, and sagas not COMPLETED. */
  failedAttempts: number;
  notCompleted: number;
  /** Sagas open (started, not ended) half-way through the window and at its end: a backlog grows between them. */
  openMid: number;
  openEnd: number;
  /** From the window's end to the last saga's end. */
  drainMs: number;
  /** The answer of POST /v1/sagas at the client (p99). */
  startP99: number;
  p50: number;
  p99: number;
  steady: boolean;
  why: string;
}

interface WorkloadBreakdown {
  /** Per saga (ms, means): the six participant calls, split, and the rest. */
  e2eMean: number;
  e2eP50: number;
  e2eP99: number;
  engine: number;
  transport: number;
  participant: number;
  /** Of `participant`: waiting for one of the participants' own PostgreSQL connections. */
  participantPoolWait: number;
  /** The `await-delivery` wait: the demo drone's flight (DEMO_FLIGHT_MS) and its signal. */
  wait: number;
  /** Everything else: the `when` of the skipped branch, the parallel group, the hand-overs between steps. */
  other: number;
  /** Schedule-to-start of the attempts marked started (dispatch commit to their StepStarted commit), p50/p99. */
  s2sP50: number;
  s2sP99: number;
  participantP99: number;
  participantMaxInFlight: number;
}

interface WorkloadResult {
  rate: number;
  steps: WorkloadStep[];
  breakdown: WorkloadBreakdown | null;
  cpu: Record<string, number>;
}

/** A process of (g): a demo entry point, killed by its pid at the end. */
class DemoProcess {
  readonly child: ChildProcess;
  log = '';
  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, [DEMO_JS, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => {
      this.log = (this.log + chunk.toString()).slice(-20_000);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    process.kill(this.child.pid!, 'SIGTERM');
    const timer = setTimeout(() => this.alive && process.kill(this.child.pid!, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

async function httpJson(url: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(url, {
    ...init,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...init.headers },
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return text ? (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text) : null;
}

/**
 * Starts `rate` sagas a second for `seconds` (open loop: each at its time, whether or not earlier ones were
 * answered), from HTTP_CLIENTS keep-alive connections; answers their ids, the start answers' latencies, and the
 * open sagas at half-time and at the end.
 */
async function openLoop(
  pg: Client,
  port: number,
  rate: number,
  seconds: number,
): Promise<{ ids: string[]; startMs: number[]; openMid: number; openEnd: number }> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: HTTP_CLIENTS });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };
  const n = Math.round(rate * seconds);
  const ids: string[] = new Array(n);
  const startMs: number[] = [];
  const open = async () =>
    (await pg.query(`SELECT count(*)::int AS n FROM saga_instance WHERE completed_at IS NULL`)).rows[0].n as number;
  let openMid = NaN;
  const t0 = performance.now();
  const requests: Promise<void>[] = [];
  let mid: Promise<void> | undefined;
  try {
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      if (!mid && i >= n / 2) mid = open().then((v) => void (openMid = v));
      const sent = performance.now();
      requests.push(
        pool
          .request({
            path: '/v1/sagas',
            method: 'POST',
            headers,
            body: JSON.stringify({ type: 'drone-delivery', input: droneInput(i) }),
          })
          .then(async (res) => {
            const text = await res.body.text();
            if (res.statusCode !== 201) throw new Error(`POST /v1/sagas: ${res.statusCode} ${text}`);
            ids[i] = (JSON.parse(text) as { id: string }).id;
            startMs.push(performance.now() - sent);
          }),
      );
    }
    const openEnd = await open();
    await Promise.all(requests);
    await mid;
    return { ids, startMs, openMid, openEnd };
  } finally {
    await pool.close();
  }
}

/** Attempts of these sagas that failed: how many timed out (TIMEOUT, DEADLINE_EXCEEDED), and by step and code. */
async function failedAttempts(pg: Client, ids: string[]): Promise<{ timedOut: number; other: number; codes: string }> {
  const rows = (
    await pg.query(
      `SELECT step, coalesce(data->'error'->>'code', '?') AS code, count(*)::int AS n
         FROM saga_event WHERE saga_id = ANY($1::uuid[]) AND type IN ('StepFailed', 'CompensationFailed')
        GROUP BY 1, 2 ORDER BY 3 DESC`,
      [ids],
    )
  ).rows as { step: string; code: string; n: number }[];
  const timedOut = rows.filter((r) => TIMED_OUT.includes(r.code)).reduce((sum, r) => sum + r.n, 0);
  const other = rows.filter((r) => !TIMED_OUT.includes(r.code)).reduce((sum, r) => sum + r.n, 0);
  return { timedOut, other, codes: rows.map((r) => `${r.step} ${r.code} ${r.n}`).join(', ') };
}

/** The codes of an attempt that ran out of time: its own timeout, or the supervisor's deadline. */
const TIMED_OUT = ['TIMEOUT', 'DEADLINE_EXCEEDED'];

/** Sum and count of `saga_step_duration_seconds` of the drone-delivery steps that call a participant. */
async function handlerSeconds(port: number): Promise<{ sum: number; count: number }> {
  const text = (await httpJson(`http://127.0.0.1:${port}/metrics`)) as string;
  let sum = 0;
  let count = 0;
  for (const m of text.matchAll(/^saga_step_duration_seconds_(sum|count)\{([^}]*)\} ([\d.e+-]+)$/gm)) {
    const labels = m[2];
    if (!labels.includes('type="drone-delivery"') || !labels.includes('phase="run"')) continue;
    if (!PARTICIPANT_STEPS.some((s) => labels.includes(`step="${s}"`))) continue;
    if (m[1] === 'sum') sum += Number(m[3]);
    else count += Number(m[3]);
  }
  return { sum, count };
}

/**
 * Where a saga's time goes, over these sagas (means per saga): each participant step from its dispatch (started_at:
 * the commit that made its first attempt due) to its outcome's commit (finished_at), split into the participant's own handler
 * time (its timing), the transport (the agent's handler time, saga_step_duration_seconds, less the participant's)
 * and the engine (the rest: schedule-to-start, the StepStarted and outcome commits); the wait for the drone's
 * signal; and the rest of the saga (the skipped branch's condition, the parallel group).
 */
async function breakdownOf(
  pg: Client,
  ids: string[],
  handler: { sum: number; count: number },
  timing: {
    calls: number;
    handlerMs: { mean: number; p99: number };
    poolWaitMs: { mean: number };
    maxInFlight: number;
  },
): Promise<WorkloadBreakdown> {
  const [steps] = (
    await pg.query(
      `SELECT avg(x.ms) AS step_ms FROM (
         SELECT saga_id, sum(extract(epoch FROM (finished_at - started_at)) * 1000) AS ms
           FROM saga_step WHERE saga_id = ANY($1::uuid[]) AND name = ANY($2::text[])
          GROUP BY saga_id) x`,
      [ids, PARTICIPANT_STEPS],
    )
  ).rows;
  const [wait] = (
    await pg.query(
      `SELECT avg(extract(epoch FROM (finished_at - started_at)) * 1000) AS ms
         FROM saga_step WHERE saga_id = ANY($1::uuid[]) AND name = 'await-delivery'`,
      [ids],
    )
  ).rows;
  const e2e = (
    await pg.query(
      `SELECT extract(epoch FROM (completed_at - created_at)) * 1000 AS ms FROM saga_instance WHERE id = ANY($1::uuid[])`,
      [ids],
    )
  ).rows.map((r: { ms: number }) => Number(r.ms));
  const s2s = (
    await pg.query(
      `SELECT extract(epoch FROM (e.at - s.started_at)) * 1000 AS ms
         FROM saga_step s JOIN saga_event e ON e.saga_id = s.saga_id AND e.step = s.name AND e.type = 'StepStarted'
        WHERE s.saga_id = ANY($1::uuid[]) AND s.name = ANY($2::text[])`,
      [ids, PARTICIPANT_STEPS],
    )
  ).rows.map((r: { ms: number }) => Math.max(0, Number(r.ms)));
  const calls = PARTICIPANT_STEPS.length;
  const handlerMean = handler.count > 0 ? (handler.sum / handler.count) * 1000 : NaN;
  const participant = timing.handlerMs.mean * calls;
  const transport = (handlerMean - timing.handlerMs.mean) * calls;
  const stepMs = Number(steps.step_ms);
  const engine = stepMs - handlerMean * calls;
  const e2eMean = e2e.reduce((s, v) => s + v, 0) / e2e.length;
  const waitMs = Number(wait.ms);
  return {
    e2eMean,
    e2eP50: pct(e2e, 50),
    e2eP99: pct(e2e, 99),
    engine,
    transport,
    participant,
    participantPoolWait: timing.poolWaitMs.mean * calls,
    wait: waitMs,
    other: e2eMean - stepMs - waitMs,
    s2sP50: pct(s2s, 50),
    s2sP99: pct(s2s, 99),
    participantP99: timing.handlerMs.p99,
    participantMaxInFlight: timing.maxInFlight,
  };
}

/**
 * (g) The drone-delivery demo as a real workload: its participant services (apps/demo-services: account, delivery,
 * package, drone, notification over the Nest Redis transport, each operation in its own PostgreSQL transaction) as
 * their own process, the all-in-one engine (`main.js --all`, DEMO_IN_PROCESS=false) as another, both on the bench's
 * PostgreSQL and Redis. Sagas are started over REST at a fixed rate (open loop) for a fixed time, rate after rate
 * (each 1.35 times the last), until one is not steady: an attempt timed out, a saga did not complete, the backlog
 * grew through the window, the starts' answers took more than 1 s (p99: the clients could not keep the rate), or
 * the sagas took more than 5 s to drain after it. Reports the highest steady rate and,
 * at that rate, where each saga's time went and the CPU per process.
 */
async function workloadScenario(pg: Client, redis: Redis): Promise<WorkloadResult> {
  // BENCH_G_IN_PROCESS=true: the participant services in the engine's process, as `npm start` runs them.
  const IN_PROCESS = process.env.BENCH_G_IN_PROCESS === 'true';
  const port = await freePort();
  const demoPort = await freePort();
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    SAGA_REDIS_PREFIX: prefix,
    SAGA_API_KEYS: `bench:${API_KEY}:admin`,
    SAGA_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: 'warn',
    PORT: String(port),
    DEMO_PORT: String(demoPort),
    DEMO_TCP_PORT: String(await freePort()),
    DEMO_URL: `http://127.0.0.1:${demoPort}`,
    DEMO_IN_PROCESS: IN_PROCESS ? 'true' : 'false',
    SAGA_URL: `http://127.0.0.1:${port}`,
    SAGA_SIGNAL_KEY: API_KEY,
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
    HOST: '127.0.0.1',
  };
  const engine = new DemoProcess('engine', ['--all'], env);
  const procs = IN_PROCESS ? [engine] : [new DemoProcess('demo services', [], env), engine];
  const alive = () => {
    for (const p of procs) if (!p.alive) throw new Error(`(g): the ${p.name} exited:\n${p.log.slice(-3000)}`);
  };
  try {
    await poll(
      async () => {
        alive();
        const [a, b] = await Promise.all([
          fetch(`http://127.0.0.1:${port}/health`).catch(() => null),
          fetch(`http://127.0.0.1:${demoPort}/v1/demo/ledger?sagaId=none`).catch(() => null),
        ]);
        return a?.status === 200 && b?.status === 200;
      },
      { timeoutMs: 60_000, what: '(g) engine and demo services to answer' },
    );
    await truncate(pg);
    // BENCH_G_RATES (e.g. `60,80,100`) and BENCH_G_SECONDS replace the rates tried and the window, for a probe.
    const seconds = Number(process.env.BENCH_G_SECONDS) || (QUICK ? 4 : 12);
    const given = (process.env.BENCH_G_RATES ?? '')
      .split(',')
      .map(Number)
      .filter((r) => r > 0);
    // Warm-up (JIT, pools, the reply channels' subscriptions), not reported.
    const warm = await openLoop(pg, port, 10, QUICK ? 2 : 4);
    await waitForEnded(pg, warm.ids.length);
    const steps: WorkloadStep[] = [];
    let best: { step: WorkloadStep; ids: string[]; cpu: Record<string, number>; b: WorkloadBreakdown } | null = null;
    const rates = given.length > 0 ? given : [];
    if (rates.length === 0)
      for (let rate = QUICK ? 10 : 20; rates.length < (QUICK ? 4 : 10); rate *= 1.35) rates.push(Math.round(rate));
    for (const rate of rates) {
      alive();
      const base = await endedCount(pg);
      await httpJson(`http://127.0.0.1:${demoPort}/v1/demo/timing`, { method: 'DELETE' });
      const handler0 = await handlerSeconds(port);
      const cpu0 = await workloadCpu(pg, redis, procs);
      const run = await openLoop(pg, port, rate, seconds);
      const windowEnd = performance.now();
      let drained = true;
      await poll(async () => (await endedCount(pg)) >= base + run.ids.length, {
        timeoutMs: Math.max(30_000, run.ids.length * 40),
        intervalMs: 50,
        what: '(g) sagas to end',
      }).catch(() => (drained = false));
      const drainMs = performance.now() - windowEnd;
      const cpu1 = await workloadCpu(pg, redis, procs);
      const handler1 = await handlerSeconds(port);
      const timing = await httpJson(`http://127.0.0.1:${demoPort}/v1/demo/timing`);
      const fails = await failedAttempts(pg, run.ids);
      const { latencies, status } = await endsOf(pg, run.ids);
      const notCompleted = run.ids.length - [...status.values()].filter((s) => s === 'COMPLETED').length;
      const growing = run.openEnd > 1.5 * run.openMid + 0.25 * rate;
      const why = [
        fails.timedOut > 0 ? `${fails.timedOut} attempts timed out` : '',
        notCompleted > 0 ? `${notCompleted} sagas not COMPLETED` : '',
        growing ? `backlog grew (${run.openMid} -> ${run.openEnd} open)` : '',
        !drained || drainMs > 5_000 ? `drained in ${f(drainMs / 1000, 1)} s` : '',
        // Starts answered late pile up in the clients, where the open count does not see them: the rate was not kept.
        pct(run.startMs, 99) > 1_000 ? `starts answered late (p99 ${f(pct(run.startMs, 99), 0)} ms)` : '',
      ]
        .filter(Boolean)
        .join(', ');
      const step: WorkloadStep = {
        rate,
        n: run.ids.length,
        timedOut: fails.timedOut,
        failedAttempts: fails.other,
        notCompleted,
        openMid: run.openMid,
        openEnd: run.openEnd,
        drainMs,
        startP99: pct(run.startMs, 99),
        p50: pct(latencies, 50),
        p99: pct(latencies, 99),
        steady: why === '',
        why,
      };
      steps.push(step);
      const handler = { sum: handler1.sum - handler0.sum, count: handler1.count - handler0.count };
      const b = await breakdownOf(pg, run.ids, handler, timing);
      log(
        `  (g) ${rate} sagas/s for ${seconds} s: ${step.steady ? 'steady' : `NOT steady (${why})`}; p50 ${f(step.p50, 0)} ms, ` +
          `p99 ${f(step.p99, 0)} ms, start answer p99 ${f(step.startP99, 0)} ms, open ${step.openMid} -> ${step.openEnd}, ` +
          `drained in ${f(drainMs / 1000, 1)} s; ${fails.timedOut} attempts timed out, ${fails.other} other failed` +
          `${fails.codes ? ` (${fails.codes})` : ''}; ` +
          `per saga: engine ${f(b.engine, 0)} ms, transport ${f(b.transport, 0)} ms, participants ${f(b.participant, 0)} ms ` +
          `(pool wait ${f(b.participantPoolWait, 0)}; per call p99 ${f(b.participantP99, 0)} ms, at most ${b.participantMaxInFlight} at once), delivery wait ${f(b.wait, 0)} ms, other ${f(b.other, 0)} ms`,
      );
      if (!step.steady) break;
      best = { step, ids: run.ids, cpu: cpuPerSagaOf(cpu0, cpu1, run.ids.length), b };
      if (!drained) break;
    }
    const result: WorkloadResult = {
      rate: best?.step.rate ?? 0,
      steps,
      breakdown: best?.b ?? null,
      cpu: best?.cpu ?? {},
    };
    if (best) {
      const b = best.b;
      log(
        `  (g) highest steady rate: ${result.rate} sagas/s (no attempt timed out); a saga there: e2e mean ${f(b.e2eMean, 0)} ms ` +
          `(p50 ${f(b.e2eP50, 0)}, p99 ${f(b.e2eP99, 0)}) = engine ${f(b.engine, 0)} (schedule-to-start of queued attempts p50 ` +
          `${f(b.s2sP50, 0)} / p99 ${f(b.s2sP99, 0)} ms) + transport ${f(b.transport, 0)} + participants ${f(b.participant, 0)} ` +
          `(of which waiting for their own DB connections ${f(b.participantPoolWait, 0)}; per call p99 ${f(b.participantP99, 0)} ms, ` +
          `at most ${b.participantMaxInFlight} at once) + delivery wait ${f(b.wait, 0)} + other ${f(b.other, 0)} ms`,
      );
      log(`  (g) ${cpuLine(result.cpu, WORKLOAD_ORDER)}`);
    }
    return result;
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

interface WorkloadCpu {
  procs: Map<string, number>;
  pgMs: number;
  redisMs: number;
  driverMs: number;
}

async function workloadCpu(pg: Client, redis: Redis, procs: DemoProcess[]): Promise<WorkloadCpu> {
  const out: WorkloadCpu = { procs: new Map(), pgMs: 0, redisMs: NaN, driverMs: 0 };
  for (const p of procs) out.procs.set(p.name, procStat(p.child.pid!)?.cpuMs ?? NaN);
  for (const pid of await pgPids(pg)) out.pgMs += procStat(pid)?.cpuMs ?? 0;
  const info = await redis.info('cpu');
  out.redisMs =
    (Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1])) * 1000;
  const self = process.cpuUsage();
  out.driverMs = (self.user + self.system) / 1000;
  return out;
}

function cpuPerSagaOf(before: WorkloadCpu, after: WorkloadCpu, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, ms] of after.procs) out[name] = (ms - (before.procs.get(name) ?? 0)) / n;
  out.PostgreSQL = (after.pgMs - before.pgMs) / n;
  out.Redis = (after.redisMs - before.redisMs) / n;
  out.driver = (after.driverMs - before.driverMs) / n;
  out.total = Object.values(out).reduce((s, v) => s + v, 0);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const began = new Date();
  // Private servers unless DATABASE_URL / REDIS_URL name others: server-wide counters and CPU are then ours alone.
  const ownPg = !adminUrl;
  const ownRedis = !redisUrl && !privateRedisUnavailable();
  if (ownPg || ownRedis) services = await PrivateServices.create({ pg: ownPg, redis: ownRedis });
  adminUrl ||= services!.pgAdminUrl;
  redisUrl ||= ownRedis ? services!.redisUrl : 'redis://127.0.0.1:6379';
  databaseUrl = withDatabase(adminUrl, dbName);
  const where = `${ownPg ? 'a private PostgreSQL' : 'DATABASE_URL'}, ${ownRedis ? 'a private Redis' : redisUrl}`;
  log(`bench: database ${dbName} (${where}), Redis prefix ${prefix}${QUICK ? ' (quick)' : ''}`);
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const pg = new Client({ connectionString: databaseUrl });
  const redis = new Redis(redisUrl);
  let engine: EngineChild | undefined;
  try {
    await pg.connect();
    walInIo = Number((await pg.query(`SHOW server_version_num`)).rows[0].server_version_num) >= 180000;
    const redisMemStart = await usedMemory(redis);

    if (ONLY) {
      await focused(pg, redis, ONLY);
      return;
    }
    if (ONLY_WORKLOAD) {
      log('real workload (the drone-delivery demo, its participant services as their own process, REST starts):');
      const g = await workloadScenario(pg, redis);
      const dir = join(ROOT, 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${began.toISOString().slice(0, 10)}-workload${QUICK ? '-quick' : ''}.md`);
      writeFileSync(
        file,
        `# Bench (g) ${began.toISOString()}${QUICK ? ' (quick)' : ''}\n\n${workloadReport(g).join('\n')}\n`,
      );
      log(`results: ${file}`);
      log(`RESULT g=${f(g.rate, 0)}`);
      return;
    }

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
    const redis0 = await counters(pg, redis);
    const chains = await bullmqChainBaseline(scale(2000), 50);
    // What one BullMQ job costs in Redis commands (those its Lua scripts call count too): to read (e) and (f) by.
    const redisPerJob = ((await counters(pg, redis)).redisCalls - redis0.redisCalls) / (scale(2000) * 5);
    log(`  raw BullMQ 5-job chains (50 in flight): ${f(chains, 0)}/s, ${f(redisPerJob)} Redis commands per job`);

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

    log(`REST path (one engine process with its API, ${HTTP_CLIENTS} HTTP clients):`);
    await truncate(pg);
    const e = await restScenario(pg, redis, scale(2000));

    const scaled: ScaleResult[] = [];
    if (!SKIP_SCALE) {
      log(`production topology (2 orchestrators over HTTP, ${HTTP_CLIENTS} clients, N agents, 10 % compensate):`);
      for (const agents of [1, 2, 4]) scaled.push(await scaleOut(pg, redis, agents, scale(2000)));
    }

    let g: WorkloadResult | null = null;
    if (!SKIP_WORKLOAD) {
      log('real workload (the drone-delivery demo, its participant services as their own process, REST starts):');
      g = await workloadScenario(pg, redis);
    }

    const report = renderReport({
      began,
      commits,
      commitMs,
      chains,
      redisPerJob,
      scenarios: [a, b, c, d, e, ...scaled],
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
      g,
    });
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${began.toISOString().slice(0, 10)}${QUICK ? '-quick' : ''}.md`);
    writeFileSync(file, report);
    log(`results: ${file}`);
    const failedScale = scaled.filter((s) => !s.ok).length;
    if (failedScale > 0) process.exitCode = 1;
    const f1 = scaled.find((s) => s.agents === 1)?.rate ?? NaN;
    const fk = (k: number) => scaled.find((s) => s.agents === k)?.rate ?? NaN;
    log(
      `RESULT a=${f(a.rate, 0)} b=${f(b.rate, 0)} c_p50_ms=${f(c.p50, 1)} d=${f(d.rate, 0)} tx_per_saga=${f(a.txPerSaga, 2)} ` +
        `e=${f(e.rate, 0)} f1=${f(f1, 0)} e/a=${f(e.rate / a.rate, 2)} f1/a=${f(f1 / a.rate, 2)} ` +
        `f2/f1=${f(fk(2) / f1, 2)} f4/f1=${f(fk(4) / f1, 2)} g=${g ? f(g.rate, 0) : 'n/a'}`,
    );
  } finally {
    await engine?.stop().catch(() => undefined);
    await pg.end().catch(() => undefined);
    await dropRedisPrefix(redisUrl, prefix).catch(() => undefined);
    await dropRedisPrefix(redisUrl, `${prefix}-raw`).catch(() => undefined);
    redis.disconnect();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    await services?.dispose();
  }
}

/** The scenarios named by `--only`, with the same warm-up as the full run, and a RESULT line of just those. */
async function focused(pg: Client, redis: Redis, only: string[]): Promise<void> {
  const results: Record<string, ScenarioResult> = {};
  if (only.some((name) => ['a', 'b', 'c', 'd'].includes(name))) {
    const engine = new EngineChild('all', engineEnv());
    try {
      await engine.ready;
      await engine.rpc('run', { n: scale(300), inflight: 50 });
      if (only.includes('a')) results.a = await scenario(engine, pg, redis, '(a) 50 in flight', scale(2000), 50);
      if (only.includes('b')) results.b = await scenario(engine, pg, redis, '(b) 200 in flight', scale(2000), 200);
      if (only.includes('c')) results.c = await scenario(engine, pg, redis, '(c) one at a time', scale(300), 1);
      if (only.includes('d')) results.d = await scenario(engine, pg, redis, '(d) fail at step 4', scale(2000), 50, 4);
    } finally {
      await engine.stop();
    }
  }
  if (only.includes('e')) {
    // (Before any engine ran there is no table yet: the engine migrates on its start.)
    await pg.query(`TRUNCATE saga_instance, saga_step, saga_event CASCADE`).catch(() => undefined);
    results.e = await restScenario(pg, redis, scale(2000));
  }
  for (const agents of [1, 2, 4]) {
    if (only.includes(`f${agents}`)) results[`f${agents}`] = await scaleOut(pg, redis, agents, scale(2000));
  }
  if (only.includes('g')) {
    const g = await workloadScenario(pg, redis);
    log(`  (g) steady: ${f(g.rate, 0)} sagas/s`);
  }
  const line = Object.entries(results).map(
    ([name, r]) => `${name}=${f(name === 'c' ? r.p50 : r.rate, name === 'c' ? 1 : 0)}`,
  );
  const a = results.a?.rate;
  if (a) for (const name of ['e', 'f1']) if (results[name]) line.push(`${name}/a=${f(results[name].rate / a, 2)}`);
  log(`RESULT ${line.join(' ')}`);
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
  redisPerJob: number;
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
  g: WorkloadResult | null;
}): string {
  const lines = [
    `# Bench ${r.began.toISOString()}${QUICK ? ' (quick)' : ''}`,
    '',
    `Machine: ${cpus().length} cores, Node ${process.version}. Baselines in the same run: ` +
      `${f(r.commits, 0)} durable single-row commits/s from 16 connections; ${f(r.commitMs, 2)} ms per durable ` +
      `commit from one connection; ${f(r.chains, 0)} raw BullMQ 5-job chains/s (50 in flight), ${f(r.redisPerJob)} Redis commands per BullMQ job.`,
    '',
    `(c) one at a time needs six durable commits in a row per saga (the start and one per step): its floor here is ` +
      `about ${f(6 * r.commitMs, 1)} ms; its p50 is ${f(r.scenarios[2].p50 / (6 * r.commitMs), 2)} times that.`,
    '',
    '| scenario | sagas | in flight | sagas/s | ÷ (a) | vs commits/s ÷ 6 | vs BullMQ chains/s | p50 ms | p99 ms | step p50/p99 ms | PG tx/saga | WAL syncs/saga | Redis cmds/saga | peak RSS |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.scenarios.map(
      (s) =>
        `| ${s.name} | ${s.n} | ${s.inflight} | ${f(s.rate)} | ${f(s.rate / r.scenarios[0].rate, 2)} | ${f(s.rate / (r.commits / 6), 2)} | ${f(s.rate / r.chains, 2)} | ${f(s.p50)} | ${f(s.p99)} | ` +
        `${Number.isFinite(s.stepP50) ? `${f(s.stepP50, 2)} / ${f(s.stepP99, 2)}` : '-'} | ${f(s.txPerSaga, 2)} | ${f(s.walSyncsPerSaga, 2)} | ${f(s.redisPerSaga)}${s.redisTop ? ` (${s.redisTop})` : ''} | ${Number.isFinite(s.peakRss) ? mb(s.peakRss) : '-'} |`,
    ),
    '',
    '"vs commits/s ÷ 6": sagas/s over the rate at which this PostgreSQL can commit six durable single-row',
    'transactions (the engine writes one per step plus the start); "vs BullMQ chains/s": over raw BullMQ 5-job chains.',
    "PG tx: pg_stat_database of the bench database (includes the supervisor sweeps; not the bench's own polls for",
    'the end of (e) and (f)); WAL syncs: pg_stat_wal, cluster-wide; Redis commands: INFO commandstats, server-wide.',
    '(e) and (f): latency from the database clock (created_at to completed_at), sagas/s until the last one ended;',
    '"in flight": the sagas not ended when the last start was answered (the HTTP clients do not wait for the end).',
    '',
    '| CPU ms per saga | ' + ROLE_ORDER.join(' | ') + ' | total |',
    '| --- | ' + ROLE_ORDER.map(() => '---').join(' | ') + ' | --- |',
    ...r.scenarios.map(
      (s) =>
        `| ${s.name} | ${ROLE_ORDER.map((role) => (role in s.cpu ? f(s.cpu[role], 2) : '-')).join(' | ')} | ${f(s.cpu.total, 2)} |`,
    ),
    '',
    'CPU: each engine process from /proc/<pid>/stat (utime + stime) just before and after the scenario; PostgreSQL:',
    "the postmaster and its children (a private server), else the bench database's backends; Redis: INFO cpu",
    '(server-wide); driver: the bench process itself (the HTTP clients of (e) and (f), its polls).',
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
    lines.push('| production topology | sagas | sagas/s | ÷ (f1) | correct |', '| --- | --- | --- | --- | --- |');
    for (const s of r.scaled) {
      lines.push(
        `| ${s.orchestrators} orchestrators + ${s.agents} agent(s) | ${s.n} | ${f(s.rate)} | ${f(s.rate / r.scaled[0].rate, 2)} | ${s.ok ? 'yes' : 'NO'}: ${s.detail} |`,
      );
    }
    lines.push('');
  }
  if (r.g) lines.push(...workloadReport(r.g), '');
  return `${lines.join('\n')}\n`;
}

/** (g)'s rows of the report: each rate tried, and where a saga's time goes at the highest steady one. */
function workloadReport(g: WorkloadResult): string[] {
  const lines = [
    `(g) The drone-delivery demo (participant services as their own process, Nest Redis transport, REST starts on ` +
      `the all-in-one, open loop): highest steady rate **${g.rate} sagas/s** (no attempt timed out, every saga ` +
      `COMPLETED, no growing backlog).`,
    '',
    '| (g) rate/s | sagas | steady | p50 ms | p99 ms | start answer p99 ms | open mid -> end | drained s | timed out | other failed |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...g.steps.map(
      (s) =>
        `| ${s.rate} | ${s.n} | ${s.steady ? 'yes' : `no: ${s.why}`} | ${f(s.p50, 0)} | ${f(s.p99, 0)} | ${f(s.startP99, 0)} | ` +
        `${s.openMid} -> ${s.openEnd} | ${f(s.drainMs / 1000, 1)} | ${s.timedOut} | ${s.failedAttempts} |`,
    ),
  ];
  const b = g.breakdown;
  if (b) {
    lines.push(
      '',
      `At ${g.rate} sagas/s, a saga's time (means, ms): end to end ${f(b.e2eMean, 0)} (p50 ${f(b.e2eP50, 0)}, p99 ` +
        `${f(b.e2eP99, 0)}) = engine ${f(b.engine, 0)} (dispatch to outcome commit of the six participant steps, less ` +
        `the agent's handler time; schedule-to-start of the attempts that went through the queue p50 ${f(b.s2sP50, 0)}, ` +
        `p99 ${f(b.s2sP99, 0)}) + transport ${f(b.transport, 0)} (the agent's handler time less the participant's) + ` +
        `participants ${f(b.participant, 0)} (their own timing; of it ${f(b.participantPoolWait, 0)} waiting for their ` +
        `own PostgreSQL connections; p99 per call ${f(b.participantP99, 0)}, at most ${b.participantMaxInFlight} calls at ` +
        `once) + the delivery wait ${f(b.wait, 0)} (the demo drone's flight and its signal) + other ${f(b.other, 0)} ` +
        `(the skipped branch's condition, the parallel group). ${cpuLine(g.cpu, WORKLOAD_ORDER)}.`,
    );
  }
  return lines;
}

void main().then(
  // Every connection is closed by now; exit anyway, so that a handle a library keeps open cannot hang a script.
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(`bench failed: ${String((error as Error).stack ?? error)}`);
    process.exit(1);
  },
);
