/**
 * Where the e2e tests find PostgreSQL (a database they may create and drop databases from) and the queue backend.
 * global-setup settles them once per run (see test-backends.ts): the real services, or an embedded PostgreSQL
 * with BullMQ on its PostgreSQL backend where they are missing.
 */
export const TEST_PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Where the step jobs go in this run: `redis` (at TEST_REDIS_URL) or `postgres` (BullMQ's PostgreSQL backend). */
export const TEST_QUEUE_KIND: 'redis' | 'postgres' = process.env.SAGA_TEST_QUEUE === 'postgres' ? 'postgres' : 'redis';
/**
 * Why this run has no Redis (the step jobs go to BullMQ's PostgreSQL backend), set by global-setup; the reason the
 * tests that need the run's Redis give for skipping.
 */
export const TEST_NO_REDIS_REASON =
  process.env.SAGA_TEST_NO_REDIS ?? "this run has no Redis: the step jobs run on BullMQ's PostgreSQL backend";
