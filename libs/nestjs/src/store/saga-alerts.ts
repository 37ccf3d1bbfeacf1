import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';
import type { SagaError } from '@saga-engine/core';

/** An alert claimed for delivery. `attempts` counts this one, and fences the claim (see `reschedule`). */
export interface ClaimedAlert {
  id: string;
  sagaId: string;
  sagaType: string;
  error: SagaError | null;
  /** `FAILED`: the saga needs an operator. `POISONED`: a step killed its agent too often (the saga compensates). */
  status: 'FAILED' | 'POISONED';
  raisedAt: Date;
  attempts: number;
}

/** `last_error` of an alert closed unsent because its saga moved on before the alert went out. */
export const NOT_SENT =
  'not sent: the saga is no longer in the failure that raised it (retried, resolved or failed again)';

/**
 * The alert outbox (`saga_alert`). Rows are written by SagaStore.commit with the transition that made a saga
 * FAILED, or that POISONED a step; senders claim them here. A claim is a short statement, not a transaction held
 * across the HTTP call: it pushes `next_attempt_at` forward by a lease, so no other sender takes the row while it is being posted, and
 * a sender that dies mid-post only delays it until the lease expires (at-least-once delivery).
 */
@Injectable()
export class AlertOutbox {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  /**
   * Claims up to `limit` alerts that are due, for `leaseMs`. Safe to run from any number of processes.
   *
   * Only an alert whose saga is still in the failure that raised it is claimed: the saga is `FAILED` and has not
   * changed since (the alert and the transition to `FAILED` are written in one statement, so they share `now()`).
   * An alert whose saga an operator has since retried or resolved (or that failed again, raising a newer alert) is
   * not sent: it is closed unsent, with the reason in `last_error`. A `POISONED` alert is always sent: its saga
   * compensates by itself, but the step's code needs a look whatever the saga does next.
   */
  async claim(limit: number, leaseMs: number): Promise<ClaimedAlert[]> {
    const rows: {
      id: string;
      saga_id: string;
      saga_type: string;
      error: SagaError | null;
      status: 'FAILED' | 'POISONED';
      raised_at: Date;
      attempts: number;
    }[] = await this.db.query(
      // A CTE so that the statement is a SELECT: TypeORM answers a bare UPDATE with [rows, count].
      // Both parts skip the rows another sender holds: two supervisors that each waited for the other's rows,
      // taken in different orders, deadlocked.
      `WITH outdated AS (
         UPDATE saga_alert a
            SET next_attempt_at = NULL, last_error = $3
           FROM (SELECT al.id FROM saga_alert al
                   JOIN saga_instance s ON s.id = al.saga_id
                  WHERE al.delivered_at IS NULL AND al.next_attempt_at <= now()
                    AND al.status = 'FAILED' AND (s.status <> 'FAILED' OR s.updated_at > al.raised_at)
                    FOR UPDATE OF al SKIP LOCKED) old
          WHERE a.id = old.id
         RETURNING a.id
       ), claimed AS (
         UPDATE saga_alert a
            SET attempts = a.attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond'
           FROM (SELECT al.id FROM saga_alert al
                   JOIN saga_instance s ON s.id = al.saga_id
                  WHERE al.delivered_at IS NULL AND al.next_attempt_at <= now()
                    AND (al.status = 'POISONED' OR (s.status = 'FAILED' AND s.updated_at <= al.raised_at))
                  ORDER BY al.next_attempt_at, al.id
                  LIMIT $1
                    FOR UPDATE OF al SKIP LOCKED) due
          WHERE a.id = due.id
         RETURNING a.id, a.saga_id, a.saga_type, a.error, a.status, a.raised_at, a.attempts
       )
       SELECT id::text AS id, saga_id, saga_type, error, status, raised_at, attempts FROM claimed ORDER BY id`,
      [limit, leaseMs, NOT_SENT],
    );
    return rows.map((r) => ({
      id: r.id,
      sagaId: r.saga_id,
      sagaType: r.saga_type,
      error: r.error,
      status: r.status,
      raisedAt: r.raised_at,
      attempts: r.attempts,
    }));
  }

  /** Delivered (or logged only, when `to` is null). A repeat after a lost lease changes nothing. */
  async markDelivered(id: string, to: string | null): Promise<void> {
    await this.db.query(
      `UPDATE saga_alert SET delivered_at = now(), delivered_to = $2, next_attempt_at = NULL, last_error = NULL
        WHERE id = $1 AND delivered_at IS NULL`,
      [id, to],
    );
  }

  /**
   * The attempt failed: try again in `delayMs`, or never (`delayMs` null: given up). Fenced on `attempts`, so a
   * sender whose lease expired cannot overwrite the schedule of the one that claimed the row after it.
   */
  async reschedule(alert: ClaimedAlert, delayMs: number | null, error: string): Promise<void> {
    await this.db.query(
      `UPDATE saga_alert
          SET next_attempt_at = CASE WHEN $3::bigint IS NULL THEN NULL ELSE now() + $3 * interval '1 millisecond' END,
              last_error = $4
        WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL`,
      [alert.id, alert.attempts, delayMs, error.slice(0, 2000)],
    );
  }
}
