import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';
import {
  type CompensationStatus,
  type StepPhase,
  StepPhase as Phase,
  type StepStatus,
  isCompensationInFlight,
  isStepInFlight,
} from '@saga-engine/core';

/** One attempt in flight that a supervisor claimed: which saga, which step, which phase and attempt. */
export interface ClaimedAttempt {
  sagaId: string;
  sagaType: string;
  definitionVersion: number;
  step: string;
  phase: StepPhase;
  attempt: number;
  /** One item of a fan-out step (a `saga_step_item` row); absent for a step's row. */
  item?: number;
  /** The row as claimed, so that a later write can check that nothing moved meanwhile. */
  fence: { status: StepStatus; attempt: number; compStatus: CompensationStatus | null; compAttempt: number };
  /** The row's deadline (a SLEEPING step's wake-up time) and the database's time of the claim, ISO-8601. */
  deadlineAt?: string;
  claimedAt?: string;
  /** Started attempts of the step whose agent died before they reported (see StepState.deaths). */
  deaths?: number;
  /** The attempt was handed to an agent in-process when it was dispatched (`saga_step.local_run`). */
  localRun?: boolean;
}

/** A DELAYED saga whose start time has passed, claimed by a supervisor. */
export interface ClaimedStart {
  sagaId: string;
  startAt: string;
}

interface ClaimedRow {
  saga_id: string;
  type: string;
  definition_version: number;
  name: string;
  status: StepStatus;
  attempt: number;
  comp_status: CompensationStatus | null;
  comp_attempt: number;
  deadline_at?: Date | null;
  claimed_at?: Date;
  deaths?: number;
  local_run?: boolean;
  idx?: number | null;
}

const MS = `interval '1 millisecond'`;
// (Each statement ends in a SELECT: TypeORM answers a top-level UPDATE with [rows, count], not rows.)
const RETURNING = `RETURNING s.saga_id, i.type, i.definition_version, s.name, s.status, s.attempt, s.comp_status,
                              s.comp_attempt, s.deadline_at, now() AS claimed_at, s.deaths,
                              s.local_run`;
// An item's deaths are its step's (an item that kills its agent makes its step's items run alone, see transition).
const ITEM_RETURNING = `RETURNING s.saga_id, i.type, i.definition_version, s.step AS name, s.idx, s.status,
                              s.attempt, s.comp_status, s.comp_attempt, s.deadline_at, now() AS claimed_at,
                              (SELECT st.deaths FROM saga_step st WHERE st.saga_id = s.saga_id AND st.name = s.step)
                                AS deaths`;

/**
 * The supervisor's claims on the outbox (`saga_step` rows with an attempt in flight). Each claim is ONE
 * statement: it picks rows with `FOR UPDATE SKIP LOCKED` (so supervisors never wait for each other nor for a
 * scheduler's commit) and stamps a lease on them before the statement ends, so no lock is held while the
 * supervisor acts; the lease keeps other supervisors off the rows meanwhile. Acting goes through the
 * scheduler's own compare-and-set, which is what keeps a saga consistent; the lease only avoids double work.
 *
 * Every time comparison uses PostgreSQL's `now()`, never a worker's clock.
 */
@Injectable()
export class SupervisorStore {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  /** Attempts whose deadline passed: the agent died, the job was lost, or the step hung. */
  async claimExpired(limit: number, leaseMs: number): Promise<ClaimedAttempt[]> {
    const rows: ClaimedRow[] = await this.db.query(
      `WITH c AS (
         SELECT saga_id, name FROM saga_step
          WHERE deadline_at < now() AND (lease_until IS NULL OR lease_until < now())
          ORDER BY deadline_at
          LIMIT $1
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE saga_step s SET lease_until = now() + $2 * ${MS}
           FROM c, saga_instance i
          WHERE s.saga_id = c.saga_id AND s.name = c.name AND i.id = s.saga_id
         ${RETURNING}
       )
       SELECT * FROM claimed`,
      [limit, leaseMs],
    );
    return rows.flatMap(toClaimed);
  }

  /** Attempts of fan-out items whose deadline passed (see claimExpired): the same, over `saga_step_item`. */
  async claimExpiredItems(limit: number, leaseMs: number): Promise<ClaimedAttempt[]> {
    const rows: ClaimedRow[] = await this.db.query(
      `WITH c AS (
         SELECT saga_id, step, idx FROM saga_step_item
          WHERE deadline_at < now() AND (lease_until IS NULL OR lease_until < now())
          ORDER BY deadline_at
          LIMIT $1
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE saga_step_item s SET lease_until = now() + $2 * ${MS}
           FROM c, saga_instance i
          WHERE s.saga_id = c.saga_id AND s.step = c.step AND s.idx = c.idx AND i.id = s.saga_id
         ${ITEM_RETURNING}
       )
       SELECT * FROM claimed`,
      [limit, leaseMs],
    );
    return rows.flatMap(toClaimed);
  }

  /** Attempts of fan-out items due long ago (see claimOverdue): the same, over `saga_step_item`. */
  async claimOverdueItems(limit: number, scheduleToStartMs: number, leaseMs: number): Promise<ClaimedAttempt[]> {
    const rows: ClaimedRow[] = await this.db.query(
      `WITH c AS (
         SELECT saga_id, step, idx FROM saga_step_item
          WHERE due_at < now() - $2 * ${MS} AND deadline_at >= now()
            AND (lease_until IS NULL OR lease_until < now())
          ORDER BY due_at
          LIMIT $1
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE saga_step_item s SET lease_until = least(now() + $3 * ${MS}, s.deadline_at)
           FROM c, saga_instance i
          WHERE s.saga_id = c.saga_id AND s.step = c.step AND s.idx = c.idx AND i.id = s.saga_id
         ${ITEM_RETURNING}
       )
       SELECT * FROM claimed`,
      [limit, scheduleToStartMs, leaseMs],
    );
    return rows.flatMap(toClaimed);
  }

  /**
   * Attempts due for longer than `scheduleToStartMs` whose deadline has not passed yet: their job should be in
   * the queue or running; the caller checks and re-enqueues it when it is not. The lease (at most until the
   * deadline, which the other sweep owns) spaces out the checks of an attempt that is simply slow to start.
   */
  async claimOverdue(limit: number, scheduleToStartMs: number, leaseMs: number): Promise<ClaimedAttempt[]> {
    const rows: ClaimedRow[] = await this.db.query(
      `WITH c AS (
         SELECT saga_id, name FROM saga_step
          WHERE due_at < now() - $2 * ${MS} AND deadline_at >= now()
            AND (lease_until IS NULL OR lease_until < now())
          ORDER BY due_at
          LIMIT $1
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE saga_step s SET lease_until = least(now() + $3 * ${MS}, s.deadline_at)
           FROM c, saga_instance i
          WHERE s.saga_id = c.saga_id AND s.name = c.name AND i.id = s.saga_id
         ${RETURNING}
       )
       SELECT * FROM claimed`,
      [limit, scheduleToStartMs, leaseMs],
    );
    return rows.flatMap(toClaimed);
  }

  /**
   * DELAYED sagas whose start time has passed, oldest first, leased like the step rows (`start_lease_until`): the
   * caller starts each through the scheduler's compare-and-set, which ends the claim (the saga is no longer
   * DELAYED). The partial index holds only DELAYED rows, so the sweep costs the same with none or a million.
   */
  async claimDueStarts(limit: number, leaseMs: number): Promise<ClaimedStart[]> {
    const rows: { id: string; start_at: Date }[] = await this.db.query(
      `WITH c AS (
         SELECT id FROM saga_instance
          WHERE status = 'DELAYED' AND start_at <= now()
            AND (start_lease_until IS NULL OR start_lease_until < now())
          ORDER BY start_at
          LIMIT $1
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE saga_instance i SET start_lease_until = now() + $2 * ${MS}
           FROM c WHERE i.id = c.id
         RETURNING i.id, i.start_at
       )
       SELECT * FROM claimed`,
      [limit, leaseMs],
    );
    return rows.map((r) => ({ sagaId: r.id, startAt: r.start_at.toISOString() }));
  }

  /** See purgeFinished. */
  purgeFinished(olderThanMs: number, limit: number): Promise<number> {
    return purgeFinished(this.db, olderThanMs, limit);
  }

  /**
   * The attempt has not started yet (its job waits in the queue, or was just enqueued again): its deadline counts
   * from now. Does nothing when the row changed since it was claimed. Releases the claim.
   */
  async extendDeadline(claim: ClaimedAttempt, ms: number): Promise<boolean> {
    const { status, attempt, compStatus, compAttempt } = claim.fence;
    if (claim.item !== undefined) {
      const items: unknown[] = await this.db.query(
        `WITH extended AS (
           UPDATE saga_step_item SET deadline_at = now() + $4 * ${MS}, lease_until = NULL
            WHERE saga_id = $1 AND step = $2 AND idx = $3 AND deadline_at IS NOT NULL
              AND status = $5 AND attempt = $6 AND comp_status IS NOT DISTINCT FROM $7 AND comp_attempt = $8
           RETURNING 1
         )
         SELECT * FROM extended`,
        [claim.sagaId, claim.step, claim.item, ms, status, attempt, compStatus, compAttempt],
      );
      return items.length > 0;
    }
    const rows: unknown[] = await this.db.query(
      `WITH extended AS (
         UPDATE saga_step SET deadline_at = now() + $3 * ${MS}, lease_until = NULL
          WHERE saga_id = $1 AND name = $2 AND deadline_at IS NOT NULL
            AND status = $4 AND attempt = $5 AND comp_status IS NOT DISTINCT FROM $6 AND comp_attempt = $7
         RETURNING 1
       )
       SELECT * FROM extended`,
      [claim.sagaId, claim.step, ms, status, attempt, compStatus, compAttempt],
    );
    return rows.length > 0;
  }
}

/**
 * Deletes up to `limit` finished sagas (completed_at set: COMPLETED, COMPENSATED, CANCELLED; never FAILED, which
 * waits for an operator) that finished more than `olderThanMs` ago, oldest first, with their steps and history
 * (deleted here: they have no foreign key, see migration 1766600000000) and their items and alerts (ON DELETE
 * CASCADE); the audit trail stays. Rows another supervisor is deleting are skipped. Returns how
 * many it deleted.
 */
export async function purgeFinished(db: DataSource, olderThanMs: number, limit: number): Promise<number> {
  // A finished child stays while its parent has not finished: the parent may still ask it to undo its steps.
  const rows: { n: number }[] = await db.query(
    `WITH doomed AS (
       SELECT id FROM saga_instance c
        WHERE completed_at < now() - $1 * ${MS}
          AND (c.parent_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM saga_instance p WHERE p.id = c.parent_id AND p.completed_at IS NULL))
        ORDER BY completed_at
        LIMIT $2
        FOR UPDATE SKIP LOCKED
     ), steps AS (
       DELETE FROM saga_step s USING doomed WHERE s.saga_id = doomed.id
     ), history AS (
       DELETE FROM saga_event e USING doomed WHERE e.saga_id = doomed.id
     ), gone AS (
       DELETE FROM saga_instance i USING doomed WHERE i.id = doomed.id RETURNING 1
     )
     SELECT count(*)::int AS n FROM gone`,
    [olderThanMs, limit],
  );
  return rows[0]?.n ?? 0;
}

/** Which attempt of the row is in flight: the action's or the compensation's (never both at once). */
function toClaimed(row: ClaimedRow): ClaimedAttempt[] {
  const base = {
    sagaId: row.saga_id,
    sagaType: row.type,
    definitionVersion: row.definition_version,
    step: row.name,
    fence: { status: row.status, attempt: row.attempt, compStatus: row.comp_status, compAttempt: row.comp_attempt },
    ...(row.deadline_at ? { deadlineAt: row.deadline_at.toISOString() } : {}),
    ...(row.claimed_at ? { claimedAt: row.claimed_at.toISOString() } : {}),
    ...(row.deaths ? { deaths: row.deaths } : {}),
    ...(row.local_run ? { localRun: true } : {}),
    ...(row.idx === null || row.idx === undefined ? {} : { item: row.idx }),
  };
  const step = {
    status: row.status,
    compensation: row.comp_status === null ? null : { status: row.comp_status },
  } as Parameters<typeof isStepInFlight>[0];
  if (isStepInFlight(step)) return [{ ...base, phase: Phase.RUN, attempt: row.attempt }];
  if (isCompensationInFlight(step)) return [{ ...base, phase: Phase.UNDO, attempt: row.comp_attempt }];
  return [];
}
