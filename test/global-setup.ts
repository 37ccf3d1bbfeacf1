import { Client } from 'pg';
import { Redis } from 'ioredis';
import { TEST_PG_ADMIN_URL, TEST_REDIS_URL } from './support/urls';

/** Fails fast, with a hint, when PostgreSQL or Redis is not there (instead of 60 s timeouts per test). */
export default async function globalSetup(): Promise<void> {
  const pg = new Client({ connectionString: TEST_PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await pg.connect();
    await pg.query('SELECT 1');
  } catch (error) {
    throw new Error(
      `e2e tests need PostgreSQL at ${TEST_PG_ADMIN_URL} (bash ../shared/services.sh starts one): ${String(error)}`,
      { cause: error },
    );
  } finally {
    await pg.end().catch(() => undefined);
  }
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 5000 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `e2e tests need Redis at ${TEST_REDIS_URL} (bash ../shared/services.sh starts one): ${String(error)}`,
      { cause: error },
    );
  } finally {
    redis.disconnect();
  }
}
