import type { Pool } from 'pg';
import { inTransaction } from './pg-transaction';

/**
 * The demo participants' own tables, in schema `demo` of whatever database they are given (the engine's, for
 * now; their own once they run as separate services). Applied at start by `ensureDemoSchema`, a small migration
 * runner: versions are applied in order, once, under an advisory lock, so any number of processes may start
 * together. Append new versions; never edit an applied one.
 */
const VERSIONS: { version: number; statements: string[] }[] = [
  {
    version: 1,
    statements: [
      // One row per idempotency key a participant has processed, with the answer it gave: a repeat gets the
      // same answer and only increments `requests`. Inserted in the same transaction as the effect.
      `CREATE TABLE demo.processed (
         idempotency_key text PRIMARY KEY,
         seq             bigserial NOT NULL,
         service         text NOT NULL,
         operation       text NOT NULL,
         saga_id         text NOT NULL,
         result          jsonb,
         requests        integer NOT NULL DEFAULT 1,
         at              timestamptz NOT NULL DEFAULT clock_timestamp()
       )`,
      `CREATE INDEX processed_saga ON demo.processed (saga_id, seq)`,
      // Append-only log of effects applied, deliberately WITHOUT a unique key: a bug that applied an operation
      // twice would show here as two rows (the ledger's `count`), instead of being hidden by a constraint.
      `CREATE TABLE demo.effect (
         id              bigserial PRIMARY KEY,
         idempotency_key text NOT NULL,
         service         text NOT NULL,
         operation       text NOT NULL,
         saga_id         text NOT NULL,
         at              timestamptz NOT NULL DEFAULT clock_timestamp()
       )`,
      `CREATE INDEX effect_key ON demo.effect (idempotency_key)`,
      `CREATE TABLE demo.account (
         account_id    text PRIMARY KEY,
         balance_cents bigint NOT NULL CHECK (balance_cents >= 0)
       )`,
      // What the services hold: deliveries, packages, drones, bookings, charges, notifications. `created_by` is
      // the idempotency key of the action, so an undo finds what to undo even when the action's answer was lost.
      `CREATE TABLE demo.resource (
         resource_id  text PRIMARY KEY,
         service      text NOT NULL,
         saga_id      text NOT NULL,
         created_by   text NOT NULL,
         status       text NOT NULL CHECK (status IN ('ACTIVE', 'UNDONE')),
         account_id   text,
         amount_cents bigint,
         created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
         updated_at   timestamptz NOT NULL DEFAULT clock_timestamp()
       )`,
      `CREATE INDEX resource_created_by ON demo.resource (created_by)`,
      `CREATE INDEX resource_saga ON demo.resource (saga_id)`,
    ],
  },
];

/** Creates schema `demo` and applies the versions it lacks. Safe to run from many processes at once. */
export async function ensureDemoSchema(pool: Pool): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('demo-services schema'))`);
    await client.query('CREATE SCHEMA IF NOT EXISTS demo');
    await client.query(
      `CREATE TABLE IF NOT EXISTS demo.migration (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ version: number }>('SELECT version FROM demo.migration');
    const applied = new Set(rows.map((r) => r.version));
    for (const { version, statements } of VERSIONS) {
      if (applied.has(version)) continue;
      for (const sql of statements) await client.query(sql);
      await client.query('INSERT INTO demo.migration (version) VALUES ($1)', [version]);
    }
  });
}
