import { Inject, Injectable } from '@nestjs/common';
import type { DataSource, EntityManager } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';
import type { CatchUpPolicy, OverlapPolicy } from '../schedules/schedule-plan';

/** A schedule as stored (`saga_schedule`). The input holds sensitive fields sealed. */
export interface Schedule {
  id: string;
  sagaType: string;
  input: Record<string, unknown>;
  cron: string;
  timeZone: string;
  overlap: OverlapPolicy;
  catchUp: CatchUpPolicy;
  catchUpLimit: number;
  description: string | null;
  paused: boolean;
  nextFireAt: Date | null;
  bufferedTick: Date | null;
  lastSagaId: string | null;
  revision: number;
  createdAt: Date;
  updatedAt: Date;
}

/** What a sweep claimed: the schedule, and the database's time of the claim (the clock ticks are judged by). */
export interface ClaimedSchedule extends Schedule {
  now: Date;
}

/** Persisted (`saga_schedule_run.outcome`). */
export type ScheduleRunOutcome = 'started' | 'skipped' | 'buffered' | 'failed';

export interface ScheduleRun {
  tick: Date;
  outcome: ScheduleRunOutcome;
  sagaId: string | null;
  /** The saga's status now (null: none, or deleted by retention). */
  sagaStatus: string | null;
  detail: string | null;
  at: Date;
}

/** Persisted (`saga_schedule_audit.action`). */
export type ScheduleAuditAction = 'create' | 'update' | 'pause' | 'resume' | 'delete';

export interface ScheduleAuditRecord {
  actor: string;
  role: string;
  action: ScheduleAuditAction;
  scheduleId: string;
  reason: string;
  /** What changed (field names and new values; inputs redacted). */
  detail: Record<string, unknown> | null;
}

export interface ScheduleAuditEntry extends ScheduleAuditRecord {
  id: string;
  at: Date;
}

/** The fields a change may set (the API's PATCH, the sweep's advance). */
export type ScheduleChange = Partial<
  Pick<
    Schedule,
    | 'input'
    | 'cron'
    | 'timeZone'
    | 'overlap'
    | 'catchUp'
    | 'catchUpLimit'
    | 'description'
    | 'paused'
    | 'nextFireAt'
    | 'bufferedTick'
    | 'lastSagaId'
  >
>;

const COLUMNS: Record<keyof ScheduleChange, string> = {
  input: 'input',
  cron: 'cron',
  timeZone: 'time_zone',
  overlap: 'overlap',
  catchUp: 'catch_up',
  catchUpLimit: 'catch_up_limit',
  description: 'description',
  paused: 'paused',
  nextFireAt: 'next_fire_at',
  bufferedTick: 'buffered_tick',
  lastSagaId: 'last_saga_id',
};

const MS = `interval '1 millisecond'`;

/**
 * Schedules in PostgreSQL. Changes from the API and from the sweep both bump `revision`; the sweep's advance is a
 * compare-and-set on it, so an operator's change while a tick is being handled wins and the tick is handled again
 * from the new state (its saga's idempotency key makes a second start of it a replay). Every API change writes its
 * audit row in the same transaction.
 */
@Injectable()
export class ScheduleStore {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  async create(
    schedule: Omit<Schedule, 'revision' | 'createdAt' | 'updatedAt' | 'bufferedTick' | 'lastSagaId'>,
    audit: ScheduleAuditRecord,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO saga_schedule (id, saga_type, input, cron, time_zone, overlap, catch_up, catch_up_limit,
                                    description, paused, next_fire_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          schedule.id,
          schedule.sagaType,
          JSON.stringify(schedule.input),
          schedule.cron,
          schedule.timeZone,
          schedule.overlap,
          schedule.catchUp,
          schedule.catchUpLimit,
          schedule.description,
          schedule.paused,
          schedule.nextFireAt,
        ],
      );
      await insertAudit(tx, audit);
    });
  }

  /**
   * Applies `change(current)` to the schedule under a row lock, with its audit row; null when there is no such
   * schedule. `change` may throw to refuse (nothing is written).
   */
  async update(
    id: string,
    change: (current: Schedule) => { set: ScheduleChange; audit: ScheduleAuditRecord },
  ): Promise<Schedule | null> {
    return this.db.transaction(async (tx) => {
      const rows: Row[] = await tx.query(`SELECT * FROM saga_schedule WHERE id = $1 FOR UPDATE`, [id]);
      if (rows.length === 0) return null;
      const { set, audit } = change(fromRow(rows[0]));
      const updated = await setFields(tx, id, set, null);
      await insertAudit(tx, audit);
      return updated;
    });
  }

  /** Deletes it (its runs go with it; its audit stays), with the audit row; false when there is none. */
  async delete(id: string, audit: ScheduleAuditRecord): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const gone: unknown[] = await tx.query(
        `WITH gone AS (DELETE FROM saga_schedule WHERE id = $1 RETURNING 1) SELECT * FROM gone`,
        [id],
      );
      if (gone.length === 0) return false;
      await insertAudit(tx, audit);
      return true;
    });
  }

  async get(id: string): Promise<Schedule | null> {
    const rows: Row[] = await this.db.query(`SELECT * FROM saga_schedule WHERE id = $1`, [id]);
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Newest first. */
  async list(limit: number, sagaType?: string, sagaTypes?: readonly string[]): Promise<Schedule[]> {
    const rows: Row[] = await this.db.query(
      `SELECT * FROM saga_schedule WHERE ($2::text IS NULL OR saga_type = $2)
          AND ($3::text[] IS NULL OR saga_type = ANY($3))
        ORDER BY created_at DESC, id DESC LIMIT $1`,
      [limit, sagaType ?? null, sagaTypes ? [...sagaTypes] : null],
    );
    return rows.map(fromRow);
  }

  /** The last runs, newest first, with the status their saga has now. */
  async runs(id: string, limit: number): Promise<ScheduleRun[]> {
    const rows: {
      tick: Date;
      outcome: ScheduleRunOutcome;
      saga_id: string | null;
      status: string | null;
      detail: string | null;
      at: Date;
    }[] = await this.db.query(
      `SELECT r.tick, r.outcome, r.saga_id, i.status, r.detail, r.at
           FROM saga_schedule_run r LEFT JOIN saga_instance i ON i.id = r.saga_id
          WHERE r.schedule_id = $1 ORDER BY r.at DESC, r.tick DESC LIMIT $2`,
      [id, limit],
    );
    return rows.map((r) => ({
      tick: r.tick,
      outcome: r.outcome,
      sagaId: r.saga_id,
      sagaStatus: r.status,
      detail: r.detail,
      at: r.at,
    }));
  }

  async audits(id: string, limit: number): Promise<ScheduleAuditEntry[]> {
    const rows: {
      id: string;
      at: Date;
      actor: string;
      role: string;
      action: ScheduleAuditAction;
      schedule_id: string;
      reason: string;
      detail: Record<string, unknown> | null;
    }[] = await this.db.query(
      `SELECT id::text AS id, at, actor, role, action, schedule_id, reason, detail FROM saga_schedule_audit
        WHERE schedule_id = $1 ORDER BY id DESC LIMIT $2`,
      [id, limit],
    );
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      actor: r.actor,
      role: r.role,
      action: r.action,
      scheduleId: r.schedule_id,
      reason: r.reason,
      detail: r.detail,
    }));
  }

  /**
   * Schedules with a tick due (`next_fire_at` passed) or a tick held back by overlap `buffer`, not paused, oldest
   * first, claimed as the supervisor claims step rows (`FOR UPDATE SKIP LOCKED`, then a lease, in one statement):
   * any number of orchestrators share them and none holds a lock while it starts sagas. Each comes with the
   * database's time of the claim.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedSchedule[]> {
    const rows: (Row & { claimed_at: Date })[] = await this.db.query(
      `WITH c AS (
         SELECT id FROM saga_schedule
          WHERE NOT paused AND (next_fire_at <= now() OR buffered_tick IS NOT NULL)
            AND (lease_until IS NULL OR lease_until < now())
          ORDER BY next_fire_at
          LIMIT $1
          FOR UPDATE SKIP LOCKED
       ), claimed AS (
         UPDATE saga_schedule s SET lease_until = now() + $2 * ${MS}
           FROM c WHERE s.id = c.id
         RETURNING s.*, now() AS claimed_at
       )
       SELECT * FROM claimed`,
      [limit, leaseMs],
    );
    return rows.map((r) => ({ ...fromRow(r), now: r.claimed_at }));
  }

  /**
   * The sweep's outcome: the next tick, the buffered one, the last saga; releases the claim. A compare-and-set on
   * the revision claimed: false when an operator changed the schedule meanwhile (theirs wins).
   */
  async advance(claim: Schedule, set: ScheduleChange): Promise<boolean> {
    const updated = await setFields(this.db.manager, claim.id, set, claim.revision);
    return updated !== null;
  }

  /** One tick's outcome; a tick recorded before (buffered, then started) gets the newer outcome. */
  async recordRun(
    scheduleId: string,
    tick: Date,
    outcome: ScheduleRunOutcome,
    sagaId: string | null,
    detail: string | null,
  ) {
    await this.db.query(
      `INSERT INTO saga_schedule_run (schedule_id, tick, outcome, saga_id, detail) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (schedule_id, tick) DO UPDATE
         SET outcome = excluded.outcome, saga_id = coalesce(excluded.saga_id, saga_schedule_run.saga_id),
             detail = excluded.detail, at = now()`,
      [scheduleId, tick, outcome, sagaId, detail],
    );
  }

  /** Whether the saga still runs (for the overlap policy): RUNNING, COMPENSATING or DELAYED. FAILED holds, it does not run. */
  async isActive(sagaId: string): Promise<boolean> {
    const rows: { status: string }[] = await this.db.query(`SELECT status FROM saga_instance WHERE id = $1`, [sagaId]);
    return rows.length > 0 && ['RUNNING', 'COMPENSATING', 'DELAYED'].includes(rows[0].status);
  }
}

async function setFields(
  db: EntityManager,
  id: string,
  set: ScheduleChange,
  revision: number | null,
): Promise<Schedule | null> {
  const assignments: string[] = [];
  const values: unknown[] = [id, revision];
  for (const [field, value] of Object.entries(set) as [keyof ScheduleChange, unknown][]) {
    if (value === undefined) continue;
    values.push(field === 'input' ? JSON.stringify(value) : value);
    assignments.push(`${COLUMNS[field]} = $${values.length}`);
  }
  const rows: Row[] = await db.query(
    `WITH updated AS (
       UPDATE saga_schedule SET ${[...assignments, 'revision = revision + 1', 'updated_at = now()', 'lease_until = NULL'].join(', ')}
        WHERE id = $1 AND ($2::int IS NULL OR revision = $2)
       RETURNING *
     )
     SELECT * FROM updated`,
    values,
  );
  return rows[0] ? fromRow(rows[0]) : null;
}

async function insertAudit(tx: EntityManager, audit: ScheduleAuditRecord): Promise<void> {
  await tx.query(
    `INSERT INTO saga_schedule_audit (actor, role, action, schedule_id, reason, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      audit.actor,
      audit.role,
      audit.action,
      audit.scheduleId,
      audit.reason,
      audit.detail ? JSON.stringify(audit.detail) : null,
    ],
  );
}

interface Row {
  id: string;
  saga_type: string;
  input: Record<string, unknown>;
  cron: string;
  time_zone: string;
  overlap: OverlapPolicy;
  catch_up: CatchUpPolicy;
  catch_up_limit: number;
  description: string | null;
  paused: boolean;
  next_fire_at: Date | null;
  buffered_tick: Date | null;
  last_saga_id: string | null;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

function fromRow(r: Row): Schedule {
  return {
    id: r.id,
    sagaType: r.saga_type,
    input: r.input,
    cron: r.cron,
    timeZone: r.time_zone,
    overlap: r.overlap,
    catchUp: r.catch_up,
    catchUpLimit: r.catch_up_limit,
    description: r.description,
    paused: r.paused,
    nextFireAt: r.next_fire_at,
    bufferedTick: r.buffered_tick,
    lastSagaId: r.last_saga_id,
    revision: r.revision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
