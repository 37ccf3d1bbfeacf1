import { Logger } from '@nestjs/common';
import { Pool, type PoolClient } from 'pg';
import { NonRetryableError } from '@saga-engine/sdk';
import { listenForClientErrors } from '@saga-engine/nestjs';
import { ensureDemoSchema } from './demo-schema';
import { inTransaction } from './pg-transaction';
import { ParticipantTiming } from './participant-timing';

/** One operation a participant processed (API.md: `GET /v1/demo/ledger`). */
export interface LedgerEntry {
  service: string;
  operation: string;
  sagaId: string;
  idempotencyKey: string;
  /** Times the effect was applied: more than 1 would be a double effect. */
  count: number;
  /** Times it was asked for (repeats are answered from the first result). */
  requests: number;
  at: string;
}

/** What a participant is asked to do, and under which key. */
export interface Operation {
  service: string;
  operation: string;
  sagaId: string;
  idempotencyKey: string;
  /** A compensation: its key is the action's key plus `:undo`. */
  undo: boolean;
}

const UNDO_SUFFIX = ':undo';

/**
 * The participants' durable memory, in PostgreSQL (schema `demo`): each operation is applied at most once per
 * idempotency key, and a repeat gets the first answer back. The processed-key row and the effect commit in ONE
 * transaction, so a crash at any instant leaves both or neither: a participant that crashed after its effect and
 * before answering applies nothing the second time.
 *
 * An action and its undo are serialised (an advisory lock on the action's key), and an undo leaves a tombstone:
 * an action that arrives after its undo (a zombie attempt) is refused and applies nothing.
 */
export class DemoLedger {
  private readonly logger = new Logger('DemoLedger');
  private readonly pool: Pool;
  private ready: Promise<void> | null = null;
  /** The participants' own timing (GET /v1/demo/timing): each call, and its wait for a connection of this pool. */
  readonly timing = new ParticipantTiming();

  constructor(databaseUrl: string, poolSize = 10) {
    this.pool = new Pool({
      connectionString: databaseUrl,
      max: poolSize,
      connectionTimeoutMillis: 10_000,
      onConnect: listenForClientErrors,
    });
    // An idle client broken by a PostgreSQL restart must not crash the process; the pool replaces it.
    this.pool.on('error', (error) => this.logger.warn(`PostgreSQL (demo participants): ${error.message}`));
  }

  /** Creates the schema (once per process; tried again after a failure). */
  init(): Promise<void> {
    this.ready ??= ensureDemoSchema(this.pool).catch((error: unknown) => {
      this.ready = null;
      throw error;
    });
    return this.ready;
  }

  /**
   * Runs `effect` once per idempotency key, in one transaction with the processed-key row, and returns its
   * result; a repeat returns the first result without running it. An effect that throws writes nothing.
   */
  async once<T>(op: Operation, effect: (tx: PoolClient) => Promise<T>): Promise<T> {
    await this.init();
    const key = op.idempotencyKey;
    const actionKey = op.undo && key.endsWith(UNDO_SUFFIX) ? key.slice(0, -UNDO_SUFFIX.length) : key;
    return this.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [actionKey]);
      const fresh = await tx.query(
        `INSERT INTO demo.processed (idempotency_key, service, operation, saga_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (idempotency_key) DO NOTHING RETURNING seq`,
        [key, op.service, op.operation, op.sagaId],
      );
      if (fresh.rowCount === 0) {
        const { rows } = await tx.query<{ service: string; operation: string; result: { value: T } | null }>(
          `UPDATE demo.processed SET requests = requests + 1 WHERE idempotency_key = $1
           RETURNING service, operation, result`,
          [key],
        );
        const first = rows[0];
        if (first.service !== op.service || first.operation !== op.operation) {
          throw new NonRetryableError(
            `${op.service}: idempotency key ${key} was used for ${first.service}.${first.operation}`,
            { code: 'IDEMPOTENCY_KEY_REUSED' },
          );
        }
        return first.result?.value as T;
      }
      if (!op.undo) {
        const undone = await tx.query('SELECT 1 FROM demo.processed WHERE idempotency_key = $1', [
          `${key}${UNDO_SUFFIX}`,
        ]);
        if (undone.rowCount) {
          throw new NonRetryableError(`${op.service}: ${op.operation} refused: it was already undone`, {
            code: 'ALREADY_UNDONE',
          });
        }
      }
      const value = await effect(tx);
      await tx.query(`INSERT INTO demo.effect (idempotency_key, service, operation, saga_id) VALUES ($1, $2, $3, $4)`, [
        key,
        op.service,
        op.operation,
        op.sagaId,
      ]);
      await tx.query(`UPDATE demo.processed SET result = $2::jsonb WHERE idempotency_key = $1`, [
        key,
        JSON.stringify({ value: value ?? null }),
      ]);
      return value;
    });
  }

  /** Whether an operation was already processed under this key (a repeat is answered from the ledger). */
  async processed(idempotencyKey: string): Promise<boolean> {
    await this.init();
    const { rowCount } = await this.pool.query('SELECT 1 FROM demo.processed WHERE idempotency_key = $1', [
      idempotencyKey,
    ]);
    return (rowCount ?? 0) > 0;
  }

  /** What was processed, oldest first; `count` is how many times the effect was applied. */
  async list(sagaId?: string): Promise<LedgerEntry[]> {
    await this.init();
    const { rows } = await this.pool.query<{
      service: string;
      operation: string;
      saga_id: string;
      idempotency_key: string;
      count: number;
      requests: number;
      at: Date;
    }>(
      `SELECT p.service, p.operation, p.saga_id, p.idempotency_key, p.requests, p.at,
              (SELECT count(*)::int FROM demo.effect e WHERE e.idempotency_key = p.idempotency_key) AS count
         FROM demo.processed p
        WHERE $1::text IS NULL OR p.saga_id = $1
        ORDER BY p.seq`,
      [sagaId ?? null],
    );
    return rows.map((r) => ({
      service: r.service,
      operation: r.operation,
      sagaId: r.saga_id,
      idempotencyKey: r.idempotency_key,
      count: r.count,
      requests: r.requests,
      at: r.at.toISOString(),
    }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private transaction<T>(work: (tx: PoolClient) => Promise<T>): Promise<T> {
    const asked = performance.now();
    return inTransaction(this.pool, (tx) => {
      this.timing.waited(performance.now() - asked);
      return work(tx);
    });
  }
}
