import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { itIf } from '../../../../test/support/skip';
import {
  EmbeddedPostgresError,
  type RunAs,
  binariesIn,
  chooseRunAs,
  locateData,
  reachableBinaries,
  systemDataDir,
} from './embedded-postgres';

/** Who runs the embedded PostgreSQL: PostgreSQL refuses root, so root hands it to an unprivileged user. */
describe('chooseRunAs', () => {
  const users: Record<string, RunAs> = {
    postgres: { name: 'postgres', uid: 101, gid: 104 },
    nobody: { name: 'nobody', uid: 65534, gid: 65534 },
    '1000': { name: 'dev', uid: 1000, gid: 1000 },
    '101': { name: 'postgres', uid: 101, gid: 104 },
  };
  const lookup = (known: string[]) => (user: string) => (known.includes(user) ? users[user] : undefined);
  const fresh = '/nonexistent/saga-data/postgres';

  it('runs as the current user when that is not root', () => {
    expect(chooseRunAs(fresh, { uid: 1000, lookup: lookup(['1000']) })).toEqual({ name: 'dev' });
  });

  it('as root, prefers "postgres", then "nobody"', () => {
    expect(chooseRunAs(fresh, { uid: 0, lookup: lookup(['postgres', 'nobody']) })).toEqual(users.postgres);
    expect(chooseRunAs(fresh, { uid: 0, lookup: lookup(['nobody']) })).toEqual(users.nobody);
  });

  it('as root with neither user, says what to do', () => {
    expect(() => chooseRunAs(fresh, { uid: 0, lookup: lookup([]) })).toThrow(EmbeddedPostgresError);
    expect(() => chooseRunAs(fresh, { uid: 0, lookup: lookup([]) })).toThrow(
      /runs as root, PostgreSQL refuses to run as root[\s\S]*ordinary user[\s\S]*DATABASE_URL/,
    );
  });

  describe('with an existing data directory', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'saga-run-as-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('refuses a directory that belongs to someone else, naming it', () => {
      const uid = process.getuid!();
      expect(() => chooseRunAs(dir, { uid: uid + 1, lookup: lookup([]) })).toThrow(
        new RegExp(`${dir} belongs to uid ${uid}`),
      );
    });

    itIf(process.getuid!() === 0, `only root can own a directory as root: this run is uid ${process.getuid!()}`)(
      'as root, refuses one that belongs to root',
      () => {
        expect(() => chooseRunAs(dir, { uid: 0, lookup: lookup(['postgres']) })).toThrow(/belongs to root/);
      },
    );
  });
});

/**
 * Where the data lives: in the project's directory when the server's user can enter it, else (root only) under
 * a root-owned system directory, keyed by the directory's real path.
 */
describe('locateData', () => {
  const postgres: RunAs = { name: 'postgres', uid: 101, gid: 104 };
  let work: string;
  let dir: string;
  let system: string;
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'saga-locate-'));
    dir = join(work, 'project', '.saga-data');
    system = join(work, 'system');
    mkdirSync(dir, { recursive: true });
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));
  const env = (runAs: RunAs, blocked?: string) => ({ runAsFor: () => runAs, blocked: () => blocked });

  it('keeps the data in the directory when the server user can enter it', () => {
    expect(locateData(dir, undefined, system, env(postgres))).toEqual({
      dataDir: join(dir, 'postgres'),
      runAs: postgres,
      relocated: false,
    });
  });

  it('keeps it under the system directory, keyed by the real path, when that user cannot enter it', () => {
    const found = locateData(dir, undefined, system, env(postgres, work));
    expect(found).toEqual({ dataDir: systemDataDir(dir, system), runAs: postgres, relocated: true, blocked: work });
    expect(found.dataDir).toMatch(new RegExp(`^${system}/[0-9a-f]{16}/postgres$`));
    // The same directory, by any path, has the same key; another directory another one.
    symlinkSync(join(work, 'project'), join(work, 'link'));
    expect(systemDataDir(join(work, 'link', '.saga-data'), system)).toBe(found.dataDir);
    expect(systemDataDir(join(work, 'other'), system)).not.toBe(found.dataDir);
  });

  it('never moves the data of an ordinary user (who runs the server as itself)', () => {
    expect(locateData(dir, undefined, system, env({ name: 'dev' }, work)).relocated).toBe(false);
  });

  it('uses data already in the directory, or already under the system directory', () => {
    mkdirSync(join(dir, 'postgres'));
    expect(locateData(dir, undefined, system, env(postgres, work)).dataDir).toBe(join(dir, 'postgres'));
    rmSync(join(dir, 'postgres'), { recursive: true });
    const elsewhere = systemDataDir(dir, system);
    mkdirSync(elsewhere, { recursive: true });
    // Found again even once the directory has become reachable, and says nothing is in the way then.
    expect(locateData(dir, { dataDir: elsewhere }, system, env(postgres))).toEqual({
      dataDir: elsewhere,
      runAs: postgres,
      relocated: true,
      blocked: undefined,
    });
  });

  it('stops, naming both places, when postgres.json points at the data of the directory it was moved from', () => {
    const old = join(system, '0123456789abcdef', 'postgres');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(dirname(old), 'project'), '/root/old-place/.saga-data\n');
    expect(() => locateData(dir, { dataDir: old }, system, env(postgres, work))).toThrow(
      new RegExp(
        `data is in ${old}, which belongs to /root/old-place/.saga-data: this project was moved or copied from ` +
          `there[\\s\\S]*move ${dirname(old)} to ${dirname(systemDataDir(dir, system))}[\\s\\S]*delete`,
      ),
    );
    // A record of data that is gone is no obstacle.
    rmSync(old, { recursive: true });
    expect(locateData(dir, { dataDir: old }, system, env(postgres, work)).relocated).toBe(true);
  });
});

/**
 * The binaries the server's user can run: the package's own, or a copy in a root-owned cache. Run with a user
 * that is not us (another uid), so that it works whoever runs the tests.
 */
describe('reachableBinaries', () => {
  const me = { uid: process.getuid!(), gid: process.getgid!() };
  const other: RunAs = { name: 'other', uid: me.uid + 4242, gid: me.gid + 4242 };
  let work: string;
  let cache: string;
  /** A package's native tree: bin/{initdb,pg_ctl,postgres}, lib/ with a symbolic link, share/. */
  const fakePackage = (parentMode: number, fileMode = 0o755) => {
    const parent = mkdtempSync(join(work, 'pkg-'));
    chmodSync(parent, parentMode);
    const native = join(parent, 'native');
    for (const sub of ['bin', 'lib', 'share/postgresql']) mkdirSync(join(native, sub), { recursive: true });
    for (const name of ['initdb', 'pg_ctl', 'postgres']) {
      writeFileSync(join(native, 'bin', name), '#!/bin/sh\n', { mode: fileMode });
      chmodSync(join(native, 'bin', name), fileMode);
    }
    for (const file of ['lib/libpq.so.5.18', 'share/postgresql/postgres.bki']) {
      writeFileSync(join(native, file), 'data');
      chmodSync(join(native, file), fileMode & 0o666);
    }
    symlinkSync('libpq.so.5.18', join(native, 'lib', 'libpq.so.5'));
    return binariesIn(join(native, 'bin'), '18.0-test');
  };
  beforeEach(() => {
    work = mkdtempSync(join(tmpdir(), 'saga-binaries-'));
    chmodSync(work, 0o755);
    cache = join(work, 'cache');
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it("runs the package's own when the user can reach them, and the current user's always", () => {
    const bin = fakePackage(0o755);
    expect(reachableBinaries(bin, other, cache)).toBe(bin);
    expect(reachableBinaries(fakePackage(0o700), { name: 'me' }, cache).postgres).toMatch(/^.*pkg-.*postgres$/);
    expect(existsSync(cache)).toBe(false);
  });

  it('copies the tree once into the cache, readable by all, links kept, and reuses the copy', () => {
    const bin = fakePackage(0o700); // like a project under /root or in mktemp -d
    const logged: string[] = [];
    const copy = reachableBinaries(bin, other, cache, (line) => logged.push(line));
    const target = join(cache, `postgres-18.0-test-${process.platform}-${process.arch}`);
    expect(copy).toEqual(binariesIn(join(target, 'bin'), '18.0-test'));
    expect(logged).toEqual([expect.stringContaining(`copied its binaries to ${target}`)]);
    expect(statSync(cache).mode & 0o777).toBe(0o755);
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(statSync(copy.postgres).mode & 0o777).toBe(0o755);
    expect(statSync(join(target, 'lib', 'libpq.so.5.18')).mode & 0o777).toBe(0o644);
    expect(statSync(join(target, 'share', 'postgresql', 'postgres.bki')).mode & 0o777).toBe(0o644);
    expect(lstatSync(join(target, 'lib', 'libpq.so.5')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(target, 'lib', 'libpq.so.5'))).toBe('libpq.so.5.18');
    expect(readdirSync(cache)).toEqual([`postgres-18.0-test-${process.platform}-${process.arch}`]); // no leftovers

    const inode = statSync(copy.postgres).ino;
    expect(reachableBinaries(fakePackage(0o700), other, cache, (line) => logged.push(line))).toEqual(copy);
    expect(statSync(copy.postgres).ino).toBe(inode);
    expect(logged).toHaveLength(1);
  });

  it('copies when only the files are closed (npm ci under umask 077), and opens the copy', () => {
    const bin = fakePackage(0o755, 0o700);
    const copy = reachableBinaries(bin, other, cache);
    expect(copy.postgres).toMatch(new RegExp(`^${cache}/`));
    expect(statSync(copy.initdb).mode & 0o777).toBe(0o755);
    expect(statSync(join(dirname(dirname(copy.postgres)), 'lib', 'libpq.so.5.18')).mode & 0o777).toBe(0o644);
  });

  it('refuses a cache that others may write to', () => {
    mkdirSync(cache, { mode: 0o777 });
    chmodSync(cache, 0o777);
    expect(() => reachableBinaries(fakePackage(0o700), other, cache)).toThrow(
      new RegExp(`${cache} must be a directory owned by root that only root may write to`),
    );
  });
});
