import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedPostgresError, type RunAs, chooseRunAs } from './embedded-postgres';

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

    it('as root, refuses one that belongs to root', () => {
      if (process.getuid!() !== 0) return; // the directory is ours, and we are not root
      expect(() => chooseRunAs(dir, { uid: 0, lookup: lookup(['postgres']) })).toThrow(/belongs to root/);
    });
  });
});
