/**
 * `node dist/tools/scripts/capacity.js [results.md] [--scenario f1] [--rates 1000,10000,100000] [--util 0.7] ...`:
 * what N agents and M orchestrators need from PostgreSQL and Redis at a target rate of sagas/s, from the CPU and
 * round trips per saga per role that the bench measured (docs/performance.md, "Scaling past one machine"), plus a
 * small discrete-event simulation of one process's group commit (SagaStore's StatementBatcher): how the batch size,
 * and so PostgreSQL transactions per saga, move with the write rate of a process and the statement's latency.
 *
 * Arithmetic on measured figures, not a measurement: every limit it divides by is an assumption, printed with the
 * answer. Run `--help` for the flags.
 */
import { readFileSync } from 'node:fs';
import { seededRandom } from './support/seeded-random';

/** What one saga costs each role, as the bench measured it (per saga, averaged over a scenario's window). */
export interface RoleCosts {
  /** Where the figures come from. */
  source: string;
  /** The rate the figures were measured at (sagas/s). */
  measuredRate: number;
  /** CPU ms per saga of the orchestrators (REST API, scheduler, supervisor); the all-in-one engine's for (a)/(e). */
  orchestratorCpuMs: number;
  /** CPU ms per saga of the agents (0 when the engine runs them in-process). */
  agentCpuMs: number;
  postgresCpuMs: number;
  redisCpuMs: number;
  pgTxPerSaga: number;
  walSyncsPerSaga: number;
  /** Redis commands per saga, those BullMQ's Lua scripts call included (INFO commandstats). */
  redisCmdsPerSaga: number;
}

/**
 * The production topology (2 orchestrators + 1 agent over REST and Redis, 10 % compensating) in the full bench run
 * of 2026-12-07 08:40 on the 2-core machine: `bench/results/2026-12-07-0840.md`, row (f1).
 */
export const MEASURED_F1: RoleCosts = {
  source: 'bench/results/2026-12-07-0840.md (f1): 2 orchestrators + 1 agent',
  measuredRate: 335.2,
  orchestratorCpuMs: 2.16,
  agentCpuMs: 1.39,
  postgresCpuMs: 1.6,
  redisCpuMs: 0.2,
  pgTxPerSaga: 2.16,
  walSyncsPerSaga: 0.8,
  redisCmdsPerSaga: 50.6,
};

/** The limits the figures are divided by: assumptions, not measurements (see docs/performance.md). */
export interface Limits {
  /** Share of a core a process or server may use before queues grow (0.7: the usual planning ceiling). */
  utilisation: number;
  /** A Node process runs its JavaScript on one thread: one process is about one core. */
  coresPerNodeProcess: number;
  /** Cores of the largest PostgreSQL primary we would plan on. */
  pgCoresPerPrimary: number;
  /** WAL MB/s one primary (and its streaming replica and archive) keep up with. */
  walMBpsPerPrimary: number;
  /** WAL bytes one saga writes (see estimateWalBytesPerSaga). */
  walBytesPerSaga: number;
  /** Commands/s one Redis node (one core, one thread) serves: redis.io's redis-benchmark, no pipelining. */
  redisCmdsPerShard: number;
  /** Share of the sagas that are of the busiest saga type (its queue is one hash slot, so one shard). */
  hottestTypeShare: number;
  /** PostgreSQL connections each engine process opens (DB_POOL_SIZE). */
  poolSize: number;
}

export const DEFAULT_LIMITS: Limits = {
  utilisation: 0.7,
  coresPerNodeProcess: 1,
  pgCoresPerPrimary: 64,
  walMBpsPerPrimary: 200,
  walBytesPerSaga: 0, // filled below from the row estimate
  redisCmdsPerShard: 150_000,
  hottestTypeShare: 1,
  poolSize: 20,
};

/**
 * WAL bytes of one happy five-step saga, from the rows its statements write, without full-page images: each WAL
 * record ~50 B of header, a heap tuple 23 B of header plus its data, a btree entry ~70 B with its record. Rows:
 * the instance inserted once and updated once per step (a new tuple, and an entry in its 4 always-present indexes:
 * not HOT once pages are full), 5 step rows inserted, each updated twice (its outcome, and its dispatch by the
 * commit before; a new entry in the primary key and the due/deadline partial index), and about 3 history rows per
 * step plus the start and the end. Full-page images after each checkpoint come on top: with the default
 * `full_page_writes` they can double it (`fpiFactor`). An estimate: `pg_stat_wal.wal_bytes` is what to measure.
 */
export function estimateWalBytesPerSaga(steps = 5, fpiFactor = 1): number {
  const record = 50;
  const tuple = 23;
  const indexEntry = 70;
  const instance = record + tuple + 400 + 4 * indexEntry; // ~400 B of data: ids, type, input jsonb, hash, times
  const step = record + tuple + 200; // name, status, attempts, outputs, outbox times
  const event = record + tuple + 100 + indexEntry; // type, step, attempt, data, and its primary-key entry
  const commits = (steps + 1) * 40;
  const bytes =
    instance * (1 + steps) +
    steps * (step + 2 * indexEntry) +
    2 * steps * (step + 2 * indexEntry) +
    (3 * steps + 2) * event +
    commits;
  return Math.round(bytes * fpiFactor);
}

DEFAULT_LIMITS.walBytesPerSaga = estimateWalBytesPerSaga();

/** What a target rate needs, role by role. */
export interface Plan {
  rate: number;
  orchestrators: number;
  agents: number;
  /** Connections the engine's pools may open: (M + N) × DB_POOL_SIZE, before any PgBouncer. */
  pgConnections: number;
  pgTxPerSec: number;
  walSyncsPerSec: number;
  walMBps: number;
  pgCores: number;
  /** Primaries (shards by saga id) needed: by CPU or by WAL, whichever is more. 1 = one primary suffices. */
  pgPrimaries: number;
  redisCmdsPerSec: number;
  redisCores: number;
  /** Redis nodes needed, by commands and by CPU, whichever is more. */
  redisShards: number;
  /** Queues the busiest saga type's jobs must be split over, each in a slot of its own (1 = today's one queue). */
  hottestTypeQueues: number;
}

const ceilPositive = (x: number): number => Math.max(1, Math.ceil(x - 1e-9));

/** Linear in the rate: the per-saga costs stay those measured (see the doc for why that holds when scaling out). */
export function plan(rate: number, costs: RoleCosts, limits: Limits = DEFAULT_LIMITS): Plan {
  const cores = (cpuMsPerSaga: number) => (rate * cpuMsPerSaga) / 1000;
  const processes = (cpuMsPerSaga: number) =>
    cpuMsPerSaga > 0 ? ceilPositive(cores(cpuMsPerSaga) / (limits.utilisation * limits.coresPerNodeProcess)) : 0;
  const pgCores = cores(costs.postgresCpuMs) / limits.utilisation;
  const walMBps = (rate * limits.walBytesPerSaga) / 1e6;
  const redisCmdsPerSec = rate * costs.redisCmdsPerSaga;
  const redisCores = cores(costs.redisCpuMs) / limits.utilisation;
  const perShard = limits.redisCmdsPerShard * limits.utilisation;
  const orchestrators = processes(costs.orchestratorCpuMs);
  const agents = processes(costs.agentCpuMs);
  return {
    rate,
    orchestrators,
    agents,
    pgConnections: (orchestrators + agents) * limits.poolSize,
    pgTxPerSec: rate * costs.pgTxPerSaga,
    walSyncsPerSec: rate * costs.walSyncsPerSaga,
    walMBps,
    pgCores,
    pgPrimaries: ceilPositive(Math.max(pgCores / limits.pgCoresPerPrimary, walMBps / limits.walMBpsPerPrimary)),
    redisCmdsPerSec,
    redisCores,
    redisShards: ceilPositive(Math.max(redisCmdsPerSec / perShard, redisCores)),
    hottestTypeQueues: ceilPositive((redisCmdsPerSec * limits.hottestTypeShare) / perShard),
  };
}

/** One process's group commit, as SagaStore's StatementBatcher does it. */
export interface GroupCommitParams {
  /** Transitions per second this process commits (Poisson arrivals). */
  writesPerSec: number;
  /** A statement's fixed time: round trip, execution, WAL flush (ms). */
  fixedMs: number;
  /** What each transition in the statement adds (ms). */
  perRowMs: number;
  /** Statements in flight at once (MAX_BATCHES_IN_FLIGHT). */
  inFlight?: number;
  /** Transitions per statement at most (MAX_BATCH). */
  maxBatch?: number;
  /** Simulated seconds. */
  seconds?: number;
  seed?: number;
}

export interface GroupCommitResult {
  meanBatch: number;
  statementsPerSec: number;
  /** Mean time from a transition's submit to its statement's end (ms). */
  meanLatencyMs: number;
  /** The writes came faster than full statements can take them: the queue grew without bound (run cut short). */
  saturated: boolean;
}

/**
 * Discrete-event simulation of the batcher: a transition that finds a free statement slot goes at once with
 * whatever waits; otherwise it waits for the first statement to end, which then takes everything waiting (up to
 * maxBatch). A statement of b transitions lasts fixedMs + b × perRowMs; the database itself is assumed to keep up.
 */
export function simulateGroupCommit(p: GroupCommitParams): GroupCommitResult {
  const inFlight = p.inFlight ?? 4;
  const maxBatch = p.maxBatch ?? 200;
  const horizon = (p.seconds ?? 5) * 1000;
  const next = seededRandom(p.seed ?? 1);
  const ends: number[] = []; // end times of the statements in flight
  let waiting: number[] = []; // submit times of the transitions waiting
  let statements = 0;
  let rows = 0;
  let latency = 0;
  const start = (now: number) => {
    const batch = waiting.slice(0, maxBatch);
    waiting = waiting.slice(batch.length);
    const end = now + p.fixedMs + batch.length * p.perRowMs;
    ends.push(end);
    statements++;
    rows += batch.length;
    for (const t of batch) latency += end - t;
  };
  let now = 0;
  let saturated = false;
  let arrival = -Math.log(1 - next()) * (1000 / p.writesPerSec);
  while (now < horizon) {
    const firstEnd = ends.length ? Math.min(...ends) : Infinity;
    if (arrival <= firstEnd) {
      now = arrival;
      waiting.push(now);
      if (waiting.length > 100 * maxBatch * inFlight) {
        saturated = true;
        break;
      }
      if (ends.length < inFlight) start(now);
      arrival = now - Math.log(1 - next()) * (1000 / p.writesPerSec);
    } else {
      now = firstEnd;
      ends.splice(ends.indexOf(firstEnd), 1);
      if (waiting.length > 0) start(now);
    }
  }
  return {
    meanBatch: statements ? rows / statements : 0,
    statementsPerSec: statements / (now / 1000),
    meanLatencyMs: rows ? latency / rows : 0,
    saturated,
  };
}

/**
 * Reads one scenario's figures from a bench results file (`bench/results/<date>.md`): its row of the main table
 * (sagas/s, PG tx, WAL syncs and Redis commands per saga) and of the CPU table. `scenario` is the row's tag: a,
 * e, f1, f2, f4. Scenarios without orchestrators (a to e) count the engine's CPU as the orchestrators'.
 */
export function parseBenchResults(text: string, scenario: string, source = 'a bench results file'): RoleCosts {
  const tables = new Map<string, Map<string, string>[]>();
  let header: string[] | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      header = null;
      continue;
    }
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (!header) {
      header = cells;
      tables.set(cells[0], []);
    } else if (!cells[0].startsWith('---')) {
      const h = header;
      tables.get(h[0])!.push(new Map(cells.map((c, i) => [h[i], c])));
    }
  }
  const row = (table: string) => {
    const found = tables.get(table)?.find((r) => r.get(table)?.startsWith(`(${scenario})`));
    if (!found) throw new Error(`no row (${scenario}) in the table "${table}" of ${source}`);
    return found;
  };
  const main = row('scenario');
  const cpu = row('CPU ms per saga');
  const num = (r: Map<string, string>, column: string) => {
    const value = Number.parseFloat((r.get(column) ?? '').replace(/,/g, ''));
    return Number.isFinite(value) ? value : 0;
  };
  return {
    source: `${source} (${scenario})`,
    measuredRate: num(main, 'sagas/s'),
    orchestratorCpuMs: num(cpu, 'orchestrators') || num(cpu, 'engine'),
    agentCpuMs: num(cpu, 'agents'),
    postgresCpuMs: num(cpu, 'PostgreSQL'),
    redisCpuMs: num(cpu, 'Redis'),
    pgTxPerSaga: num(main, 'PG tx/saga'),
    walSyncsPerSaga: num(main, 'WAL syncs/saga'),
    redisCmdsPerSaga: num(main, 'Redis cmds/saga'),
  };
}

const fmt = (x: number, digits = 0): string =>
  x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The plans as a Markdown table. */
export function planTable(plans: Plan[]): string {
  const lines = [
    '| sagas/s | orchestrators (M) | agents (N) | PG connections | PG tx/s | WAL syncs/s | WAL MB/s (est.) | PG cores | PG primaries | Redis cmds/s | Redis cores | Redis shards | queues of the busiest type |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const p of plans) {
    lines.push(
      `| ${fmt(p.rate)} | ${p.orchestrators} | ${p.agents} | ${fmt(p.pgConnections)} | ${fmt(p.pgTxPerSec)} | ${fmt(p.walSyncsPerSec)} | ` +
        `${fmt(p.walMBps)} | ${fmt(p.pgCores, 1)} | ${p.pgPrimaries} | ${fmt(p.redisCmdsPerSec)} | ` +
        `${fmt(p.redisCores, 1)} | ${p.redisShards} | ${p.hottestTypeQueues} |`,
    );
  }
  return lines.join('\n');
}

/** Group commit at a range of write rates and statement latencies, as a Markdown table. */
export function groupCommitTable(rates: number[], fixedMs: number[], perRowMs: number): string {
  const lines = [
    `| writes/s per process | ${fixedMs.map((f) => `statement ${f} ms + ${perRowMs} ms/row: batch, stmts/s, latency`).join(' | ')} |`,
    `| --- | ${fixedMs.map(() => '---').join(' | ')} |`,
  ];
  for (const rate of rates) {
    const cells = fixedMs.map((f) => {
      const r = simulateGroupCommit({ writesPerSec: rate, fixedMs: f, perRowMs });
      if (r.saturated) return 'saturated';
      return `${fmt(r.meanBatch, 1)}, ${fmt(r.statementsPerSec)}, ${fmt(r.meanLatencyMs, 2)} ms`;
    });
    lines.push(`| ${fmt(rate)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

const HELP = `usage: capacity [results.md] [--scenario f1] [--rates 1000,10000,100000] [--util 0.7]
  [--orchestrator-ms N] [--agent-ms N] [--pg-ms N] [--redis-ms N] [--pg-tx N] [--wal-syncs N] [--redis-cmds N]
  [--pg-cores-per-primary 64] [--wal-mbps-per-primary 200] [--wal-bytes N] [--redis-cmds-per-shard 150000]
  [--hottest-type-share 1] [--pool-size 20] [--commit-ms 0.27,1,3] [--row-ms 0.09] [--writes 500,2000,...]
Without a results file: the measured (f1) of bench/results/2026-12-07-0840.md. Flags override single figures.`;

function main(): void {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const flags = new Map<string, string>();
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i].startsWith('--')) flags.set(args[i].slice(2), args[++i] ?? '');
    else files.push(args[i]);
  }
  const number = (name: string, fallback: number) => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number, got "${raw}"`);
    return value;
  };
  const list = (name: string, fallback: number[]) =>
    flags.has(name)
      ? flags
          .get(name)!
          .split(',')
          .map((v) => Number(v))
      : fallback;
  const scenario = flags.get('scenario') ?? 'f1';
  const base = files[0] ? parseBenchResults(readFileSync(files[0], 'utf8'), scenario, files[0]) : MEASURED_F1;
  const costs: RoleCosts = {
    ...base,
    orchestratorCpuMs: number('orchestrator-ms', base.orchestratorCpuMs),
    agentCpuMs: number('agent-ms', base.agentCpuMs),
    postgresCpuMs: number('pg-ms', base.postgresCpuMs),
    redisCpuMs: number('redis-ms', base.redisCpuMs),
    pgTxPerSaga: number('pg-tx', base.pgTxPerSaga),
    walSyncsPerSaga: number('wal-syncs', base.walSyncsPerSaga),
    redisCmdsPerSaga: number('redis-cmds', base.redisCmdsPerSaga),
  };
  const limits: Limits = {
    ...DEFAULT_LIMITS,
    utilisation: number('util', DEFAULT_LIMITS.utilisation),
    pgCoresPerPrimary: number('pg-cores-per-primary', DEFAULT_LIMITS.pgCoresPerPrimary),
    walMBpsPerPrimary: number('wal-mbps-per-primary', DEFAULT_LIMITS.walMBpsPerPrimary),
    walBytesPerSaga: number('wal-bytes', DEFAULT_LIMITS.walBytesPerSaga),
    redisCmdsPerShard: number('redis-cmds-per-shard', DEFAULT_LIMITS.redisCmdsPerShard),
    hottestTypeShare: number('hottest-type-share', DEFAULT_LIMITS.hottestTypeShare),
    poolSize: number('pool-size', DEFAULT_LIMITS.poolSize),
  };
  const rates = list('rates', [1000, 10_000, 100_000]);
  const out = [
    `Per saga (${costs.source}, measured at ${fmt(costs.measuredRate, 1)} sagas/s): orchestrators ` +
      `${costs.orchestratorCpuMs} ms, agents ${costs.agentCpuMs} ms, PostgreSQL ${costs.postgresCpuMs} ms, Redis ` +
      `${costs.redisCpuMs} ms of CPU; ${costs.pgTxPerSaga} PG tx, ${costs.walSyncsPerSaga} WAL syncs, ` +
      `${costs.redisCmdsPerSaga} Redis commands.`,
    `Assumed: ${limits.utilisation * 100} % utilisation ceiling, ${limits.coresPerNodeProcess} core per Node process, ` +
      `${limits.pgCoresPerPrimary} cores and ${limits.walMBpsPerPrimary} MB/s of WAL per PostgreSQL primary, ` +
      `${fmt(limits.walBytesPerSaga)} WAL bytes per saga (estimated from rows, no full-page images), ` +
      `${fmt(limits.redisCmdsPerShard)} commands/s per Redis node, busiest type ${limits.hottestTypeShare * 100} % of sagas.`,
    '',
    planTable(rates.map((r) => plan(r, costs, limits))),
    '',
    'Group commit of one process (simulated StatementBatcher: 4 statements in flight, 200 transitions at most; Poisson arrivals):',
    '',
    groupCommitTable(
      list('writes', [500, 2000, 5000, 10_000, 20_000]),
      list('commit-ms', [0.27, 1, 3]),
      number('row-ms', 0.09),
    ),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

if (require.main === module) main();
