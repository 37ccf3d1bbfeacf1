import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from './data-source-options';
import { ensureDatabase } from './ensure-database';

/**
 * The engine's own TypeORM DataSource, under a token of its own: an app that uses TypeORM (or any other ORM) for
 * its own tables keeps its default connection, and the engine never reads or changes it. Its migrations run when
 * it opens; it is closed after every other shutdown hook (the agent's drain still writes through it).
 */
export const SAGA_DATA_SOURCE = Symbol('SAGA_DATA_SOURCE');

/** Creates the database when it is missing, opens the pool and brings the schema up to date (migrations). */
export async function openSagaDataSource(url: string, poolSize: number): Promise<DataSource> {
  await ensureDatabase(url);
  const dataSource = new DataSource(dataSourceOptions(url, poolSize));
  const logger = new Logger('SagaStore');
  for (let attempt = 1; ; attempt++) {
    try {
      await dataSource.initialize();
      await warnWhenAuditIsWritable(dataSource, logger);
      return dataSource;
    } catch (error) {
      // Two processes starting at once may race on the first migration; PostgreSQL restarting may refuse us.
      if (attempt >= 3) throw error;
      logger.warn(`could not open the database (attempt ${attempt} of 3): ${(error as Error).message}`);
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
