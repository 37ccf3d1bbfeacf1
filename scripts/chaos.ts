/**
 * `npm run chaos`: many drone-delivery sagas with random faults, while agent processes are killed (-9) every few
 * seconds and restarted, and a private Redis is restarted (losing every job) once. After a drain it checks the
 * invariants (scripts/support/checker.ts) and exits non-zero when one is broken:
 *
 * - `lost`: sagas neither terminal nor FAILED after the drain timeout (must be 0);
 * - `double effects`: ledger keys whose effect was applied more than once (must be 0);
 * - violations: a COMPENSATED/CANCELLED saga without exactly one undo per forward effect that has one, a
 *   COMPLETED saga with an undo or without its six effects, money not conserved.
 *
 * Options: `--sagas 300 --seed <n> --agents 2 --rate 25` (or CHAOS_SEED). Runs the built engine (it builds dist/
 * when stale) against the shared PostgreSQL (a fresh database, dropped at the end unless `--keep` or a failure;
 * CHAOS_DATABASE_URL names another server) and a private Redis on a free port (scripts/support/private-servers.ts,
 * which needs redis-server installed).
 * Reproducible by seed, up to the timing of the kills.
 */
import { Cluster, type EngineProcess, poll, prepareEngine } from './support/cluster';
import { PrivateServices } from './support/private-servers';
import { seededRandom } from './support/seeded-random';
import { type CheckReport, checkInvariants } from './support/checker';

export interface ChaosOptions {
  sagas: number;
  seed: number;
  agents: number;
  /** Sagas started per second. */
  rate: number;
  /** Pause between two agent kills, drawn uniformly in [min, max]. */
  killEveryMs: [number, number];
  /** Faults go on for at least this long from the start (and at least until every saga was started). */
  faultWindowMs: number;
  /** Restart the private Redis once, at this fraction of the load phase (null: never). */
  redisRestartAt: number | null;
  drainTimeoutMs: number;
  /** The PostgreSQL server the run gets a fresh database on. */
  pgAdminUrl: string;
  keepDatabase: boolean;
  log: (line: string) => void;
}

export interface ChaosReport extends CheckReport {
  seed: number;
  started: number;
  kills: number;
  redisRestarts: number;
  redrives: number;
  durationMs: number;
  ok: boolean;
}

export const DEFAULT_CHAOS: ChaosOptions = {
  sagas: 300,
  seed: 1,
  agents: 2,
  rate: 25,
  killEveryMs: [2_000, 5_000],
  faultWindowMs: 30_000,
  redisRestartAt: 0.5,
  drainTimeoutMs: 180_000,
  pgAdminUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  keepDatabase: false,
  log: (line) => process.stdout.write(`${line}\n`),
};

const FORWARD_STEPS = ['verify-account', 'create-delivery', 'register-package', 'schedule-drone'];
const MORE_STEPS = ['book-ground-transport', 'charge-account'];

/** A random drone delivery: faults on any step; delays up to 2.6 s (the steps time out at 2 s). */
export function randomInput(random: () => number, i: number): Record<string, unknown> {
  const pick = (p: number) => random() < p;
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const faults: Record<string, Record<string, unknown>> = {};
  for (const step of [...FORWARD_STEPS, ...MORE_STEPS]) {
    const fault: Record<string, unknown> = {};
    if (pick(0.12)) fault.transient = int(1, 3);
    if (pick(0.03)) fault.fatal = true;
    if (pick(0.12)) fault.delayMs = int(100, 2_600);
    if (step !== 'verify-account' && pick(0.1)) fault.compensationTransient = int(1, 3);
    if (Object.keys(fault).length > 0) faults[step] = fault;
  }
  // After the pivot a step is retried until it succeeds: only transient faults, or the saga would never end.
  if (pick(0.12)) faults['notify-customer'] = { transient: int(1, 3) };
  return {
    accountId: pick(0.03) ? `nobody-${i}` : `acc-${int(1, 20)}`,
    pickup: { lat: 52.52, lng: 13.405 },
    dropoff: { lat: 52.5, lng: 13.45 },
    weightKg: pick(0.3) ? int(21, 50) : int(1, 20),
    priceCents: int(100, 5_000),
    faults,
  };
}

export async function runChaos(partial: Partial<ChaosOptions> = {}): Promise<ChaosReport> {
  const o: ChaosOptions = { ...DEFAULT_CHAOS, ...partial };
  const began = Date.now();
  let loadBegan = began; // once the processes run
  const since = () => `${((Date.now() - loadBegan) / 1000).toFixed(1)}s`;
  o.log(
    `chaos: seed ${o.seed}, ${o.sagas} sagas at ${o.rate}/s, ${o.agents} agents killed -9 every ` +
      `${o.killEveryMs[0]}-${o.killEveryMs[1]} ms, private Redis restarted ${o.redisRestartAt === null ? 'never' : 'once'}`,
  );
  // Builds what changed (nothing, under jest: its global setup built already).
  await prepareEngine(o.log);
  const random = seededRandom(o.seed);
  const nemesisRandom = seededRandom(o.seed ^ 0x5eed);

  const services = await PrivateServices.create({ redis: true });
  const cluster = new Cluster({
    pgAdminUrl: o.pgAdminUrl,
    redisUrl: services.redisUrl,
    env: {
      SUPERVISOR_INTERVAL_MS: '500',
      SCHEDULE_TO_START_MS: '2000',
      AGENT_CONCURRENCY: '25',
    },
  });
  let report: ChaosReport | undefined;
  try {
    await cluster.createDatabase();
    o.log(`chaos: database ${cluster.dbName}, logs in ${cluster.logDir}`);
    await cluster.startOrchestrator();
    const agents: EngineProcess[] = [];
    for (let i = 0; i < o.agents; i++) agents.push(await cluster.startAgent());

    loadBegan = Date.now();
    // Load: start the sagas at the given rate, each with its own idempotency key (retried on errors).
    const inputs = Array.from({ length: o.sagas }, (_, i) => randomInput(random, i));
    let loading = true;
    let started = 0;
    const load = (async () => {
      const gapMs = 1000 / o.rate;
      for (let i = 0; i < inputs.length; i++) {
        const due = loadBegan + i * gapMs;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        await poll(
          async () => {
            const res = await cluster.request('POST', '/v1/sagas', {
              type: 'drone-delivery',
              input: inputs[i],
              idempotencyKey: `chaos-${o.seed}-${i}`,
            });
            if (res.status !== 201 && res.status !== 200) throw new Error(`POST answered ${res.status}`);
            return true;
          },
          { timeoutMs: 30_000, intervalMs: 200, what: `saga ${i} to start` },
        );
        started++;
      }
      loading = false;
    })();

    // Nemesis: kill a random agent with -9 every few seconds and start a new one; restart Redis once.
    let kills = 0;
    let redisRestarts = 0;
    const loadMs = (o.sagas / o.rate) * 1000;
    const nemesis = (async () => {
      const until = () => loading || Date.now() < loadBegan + Math.max(loadMs + 5_000, o.faultWindowMs);
      while (until()) {
        const [lo, hi] = o.killEveryMs;
        await new Promise((r) => setTimeout(r, lo + nemesisRandom() * (hi - lo)));
        if (o.redisRestartAt !== null && redisRestarts === 0 && Date.now() - loadBegan > o.redisRestartAt * loadMs) {
          o.log(`chaos: ${since()} restarting Redis (every job is lost)`);
          await services.restart();
          redisRestarts++;
          continue;
        }
        const index = Math.floor(nemesisRandom() * agents.length);
        const victim = agents[index];
        await victim.kill('SIGKILL');
        kills++;
        agents[index] = await cluster.startAgent();
        o.log(
          `chaos: ${since()} killed ${victim.name} (pid ${victim.pid}) with -9, started ${agents[index].name}; ${started} sagas started`,
        );
      }
    })();
    await Promise.all([load, nemesis]);

    // Drain: no more faults; every saga must end.
    o.log(`chaos: ${since()} load and faults over; draining (up to ${o.drainTimeoutMs / 1000} s)`);
    await poll(
      async () => {
        const [{ n }] = await cluster.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM saga_instance WHERE status IN ('RUNNING', 'COMPENSATING')`,
        );
        return n === 0;
      },
      { timeoutMs: o.drainTimeoutMs, intervalMs: 1000, what: 'every saga to end' },
    ).catch(() => o.log(`chaos: drain timed out`));

    const check = await checkInvariants(cluster.databaseUrl);
    const redrives = cluster.processes.reduce((n, p) => n + (p.log.match(/enqueued it again/g)?.length ?? 0), 0);
    const ok =
      check.lost === 0 && check.doubleEffects === 0 && check.violations.length === 0 && check.total === o.sagas;
    report = { ...check, seed: o.seed, started, kills, redisRestarts, redrives, durationMs: Date.now() - began, ok };
    return report;
  } finally {
    if (report) printReport(report, o.log);
    await cluster.close({ keepDatabase: o.keepDatabase || !report?.ok, keepLogs: !report?.ok });
    await services.dispose();
  }
}

function printReport(r: ChaosReport, log: (line: string) => void): void {
  const states = Object.entries(r.counts)
    .map(([status, n]) => `${status} ${n}`)
    .join(', ');
  log('');
  log(`chaos report (seed ${r.seed}, ${(r.durationMs / 1000).toFixed(0)} s)`);
  log(`  sagas:            ${r.total} in the database of ${r.started} started`);
  log(`  ended:            ${states}`);
  log(`  faults injected:  ${r.kills} agent kills (-9), ${r.redisRestarts} Redis restart(s)`);
  log(
    `  recovery:         ${r.deadlinesExceeded} attempts declared lost (DEADLINE_EXCEEDED), ${r.redrives} jobs re-enqueued`,
  );
  log(`  lost:             ${r.lost}`);
  log(`  double effects:   ${r.doubleEffects}`);
  log(`  violations:       ${r.violations.length}`);
  for (const v of r.violations.slice(0, 20)) log(`    - ${v}`);
  log(r.ok ? 'chaos: PASS' : 'chaos: FAIL');
}

function parseArgs(argv: string[]): Partial<ChaosOptions> {
  const options: Partial<ChaosOptions> = {};
  if (process.env.CHAOS_DATABASE_URL) options.pgAdminUrl = process.env.CHAOS_DATABASE_URL;
  const seed = process.env.CHAOS_SEED;
  options.seed = seed ? Number(seed) : Math.floor(Math.random() * 2 ** 31);
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v)) throw new Error(`${argv[i - 1]} needs a number`);
      return v;
    };
    switch (argv[i]) {
      case '--sagas':
        options.sagas = value();
        break;
      case '--seed':
        options.seed = value();
        break;
      case '--agents':
        options.agents = value();
        break;
      case '--rate':
        options.rate = value();
        break;
      case '--keep':
        options.keepDatabase = true;
        break;
      default:
        throw new Error(`unknown option ${argv[i]} (see scripts/chaos.ts)`);
    }
  }
  return options;
}

if (require.main === module) {
  runChaos(parseArgs(process.argv.slice(2)))
    .then((report) => process.exit(report.ok ? 0 : 1))
    .catch((error: unknown) => {
      console.error(`chaos: ${error instanceof Error ? error.stack : String(error)}`);
      process.exit(2);
    });
}
