import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../libs/nestjs/src/store/embedded-postgres';
import { waitFor } from './support/wait-for';

/**
 * The embedded PostgreSQL of `npm start` without DATABASE_URL: created once, reused, stopped cleanly, and not
 * blocked by what a killed engine leaves behind. One data directory for the whole file, in a temporary directory.
 */
describe('embedded PostgreSQL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'saga-embedded-pg-'));
  const dataDir = join(dir, 'postgres');
  const statePath = join(dir, 'postgres.json');
  const started: EmbeddedPostgres[] = [];
  const children: ChildProcess[] = [];

  const start = async () => {
    const pg = await startEmbeddedPostgres({ dir, database: 'postgres' });
    started.push(pg);
    return pg;
  };
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
    expect(pg).toMatchObject({ origin: 'initialised', owned: true });
    expect(pg.url).toMatch(/^postgres:\/\/saga:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
    const [{ listen }] = await query(pg.url, `SELECT current_setting('listen_addresses') AS listen`);
    expect(listen).toBe('127.0.0.1');
    await query(pg.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$first run$$)');
    await expect(query(pg.url.replace(/:[^:@/]+@/, ':wrong@'), 'SELECT 1')).rejects.toThrow(/password/);
    if (process.getuid?.() === 0) expect(statSync(dataDir).uid).not.toBe(0); // PostgreSQL refuses root
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
