/**
 * A harness that runs the REAL engine as separate OS processes (the built `dist/`), so that tests and the chaos
 * run can kill them (-9), restart them, and restart PostgreSQL and Redis under them. Used by test/*.e2e-spec.ts
 * and scripts/chaos.ts. Loopback only; it kills only the processes it started, by pid.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { Redis } from 'ioredis';

/** The repository: the nearest directory above this file with nest-cli.json (from the sources or dist/tools/). */
export const ROOT = (() => {
  let dir = resolve(__dirname);
  while (!existsSync(join(dir, 'nest-cli.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
const ORCHESTRATOR = 'apps/orchestrator/main.js';
const AGENT = 'apps/agent/main.js';
const DEMO = 'apps/demo-services/main.js';

export const API_KEY = 'cluster-admin-key-0123456789abcdefghijkl';

/** Polls `probe` until it returns something other than undefined/false; fails after `timeoutMs`. */
export async function poll<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  {
    timeoutMs = 15_000,
    intervalMs = 50,
    what = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Whether something accepts TCP connections on the loopback port. */
export function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolveAnswer(true);
    });
    socket.once('error', () => resolveAnswer(false));
  });
}

/** A TCP port nobody listens on right now (loopback). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

// -------------------------------------------------------------------------------------------------------------
// Building dist/ once
// -------------------------------------------------------------------------------------------------------------

/**
 * Builds what changed (`node scripts/build.mjs`: tsc -b and Vite, incremental, one build at a time per tree) and
 * answers where the processes run from: dist/ of this tree. An incremental build rewrites only the files that
 * changed and never empties dist/, so a build started meanwhile elsewhere in the tree cannot pull files from under
 * a running test.
 */
export async function prepareEngine(log: (line: string) => void = () => undefined): Promise<string> {
  const started = Date.now();
  await new Promise<void>((resolveBuild, reject) => {
    execFile(
      process.execPath,
      [join(ROOT, 'scripts', 'build.mjs'), '--quiet'],
      { cwd: ROOT, maxBuffer: 16 << 20 },
      (error, out, err) => (error ? reject(new Error(`the build failed:\n${out}\n${err}`)) : resolveBuild()),
    );
  });
  log(`build checked (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return join(ROOT, 'dist');
}

/** The built entry point to run. */
function entry(file: string): string {
  return join(ROOT, 'dist', file);
}

// -------------------------------------------------------------------------------------------------------------
// Processes
// -------------------------------------------------------------------------------------------------------------

/** One engine process (orchestrator or agent) with its output kept for assertions and post-mortems. */
export class EngineProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private output = '';

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    env: Record<string, string>,
    logFile: string,
  ) {
    this.child = spawn(process.execPath, [script, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logFile, { flags: 'a' });
    log.on('error', () => undefined); // a log file is a convenience: losing it must not fail the run
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      this.output = (this.output + text).slice(-200_000);
      log.write(text);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolveExit) =>
      this.child.once('exit', (code, signal) => {
        log.end();
        resolveExit({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get log(): string {
    return this.output;
  }

  /** Kills the process (SIGKILL unless told otherwise) and waits for it to be gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }

  async waitForOutput(pattern: RegExp, timeoutMs = 30_000): Promise<void> {
    await poll(() => pattern.test(this.output) || (!this.alive && Promise.reject(new Error(`${this.name} exited`))), {
      timeoutMs,
      what: `${this.name} to print ${pattern}`,
    });
  }
}

export interface ClusterOptions {
  /** Admin URL of the PostgreSQL server the cluster gets a fresh database on. */
  pgAdminUrl?: string;
  redisUrl?: string;
  /** Extra environment for every process (SUPERVISOR_INTERVAL_MS, SCHEDULE_TO_START_MS, ...). */
  env?: Record<string, string>;
  /** Where process logs go (a fresh temporary directory by default). */
  logDir?: string;
}

/**
 * A fresh database and Redis prefix, and the orchestrator and agent processes running against them. Talks to
 * the orchestrator over HTTP like any client.
 */
export class Cluster {
  readonly dbName = `saga_proc_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  readonly prefix = `proc-${randomBytes(6).toString('hex')}`;
  readonly pgAdminUrl: string;
  readonly redisUrl: string;
  readonly databaseUrl: string;
  readonly logDir: string;
  readonly processes: EngineProcess[] = [];
  port = 0;
  /** The demo services' HTTP and TCP ports (TCP unused: the cluster has Redis, so they talk over Redis). */
  demoPort = 0;
  demoTcpPort = 0;
  /**
   * The demo services' process, started with the first orchestrator or agent (see startDemo). Kept apart from
   * `processes` (the engine's), which tests index and count.
   */
  demo: EngineProcess | null = null;
  readonly demos: EngineProcess[] = [];
  private counter = 0;

  constructor(readonly options: ClusterOptions = {}) {
    // In the e2e run: the PostgreSQL and Redis it settled on (test/support/test-backends.ts).
    this.pgAdminUrl =
      options.pgAdminUrl ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    this.redisUrl = options.redisUrl ?? process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    const url = new URL(this.pgAdminUrl);
    url.pathname = `/${this.dbName}`;
    this.databaseUrl = url.toString();
    this.logDir = options.logDir ?? mkdtempSync(join(tmpdir(), 'saga-cluster-'));
  }

  async createDatabase(): Promise<void> {
    await withClient(this.pgAdminUrl, (c) => c.query(`CREATE DATABASE "${this.dbName}"`));
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      // The snapshot of dist/ lives outside the tree: its packages are found through NODE_PATH.
      NODE_PATH: join(ROOT, 'node_modules'),
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: this.redisUrl,
      SAGA_REDIS_PREFIX: this.prefix,
      SAGA_API_KEYS: `admin:${API_KEY}:admin`,
      // The chaos and recovery runs poll hard; the limits have tests of their own.
      RATE_LIMIT_PER_MINUTE: '0',
      // The demo saga has a sensitive field: every process of the cluster shares one key (as in docker-compose).
      SAGA_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64'),
      PORT: String(this.port),
      // The participants are the demo services' own process (startDemo); an all-in-one orchestrator must not
      // start a second copy of them.
      DEMO_URL: `http://127.0.0.1:${this.demoPort}`,
      DEMO_PORT: String(this.demoPort),
      DEMO_TCP_PORT: String(this.demoTcpPort),
      DEMO_IN_PROCESS: 'false',
      SAGA_URL: `http://127.0.0.1:${this.port}`,
      SAGA_SIGNAL_KEY: API_KEY,
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
      DB_POOL_SIZE: '10',
      ...this.options.env,
      ...extra,
    };
  }

  /** Picks the ports of the engine and the demo services (once). */
  private async ports(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    if (this.demoPort === 0) this.demoPort = await freePort();
    if (this.demoTcpPort === 0) this.demoTcpPort = await freePort();
  }

  /**
   * Starts the demo services' process (`npm run start:demo`) and waits until its ledger answers. Called by the
   * first startOrchestrator / startAgent; call it again after killing `demo` to bring the participants back.
   */
  async startDemo(env: Record<string, string> = {}): Promise<EngineProcess> {
    await this.ports();
    const name = `demo-${++this.counter}`;
    const proc = new EngineProcess(name, entry(DEMO), [], this.env(env), this.logFile(name));
    this.demos.push(proc);
    this.demo = proc;
    await poll(
      async () => {
        if (!proc.alive) throw new Error(`${name} exited:\n${proc.log.slice(-3000)}`);
        const res = await fetch(`http://127.0.0.1:${this.demoPort}/v1/demo/ledger?sagaId=none`).catch(() => null);
        return res?.status === 200 && /demo services are ready/.test(proc.log);
      },
      { timeoutMs: 30_000, what: `${name} to answer` },
    );
    return proc;
  }

  private async ensureDemo(): Promise<void> {
    if (!this.demo) await this.startDemo();
  }

  /**
   * Starts an orchestrator (apps/orchestrator: API and supervisor, no saga code) or, with `all`, the whole engine
   * with the demo saga's agent inside (apps/demo-services --all, its demo services left to startDemo), and waits
   * until /health answers 200.
   */
  async startOrchestrator({ all = false, env = {} }: { all?: boolean; env?: Record<string, string> } = {}) {
    await this.ports();
    await this.ensureDemo();
    const name = `orchestrator-${++this.counter}`;
    const [script, args] = all ? [entry(DEMO), ['--all']] : [entry(ORCHESTRATOR), []];
    const proc = new EngineProcess(name, script, args, this.env(env), this.logFile(name));
    this.processes.push(proc);
    await poll(
      async () => {
        if (!proc.alive) throw new Error(`${name} exited:\n${proc.log.slice(-3000)}`);
        const res = await fetch(`${this.baseUrl}/health`);
        return res.status === 200;
      },
      { timeoutMs: 30_000, what: `${name} to answer /health` },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n--- ${name} log ---\n${proc.log.slice(-3000)}`);
    });
    return proc;
  }

  async startAgent(env: Record<string, string> = {}): Promise<EngineProcess> {
    await this.ports();
    await this.ensureDemo();
    const name = `agent-${++this.counter}`;
    const proc = new EngineProcess(name, entry(AGENT), [], this.env(env), this.logFile(name));
    this.processes.push(proc);
    await proc.waitForOutput(/saga agent is ready/).catch((error: Error) => {
      throw new Error(`${error.message}\n--- ${name} log ---\n${proc.log.slice(-3000)}`);
    });
    return proc;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }

  async startSaga(input: unknown, type = 'drone-delivery'): Promise<string> {
    const res = await this.request('POST', '/v1/sagas', { type, input });
    if (res.status !== 201) throw new Error(`POST /v1/sagas answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  }

  async saga(id: string): Promise<any> {
    const res = await this.request('GET', `/v1/sagas/${id}`);
    if (res.status !== 200) throw new Error(`GET /v1/sagas/${id} answered ${res.status}`);
    return res.body;
  }

  async events(id: string): Promise<any[]> {
    return (await this.request('GET', `/v1/sagas/${id}/events`)).body.items;
  }

  async ledger(sagaId: string): Promise<any[]> {
    const res = await fetch(`http://127.0.0.1:${this.demoPort}/v1/demo/ledger?sagaId=${sagaId}`);
    if (res.status !== 200) throw new Error(`GET /v1/demo/ledger answered ${res.status}`);
    return (await res.json()) as any[];
  }

  async waitForStatus(id: string, statuses: string[], timeoutMs = 30_000): Promise<any> {
    return poll(
      async () => {
        const saga = await this.saga(id);
        return statuses.includes(saga.status) ? saga : undefined;
      },
      { timeoutMs, intervalMs: 100, what: `saga ${id} to reach ${statuses.join('|')}` },
    );
  }

  /** Runs SQL against the cluster's database. */
  async query<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
    return withClient(this.databaseUrl, async (c) => (await c.query(sql, params)).rows as T[]);
  }

  /** The last lines of every process's log, for a failing test's message. */
  logs(lines = 40): string {
    return [...this.processes, ...this.demos]
      .map(
        (p) =>
          `--- ${p.name} (pid ${p.pid}, ${p.alive ? 'alive' : 'exited'}) ---\n${p.log.split('\n').slice(-lines).join('\n')}`,
      )
      .join('\n');
  }

  private logFile(name: string): string {
    return join(this.logDir, `${name}.log`);
  }

  /** Kills every process it started, drops its database and its Redis keys, and removes its logs. */
  async close({ keepDatabase = false, keepLogs = false }: { keepDatabase?: boolean; keepLogs?: boolean } = {}) {
    await Promise.all([...this.processes, ...this.demos].map((p) => p.kill('SIGKILL')));
    if (!keepLogs && !this.options.logDir) rmSync(this.logDir, { recursive: true, force: true });
    if (!keepDatabase) {
      await withClient(this.pgAdminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${this.dbName}" WITH (FORCE)`)).catch(
        () => undefined,
      );
    }
    await dropRedisPrefix(this.redisUrl, this.prefix).catch(() => undefined);
  }
}

export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Deletes every key under a prefix: FLUSHALL for one engine, on a Redis shared with others. */
export async function dropRedisPrefix(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  let dropped = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) dropped += await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return dropped;
}
