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
      return await dataSource.initialize();
    } catch (error) {
      // Two processes starting at once may race on the first migration; PostgreSQL restarting may refuse us.
      if (attempt >= 3) throw error;
      logger.warn(`could not open the database (attempt ${attempt} of 3): ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
