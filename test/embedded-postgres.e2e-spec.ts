import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import {
  type EmbeddedPostgres,
  type RunAs,
  SYSTEM_DIRS,
  binaries,
  blockedAncestor,
  startEmbeddedPostgres,
} from '../libs/nestjs/src/store/embedded-postgres';
import { describeIf } from './support/skip';
import { waitFor } from './support/wait-for';

const ROOT = resolve(__dirname, '..');
const isRoot = process.getuid?.() === 0;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z');
  } catch {
    return false;
  }
};
async function query(url: string, sql: string): Promise<any[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}
/** The uid a process runs as (the real one, from /proc). */
const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const userOf = (name: string): Required<RunAs> | undefined => {
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
    return { name, uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
};

/**
 * The embedded PostgreSQL of `npm start` without DATABASE_URL: created once, reused, stopped cleanly, and not
 * blocked by what a killed engine leaves behind. One data directory for the whole file, in a temporary directory
 * that the server's user can enter, as a project under /srv or /home would be (as root that user is `postgres`).
 */
describe('embedded PostgreSQL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'saga-embedded-pg-'));
  chmodSync(dir, 0o755); // ours, made just now
  const dataDir = join(dir, 'postgres');
  const statePath = join(dir, 'postgres.json');
  const started: EmbeddedPostgres[] = [];
  const children: ChildProcess[] = [];

  const lines: string[] = [];
  const start = async () => {
    const pg = await startEmbeddedPostgres({ dir, database: 'postgres', log: (line) => lines.push(line) });
    started.push(pg);
    return pg;
  };
  const setOwner = (ownerPid: number) => {
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    writeFileSync(statePath, JSON.stringify({ ...state, ownerPid }));
  };
  const sleeper = () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(child);
    return child.pid!;
  };

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    // Whatever a failed test left running: stop it through a handle that owns it.
    for (const pg of started) if (alive(pg.pid)) await pg.stop().catch(() => undefined);
    const last = started.at(-1);
    if (last && alive(last.pid)) process.kill(last.pid, 'SIGINT');
    rmSync(dir, { recursive: true, force: true });
  });

  it('initialises on first start, loopback only, with a password', async () => {
    const pg = await start();
    expect(pg).toMatchObject({ origin: 'initialised', owned: true, dataDir });
    expect(lines.at(-1)).toContain(`data in ${dataDir}`);
    expect(pg.url).toMatch(/^postgres:\/\/saga:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
    const [{ listen }] = await query(pg.url, `SELECT current_setting('listen_addresses') AS listen`);
    expect(listen).toBe('127.0.0.1');
    await query(pg.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$first run$$)');
    await expect(query(pg.url.replace(/:[^:@/]+@/, ':wrong@'), 'SELECT 1')).rejects.toThrow(/password/);
    if (isRoot) expect(statSync(dataDir).uid).not.toBe(0); // PostgreSQL refuses root
    expect(uidOf(pg.pid)).toBe(statSync(dataDir).uid);
    expect(JSON.parse(readFileSync(statePath, 'utf8')).dataDir).toBeUndefined(); // in its place: nothing to record
  });

  it('stops cleanly, and the next start reuses the data without initdb', async () => {
    const first = started.at(-1)!;
    const versionFile = statSync(join(dataDir, 'PG_VERSION')).mtimeMs;
    await first.stop();
    expect(alive(first.pid)).toBe(false);
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);

    const pg = await start();
    expect(pg.origin).toBe('started');
    expect(statSync(join(dataDir, 'PG_VERSION')).mtimeMs).toBe(versionFile);
    expect(await query(pg.url, 'SELECT v FROM kept')).toEqual([{ v: 'first run' }]);
  });

  it('adopts the server of an engine that was killed with -9', async () => {
    const running = started.at(-1)!;
    const dead = spawn('true');
    await new Promise((resolve) => dead.once('exit', resolve));
    setOwner(dead.pid!); // as if the engine that started it had died

    const pg = await start();
    expect(pg).toMatchObject({ origin: 'adopted', owned: true, pid: running.pid, port: running.port });
    expect(await query(pg.url, 'SELECT v FROM kept')).toHaveLength(1);
  });

  it('shares a server that another live process owns, and leaves it running', async () => {
    const running = started.at(-1)!;
    setOwner(sleeper()); // a live process that is not a PostgreSQL: another engine

    const pg = await start();
    expect(pg).toMatchObject({ origin: 'attached', owned: false, pid: running.pid });
    await pg.stop();
    expect(alive(running.pid)).toBe(true);
    setOwner(process.pid);
  });

  it('starts after the server itself was killed with -9 (stale postmaster.pid)', async () => {
    const running = started.at(-1)!;
    process.kill(running.pid, 'SIGKILL');
    await waitFor(() => !alive(running.pid), { what: 'the postmaster to die' });
    expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(true);

    const pg = await start();
    expect(pg.origin).toBe('started');
    expect(pg.pid).not.toBe(running.pid);
    expect(await query(pg.url, 'SELECT v FROM kept')).toHaveLength(1);
  });

  it('starts when postmaster.pid names a live process that is not PostgreSQL (pid reuse)', async () => {
    await started.at(-1)!.stop();
    const other = sleeper();
    const pidFile = join(dataDir, 'postmaster.pid');
    writeFileSync(pidFile, `${other}\n${dataDir}\n0\n5432\n`);

    const pg = await start();
    expect(pg.origin).toBe('started');
    expect(alive(other)).toBe(true);
    await pg.stop();
    expect(alive(pg.pid)).toBe(false);
  });
});

/**
 * As root in a directory the server's user cannot enter (a project under /root, or in `mktemp -d`: mode 700), as
 * on a fresh VPS or in a devcontainer: the directory is left as it is, and the data is kept under
 * /var/lib/saga-engine/<key> instead, found again on every start (see embedded-postgres.ts).
 */
describeIf(isRoot, `only root must work around a directory closed to the server's user: uid ${process.getuid?.()}`)(
  'embedded PostgreSQL as root, in a directory its user cannot enter (mode 700)',
  () => {
    // Made in beforeAll, not here: a skipped suite's body runs, its hooks do not.
    let parent = '';
    let dir = '';
    let statePath = '';
    const started: EmbeddedPostgres[] = [];
    const children: ChildProcess[] = [];
    const lines: string[] = [];
    const start = async (at = dir) => {
      const pg = await startEmbeddedPostgres({ dir: at, database: 'postgres', log: (line) => lines.push(line) });
      started.push(pg);
      return pg;
    };

    beforeAll(() => {
      parent = mkdtempSync(join(tmpdir(), 'saga-embedded-pg-closed-')); // mode 700, like mktemp -d
      dir = join(parent, '.saga-data');
      statePath = join(dir, 'postgres.json');
    });
    afterAll(async () => {
      for (const child of children) child.kill('SIGKILL');
      for (const pg of started) if (alive(pg.pid)) await pg.stop().catch(() => undefined);
      const last = started.at(-1);
      if (last && alive(last.pid)) process.kill(last.pid, 'SIGINT');
      await waitFor(() => !last || !alive(last.pid), { what: 'the postmaster to stop' }).catch(() => undefined);
      if (parent) rmSync(parent, { recursive: true, force: true });
      // The data kept for this test's directory (never anything else under /var/lib/saga-engine).
      const kept = started[0]?.dataDir;
      if (kept && /^\/var\/lib\/saga-engine\/[0-9a-f]{16}\/postgres$/.test(kept)) {
        rmSync(dirname(kept), { recursive: true, force: true });
      }
    });

    it('keeps the data under /var/lib/saga-engine, leaves the directory as it was, and says where', async () => {
      const before = statSync(parent);
      const pg = await start();
      expect(pg.origin).toBe('initialised');
      expect(pg.dataDir).toMatch(new RegExp(`^${SYSTEM_DIRS.data}/[0-9a-f]{16}/postgres$`));
      expect(statSync(parent)).toMatchObject({ mode: before.mode, uid: before.uid, gid: before.gid });
      expect(statSync(parent).mode & 0o777).toBe(0o700);
      expect(existsSync(join(dir, 'postgres'))).toBe(false);
      // The server's own directory: its user's, closed to others; the one above it root's, open for traversal.
      const runAs = userOf(pg.osUser)!;
      expect(statSync(pg.dataDir)).toMatchObject({ uid: runAs.uid });
      expect(statSync(pg.dataDir).mode & 0o777).toBe(0o700);
      expect(statSync(dirname(pg.dataDir)).uid).toBe(0);
      expect(readFileSync(join(dirname(pg.dataDir), 'project'), 'utf8').trim()).toBe(dir);
      expect(JSON.parse(readFileSync(statePath, 'utf8')).dataDir).toBe(pg.dataDir);
      expect(lines.at(-1)).toContain(`data in ${pg.dataDir}`);
      expect(lines.at(-1)).toContain(`cannot enter ${parent}`);
      // It runs as that user, from binaries that user can reach: the package's own, or root's copy of them.
      expect(uidOf(pg.pid)).toBe(runAs.uid);
      const packaged = binaries().postgres;
      const exe = readlinkSync(`/proc/${pg.pid}/exe`);
      if (blockedAncestor(dirname(packaged), runAs)) {
        expect(exe).toMatch(new RegExp(`^${SYSTEM_DIRS.cache}/postgres-[^/]+/bin/postgres$`));
        expect(statSync(dirname(dirname(exe))).uid).toBe(0);
      } else {
        expect(exe).toBe(packaged);
      }
      await query(pg.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$first run$$)');
    });

    it('finds the same data and password on the next start', async () => {
      const first = started.at(-1)!;
      await first.stop();
      expect(alive(first.pid)).toBe(false);
      const pg = await start();
      expect(pg).toMatchObject({ origin: 'started', dataDir: first.dataDir });
      expect(new URL(pg.url).password).toBe(new URL(first.url).password);
      expect(await query(pg.url, 'SELECT v FROM kept')).toEqual([{ v: 'first run' }]);
    });

    it('is adopted after its engine died, and shared with another live one (attached)', async () => {
      const running = started.at(-1)!;
      const setOwner = (ownerPid: number) =>
        writeFileSync(statePath, JSON.stringify({ ...JSON.parse(readFileSync(statePath, 'utf8')), ownerPid }));
      const dead = spawn('true');
      await new Promise((resolveExit) => dead.once('exit', resolveExit));
      setOwner(dead.pid!);
      expect(await start()).toMatchObject({ origin: 'adopted', pid: running.pid, dataDir: running.dataDir });

      const other = spawn('sleep', ['60'], { stdio: 'ignore' });
      children.push(other);
      setOwner(other.pid!);
      const attached = await start();
      expect(attached).toMatchObject({ origin: 'attached', owned: false, pid: running.pid });
      await attached.stop();
      expect(alive(running.pid)).toBe(true);
      setOwner(process.pid);
    });

    it('a moved project stops with where its data is, rather than start an empty database', async () => {
      const running = started.filter((pg) => pg.owned).at(-1)!;
      await running.stop();
      expect(alive(running.pid)).toBe(false);
      const moved = join(parent, 'moved');
      renameSync(dir, moved);
      try {
        await expect(start(moved)).rejects.toThrow(
          new RegExp(`data is in ${running.dataDir}, which belongs to ${dir}: this project was moved or copied`),
        );
      } finally {
        renameSync(moved, dir);
      }
      const pg = await start();
      expect(pg).toMatchObject({ origin: 'started', dataDir: running.dataDir });
      await pg.stop();
    });
  },
);

/**
 * As an ordinary user, on a directory that user owns: the server runs as that user, from the package's binaries,
 * with its data in the directory. Run as `nobody` (from root) through the built engine (dist/), which that user
 * must be able to reach.
 */
const nobody = isRoot ? userOf('nobody') : undefined;
const dist = join(ROOT, 'libs', 'nestjs', 'dist');
const nobodyBlocked =
  nobody &&
  [join(ROOT, 'node_modules'), dist, dirname(process.execPath)]
    .map((path) => blockedAncestor(path, nobody))
    .find(Boolean);
describeIf(
  !!nobody && !nobodyBlocked,
  !isRoot
    ? `switching to another user needs root: uid ${process.getuid?.()}`
    : !nobody
      ? 'there is no user "nobody" to run as'
      : `user "nobody" cannot enter ${nobodyBlocked}, where the project or its build is; run from a directory it can reach`,
)('embedded PostgreSQL as an ordinary user', () => {
  let dir = ''; // made in beforeAll: a skipped suite's body runs, its hooks do not
  const script = `
    const { startEmbeddedPostgres } = require(${JSON.stringify(join(dist, 'store/embedded-postgres.js'))});
    const { Client } = require('pg');
    (async () => {
      const out = [];
      for (const sql of ['CREATE TABLE kept AS SELECT 1 AS v', 'SELECT count(*)::int AS n FROM kept']) {
        const pg = await startEmbeddedPostgres({ dir: process.argv[1], database: 'postgres' });
        const client = new Client({ connectionString: pg.url });
        await client.connect();
        const rows = (await client.query(sql)).rows;
        const uid = Number(/^Uid:\\s+(\\d+)/m.exec(require('fs').readFileSync('/proc/' + pg.pid + '/status', 'utf8'))[1]);
        await client.end();
        await pg.stop();
        out.push({ origin: pg.origin, osUser: pg.osUser, dataDir: pg.dataDir, uid, rows });
      }
      process.stdout.write(JSON.stringify(out));
    })().catch((error) => { console.error(error); process.exit(1); });
  `;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'saga-embedded-pg-user-'));
    chmodSync(dir, 0o700);
    chownSync(dir, nobody!.uid, nobody!.gid);
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('runs as that user, from the package, with the data in the directory, kept across restarts', async () => {
    const stdout = await new Promise<string>((resolveRun, reject) =>
      execFile(
        process.execPath,
        ['-e', script, dir],
        {
          cwd: dir,
          uid: nobody!.uid,
          gid: nobody!.gid,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, NODE_PATH: join(ROOT, 'node_modules') },
          timeout: 120_000,
        },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolveRun(out)),
      ),
    );
    const runs = JSON.parse(stdout);
    expect(runs).toEqual([
      { origin: 'initialised', osUser: 'nobody', dataDir: join(dir, 'postgres'), uid: nobody!.uid, rows: [] },
      { origin: 'started', osUser: 'nobody', dataDir: join(dir, 'postgres'), uid: nobody!.uid, rows: [{ n: 1 }] },
    ]);
    expect(statSync(join(dir, 'postgres')).uid).toBe(nobody!.uid);
    expect(statSync(dir)).toMatchObject({ uid: nobody!.uid, mode: expect.any(Number) });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });
});
