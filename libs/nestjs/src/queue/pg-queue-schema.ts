import { LATEST_SCHEMA_VERSION, SchemaMigrationRequiredError, assertSchemaCompatibility, runMigrations } from 'bullmq';
import { Client } from 'pg';

const ensured = new Map<string, Promise<void>>();

/**
 * Brings BullMQ's PostgreSQL schema up to date once per process and database, only when it is missing or older than
 * this BullMQ. BullMQ's own `migrate: true` runs `CREATE SCHEMA IF NOT EXISTS` on every connection, which needs the
 * CREATE privilege on the database even when the schema is there: a least-privilege engine role (see
 * scripts/db-roles.sql) could then never start. This way only a start that has something to migrate needs the owner,
 * as with the engine's own migrations. A failed attempt is forgotten, so that the next open tries again.
 */
export function ensurePgQueueSchema(url: string, schema: string): Promise<void> {
  const key = `${schema}@${url}`;
  let ready = ensured.get(key);
  if (!ready) {
    ready = migrateIfNeeded(url, schema);
    ensured.set(key, ready);
    ready.catch(() => ensured.delete(key));
  }
  return ready;
}

async function migrateIfNeeded(url: string, schema: string): Promise<void> {
  const client = new Client({ connectionString: url });
  // A server that goes away mid-check rejects the query below; the client's own 'error' event must not crash us.
  client.on('error', () => undefined);
  await client.connect();
  try {
    let version = 0;
    try {
      version = await assertSchemaCompatibility(client, schema);
    } catch (error) {
      if (!(error instanceof SchemaMigrationRequiredError)) throw error;
    }
    if (version >= LATEST_SCHEMA_VERSION) return;
    try {
      await runMigrations(client, schema);
    } catch (error) {
      if ((error as { code?: string }).code === '42501') {
        throw new Error(
          `BullMQ's PostgreSQL queue schema "${schema}" needs creating or migrating (version ${version} of ` +
            `${LATEST_SCHEMA_VERSION}) and this database role may not: start once with the owner's DATABASE_URL, ` +
            `then grant the engine's role on schema ${schema} (scripts/db-roles.sql). ${(error as Error).message}`,
          { cause: error },
        );
      }
      throw error;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
