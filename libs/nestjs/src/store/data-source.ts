import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source-options';
import { ensureDatabase } from './ensure-database';
import { DEFAULT_PG_TIMEOUTS, type PgTimeouts } from './pg-timeouts';

/**
 * The engine's own TypeORM DataSource, under a token of its own: an app that uses TypeORM (or any other ORM) for
 * its own tables keeps its default connection, and the engine never reads or changes it. Its migrations run when
 * it opens; it is closed after every other shutdown hook (the agent's drain still writes through it).
 */
export const SAGA_DATA_SOURCE = Symbol('SAGA_DATA_SOURCE');

/**
 * Creates the database when it is missing, brings the schema up to date (migrations, on a connection of their own
 * without the statement time limit: an index on a large table may take minutes), then opens the pool, whose
 * connections all have the engine's time limits (see PgTimeouts).
 */
export async function openSagaDataSource(
  url: string,
  poolSize: number,
  timeouts: PgTimeouts = DEFAULT_PG_TIMEOUTS,
): Promise<DataSource> {
  await ensureDatabase(url);
  const logger = new Logger('SagaStore');
  const migrator = new DataSource(dataSourceOptions(url, 1, null));
  await retry(logger, 'migrate the database', () => migrator.initialize());
  await migrator.destroy();
  const dataSource = new DataSource(dataSourceOptions(url, poolSize, timeouts, { migrate: false }));
  await retry(logger, 'open the database', () => dataSource.initialize());
  await warnWhenAuditIsWritable(dataSource, logger);
  return dataSource;
}

async function retry<T>(logger: Logger, what: string, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      // Two processes starting at once may race on the first migration; PostgreSQL restarting may refuse us.
      if (attempt >= 3) throw error;
      logger.warn(`could not ${what} (attempt ${attempt} of 3): ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/**
 * A warning, once at start, when the engine connects as a role that could rewrite the audit log: a superuser, or
 * the owner of `saga_audit` (fine for `npm start` on a laptop; production runs the engine as a role of its own,
 * migrated by the owner: docs/security.md).
 */
async function warnWhenAuditIsWritable(dataSource: DataSource, logger: Logger): Promise<void> {
  try {
    const [row]: { superuser: boolean; owner: boolean; who: string }[] = await dataSource.query(
      `SELECT r.rolsuper AS superuser, current_user AS who,
              coalesce((SELECT c.relowner = r.oid FROM pg_class c WHERE c.oid = to_regclass('saga_audit')), false) AS owner
         FROM pg_roles r WHERE r.rolname = current_user`,
    );
    if (row && (row.superuser || row.owner)) {
      logger.warn(
        `the engine connects to PostgreSQL as ${row.who}, ${row.superuser ? 'a superuser' : "saga_audit's owner"}: ` +
          'it could rewrite the audit log. In production, migrate as the owner and run the engine as a role of ' +
          'its own (DATABASE_MIGRATION_URL and the migrate command, docs/security.md)',
      );
    }
  } catch {
    // Only a warning.
  }
}
