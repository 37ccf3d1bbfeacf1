import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';

/** What an operator asked for. Persisted (`saga_audit.action`): renaming one needs a migration. */
export const AuditAction = {
  CANCEL: 'cancel',
  RETRY: 'retry',
  RESOLVE_COMPENSATION: 'resolve-compensation',
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
  sagaId: string;
  step: string | null;
  /** The operator's reason, trimmed, at most 500 characters. */
  reason: string;
  outcome: AuditOutcome;
  /** The HTTP status the action was answered with. */
  statusCode: number;
  /** Why it was refused (the engine's reason, the auth message), or null. */
  detail: string | null;
}

export interface AuditEntry extends AuditRecord {
  /** bigserial, as a string (it may outgrow a JS number). */
  id: string;
  at: Date;
}

/** Column list of jsonb_to_recordset for an AuditRecord, shared with SagaStore.commit. */
export const AUDIT_ROW_COLUMNS = `actor text, role text, action text, step text, reason text, outcome text,
  status_code int, detail text`;

/** An AuditRecord as the row jsonb_to_recordset reads (saga_id comes from the statement). */
export function auditRow(record: AuditRecord): Record<string, unknown> {
  return {
    actor: record.actor,
    role: record.role,
    action: record.action,
    step: record.step,
    reason: record.reason,
    outcome: record.outcome,
    status_code: record.statusCode,
    detail: record.detail,
  };
}

/**
 * The operator audit log (`saga_audit`, append-only: the database refuses UPDATE, DELETE and TRUNCATE).
 * An accepted action is written by SagaStore.commit in the statement of its transition; refusals are written
 * here, on their own, since nothing else changes.
 */
@Injectable()
export class AuditLog {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  async record(record: AuditRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO saga_audit (actor, role, action, saga_id, step, reason, outcome, status_code, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        record.actor,
        record.role,
        record.action,
        record.sagaId,
        record.step,
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
      `SELECT a.id::text AS id, a.at, a.actor, a.role, a.action, a.saga_id, a.step, a.reason, a.outcome,
              a.status_code, a.detail
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
      reason: r.reason,
      outcome: r.outcome,
      statusCode: r.status_code,
      detail: r.detail,
    }));
  }
}

interface AuditRowRead {
  id: string;
  at: Date;
  actor: string;
  role: string;
  action: AuditAction;
  saga_id: string;
  step: string | null;
  reason: string;
  outcome: AuditOutcome;
  status_code: number;
  detail: string | null;
}
