import { Inject, Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';

/** What an operator asked for. Persisted (`saga_audit.action`): renaming one needs a migration. */
export const AuditAction = {
  CANCEL: 'cancel',
  RETRY: 'retry',
  RESOLVE_COMPENSATION: 'resolve-compensation',
  /** Re-run the saga from a step (`step`): it and the later steps run again, with new idempotency keys. */
  RETRY_FROM_STEP: 'retry-from-step',
  /** Skip a forward step (`step`) with an output of the operator's. */
  SKIP_STEP: 'skip-step',
  /** A signal delivered to a saga through the API (`signal` names it). */
  SIGNAL: 'signal',
  /**
   * A bulk job asked for (`POST /v1/bulk-actions`), accepted or refused: no saga (`sagaId` null); `step` is the
   * step a bulk resolve names, and `detail` names the job, its action, how many sagas it matched and its filter.
   * Each saga the job acts on then gets the row of its own action, whose `detail` names the job.
   */
  BULK_START: 'bulk-start',
  /** A bulk job stopped by an operator (`POST /v1/bulk-actions/{id}/cancel`): no saga; `detail` names the job. */
  BULK_STOP: 'bulk-stop',
} as const;
export type AuditAction = (typeof AuditAction)[keyof typeof AuditAction];

/** Persisted (`saga_audit.outcome`). */
export const AuditOutcome = {
  ACCEPTED: 'accepted',
  REFUSED: 'refused',
} as const;
export type AuditOutcome = (typeof AuditOutcome)[keyof typeof AuditOutcome];

/** One operator action, as written. `at` and `id` come from PostgreSQL. */
export interface AuditRecord {
  /** Who: a non-secret key id (never the key itself). */
  actor: string;
  role: string;
  action: AuditAction;
  /** The saga acted on; null for a bulk job's own rows (`bulk-start`, `bulk-stop`) only. */
  sagaId: string | null;
  step: string | null;
  /** The operator's reason, trimmed, at most 500 characters (a signal has none: ''). */
  reason: string;
  /** The signal's name, for the action `signal` only. */
  signal?: string | null;
  outcome: AuditOutcome;
  /** The HTTP status the action was answered with. */
  statusCode: number;
  /**
   * Why it was refused (the engine's reason, the auth message), or null. An action of a bulk job starts with
   * `bulk job <id>` (then `: <why refused>` when refused).
   */
  detail: string | null;
}

export interface AuditEntry extends AuditRecord {
  /** bigserial, as a string (it may outgrow a JS number). */
  id: string;
  at: Date;
  signal: string | null;
  /** The row's link in the audit chain, hex (see verify). */
  hash: string;
}

/** Column list of jsonb_to_recordset for an AuditRecord, shared with SagaStore.commit. */
export const AUDIT_ROW_COLUMNS = `actor text, role text, action text, step text, signal text, reason text,
  outcome text, status_code int, detail text`;

/** An AuditRecord as the row jsonb_to_recordset reads (saga_id comes from the statement). */
export function auditRow(record: AuditRecord): Record<string, unknown> {
  return {
    actor: record.actor,
    role: record.role,
    action: record.action,
    step: record.step,
    signal: record.signal ?? null,
    reason: record.reason,
    outcome: record.outcome,
    status_code: record.statusCode,
    detail: record.detail,
  };
}

/**
 * The operator audit log (`saga_audit`, append-only: the database refuses UPDATE, DELETE and TRUNCATE; and a hash
 * chain, linked by the database's insert trigger, shows any row changed or deleted all the same: `verify`).
 * An accepted action is written by SagaStore.commit in the statement of its transition; refusals are written
 * here, on their own, since nothing else changes.
 */
@Injectable()
export class AuditLog {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  async record(record: AuditRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO saga_audit (actor, role, action, saga_id, step, signal, reason, outcome, status_code, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        record.actor,
        record.role,
        record.action,
        record.sagaId,
        record.step,
        record.signal ?? null,
        record.reason,
        record.outcome,
        record.statusCode,
        record.detail,
      ],
    );
  }

  /** Newest first, optionally for one saga. */
  async list(filter: { sagaId?: string; limit: number }): Promise<AuditEntry[]> {
    const rows: AuditRowRead[] = await this.db.query(
      `SELECT a.id::text AS id, a.at, a.actor, a.role, a.action, a.saga_id, a.step, a.signal, a.reason, a.outcome,
              a.status_code, a.detail, encode(a.hash, 'hex') AS hash
         FROM saga_audit a
        WHERE ($1::uuid IS NULL OR a.saga_id = $1::uuid)
        ORDER BY a.id DESC
        LIMIT $2`,
      [filter.sagaId ?? null, filter.limit],
    );
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      role: r.role,
      action: r.action,
      sagaId: r.saga_id,
      step: r.step,
      signal: r.signal,
      reason: r.reason,
      outcome: r.outcome,
      statusCode: r.status_code,
      detail: r.detail,
      hash: r.hash,
    }));
  }

  /**
   * Walks the whole chain in order and checks each link: no position missing, each row's `prev_hash` is the hash of
   * the row before, each row's `hash` is what its content gives (computed here, independently of the database's
   * trigger), every row is in the chain, and the chain's head names the last row (so deleting the newest rows
   * shows too). Stops at the first bad row and names it.
   */
  async verify(batchSize = 1000): Promise<AuditVerification> {
    const unlinked: { id: string }[] = await this.db.query(
      `SELECT id::text AS id FROM saga_audit WHERE chain_seq IS NULL OR hash IS NULL OR prev_hash IS NULL
        ORDER BY id LIMIT 1`,
    );
    let checked = 0;
    if (unlinked.length > 0) {
      return { ok: false, checked, firstBadId: unlinked[0].id, reason: 'the row is not linked into the chain' };
    }
    let previous: { seq: bigint; hash: Buffer; id: string | null } = { seq: 0n, hash: AUDIT_GENESIS_HASH, id: null };
    for (;;) {
      const rows: ChainRow[] = await this.db.query(
        `SELECT chain_seq::text AS chain_seq, id::text AS id,
                to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_utc, actor, role, action,
                saga_id::text AS saga_id, step, signal, reason, outcome, status_code::text AS status_code, detail,
                prev_hash, hash
           FROM saga_audit a WHERE a.chain_seq > $1 ORDER BY a.chain_seq LIMIT $2`,
        [previous.seq.toString(), batchSize],
      );
      for (const row of rows) {
        const seq = BigInt(row.chain_seq);
        const bad = (reason: string): AuditVerification => ({ ok: false, checked, firstBadId: row.id, reason });
        if (seq !== previous.seq + 1n) {
          const missing = seq - previous.seq - 1n;
          return bad(
            `${missing === 1n ? 'a row is' : `${missing} rows are`} missing before this one (chain position ` +
              `${previous.seq + 1n}${missing === 1n ? '' : `-${seq - 1n}`}): deleted`,
          );
        }
        if (!row.prev_hash.equals(previous.hash)) {
          return bad('its prev_hash is not the hash of the row before it: a row before it was changed or replaced');
        }
        if (!auditRowHash(previous.hash, row).equals(row.hash)) {
          return bad('its content does not match its hash: the row was changed after it was written');
        }
        checked += 1;
        previous = { seq, hash: row.hash, id: row.id };
      }
      if (rows.length < batchSize) break;
    }
    const heads: { seq: string; hash: Buffer; last_id: string | null }[] = await this.db.query(
      `SELECT seq::text AS seq, hash, last_id::text AS last_id FROM saga_audit_chain`,
    );
    const head = heads[0];
    if (!head) return { ok: false, checked, reason: 'the chain has no head (saga_audit_chain is empty)' };
    if (BigInt(head.seq) !== previous.seq || !head.hash.equals(previous.hash)) {
      return {
        ok: false,
        checked,
        ...(head.last_id !== null ? { firstBadId: head.last_id } : {}),
        reason:
          `the chain's head is at position ${head.seq} (row ${head.last_id ?? 'none'}), the rows end at ` +
          `${previous.seq} (row ${previous.id ?? 'none'}): the newest rows were deleted or the head was moved`,
      };
    }
    return { ok: true, checked };
  }
}

/** The answer of `GET /v1/audit/verify`. */
export interface AuditVerification {
  ok: boolean;
  /** Rows checked and found good before the first bad one (all of them when `ok`). */
  checked: number;
  /** The first row found bad (or, when the newest rows are missing, the last row the chain's head names). */
  firstBadId?: string;
  reason?: string;
}

/** The `prev_hash` of the chain's first row. */
export const AUDIT_GENESIS_HASH = Buffer.alloc(32);

/** A saga_audit row as verify reads it: every field as the text the canonical content is made of. */
export interface ChainRow {
  chain_seq: string;
  id: string;
  /** `at` in UTC with microseconds: `2026-01-31T12:00:00.123456Z`. */
  at_utc: string;
  actor: string;
  role: string;
  action: string;
  saga_id: string | null;
  step: string | null;
  signal: string | null;
  reason: string;
  outcome: string;
  status_code: string;
  detail: string | null;
  prev_hash: Buffer;
  hash: Buffer;
}

/**
 * sha256(prev || canonical content), the canonical content being `saga-audit-v1;` then each field as
 * `<UTF-8 byte length>:<text>;` (`-;` for NULL). The same as the database's `saga_audit_row_hash` (migration
 * AuditChain1766000000000), which the insert trigger uses.
 */
export function auditRowHash(prev: Buffer, row: Omit<ChainRow, 'prev_hash' | 'hash'>): Buffer {
  const fields = [
    row.chain_seq,
    row.id,
    row.at_utc,
    row.actor,
    row.role,
    row.action,
    row.saga_id,
    row.step,
    row.signal,
    row.reason,
    row.outcome,
    row.status_code,
    row.detail,
  ];
  const canonical =
    'saga-audit-v1;' + fields.map((f) => (f === null ? '-;' : `${Buffer.byteLength(f, 'utf8')}:${f};`)).join('');
  return createHash('sha256').update(prev).update(canonical, 'utf8').digest();
}

interface AuditRowRead {
  id: string;
  at: Date;
  actor: string;
  role: string;
  action: AuditAction;
  saga_id: string | null;
  step: string | null;
  signal: string | null;
  hash: string;
  reason: string;
  outcome: AuditOutcome;
  status_code: number;
  detail: string | null;
}
