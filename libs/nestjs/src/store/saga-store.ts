import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import type { DataSource } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaStepEntity } from './entities/saga-step.entity';
import {
  CompensationStatus,
  type HistoryEntry,
  type ItemState,
  type PendingSignal,
  type SagaCommand,
  type SagaSpec,
  type SagaState,
  type StepSpec,
  type StepState,
  StepStatus,
  fanOutState,
  isCompensationInFlight,
  isItemCompensationInFlight,
  isItemInFlight,
  isStepInFlight,
  isTerminal,
  attributesFromInput,
  attributesFromStep,
  businessKeyOf,
  SEARCH_TYPE_KEY,
  type SearchAttributes,
} from '@saga-engine/core';
import { AUDIT_ROW_COLUMNS, type AuditRecord, auditRow } from './saga-audit';
import { StatementBatcher } from './statement-batcher';

/** What the scheduler holds of an instance: its state and the revision it was read at (for compare-and-set). */
export interface SagaSnapshot {
  id: string;
  type: string;
  definitionVersion: number;
  /** Compare-and-set revision of the instance row. */
  version: number;
  state: SagaState;
  /** W3C traceparent of the saga's root span (ids only), when tracing was on at start. */
  traceparent?: string | null;
  /** A child saga's link to the step of its parent that started it; null (or absent) for a saga without parent. */
  parent?: ParentLink | null;
}

/** Which attempt of which step of which saga started a child saga. */
export interface ParentLink {
  id: string;
  step: string;
  attempt: number;
}

/** A child saga to insert with its parent's commit (see SagaStore.commit). */
export interface NewChild extends NewSaga {
  parent: ParentLink;
  idempotencyKey: string;
}

/** One item of a fan-out as the agent reads it: the item, its key, and whether the attempt is still current. */
export interface StoredItem {
  key: string;
  item: unknown;
  state: ItemState;
}

export interface NewSaga {
  id: string;
  definition: SagaSpec;
  idempotencyKey: string | null;
  requestHash: string;
  /** The state after `SagaStarted` was applied to the initial state. */
  state: SagaState;
  history: HistoryEntry[];
  commands: SagaCommand[];
  /** W3C traceparent of the saga's root span, when tracing is on. */
  traceparent?: string | null;
  /** Steps whose dispatched attempt an agent of this process runs at once, in-process (see LocalRunner). */
  local?: ReadonlySet<string>;
  /** A child saga's link to its parent's step. */
  parent?: ParentLink | null;
}

export type InsertResult =
  /** `written`: the rows as the statement wrote them, timestamps from the database (see `writtenRows`). */
  | { inserted: true; snapshot: SagaSnapshot; written: WrittenSaga }
  | { inserted: false; existing: { id: string; type: string; requestHash: string } }
  /** Another saga of the type holds the business key and is not over (see the key's unique index). */
  | { inserted: false; businessKeyHeldBy: string };

/** The unique index of the business keys of the sagas that are not over (migration 1766200000000). */
const BUSINESS_KEY_INDEX = 'saga_instance_business_key_active';

/** Margin added to a step's timeout before the supervisor may declare the attempt lost. */
export const DEADLINE_GRACE_MS = 5_000;

/**
 * How often the supervisor checks a step that waits for its child saga (or for its child's undo): the step row's
 * deadline, pushed back at every check. The child's last commit sets it to now (it wakes the parent in the same
 * statement), so this only bounds how late a parent hears of its child after a crash between that commit and the
 * parent's; and how late a cancel reaches a child after one.
 */
export const CHILD_CHECK_MS = 30_000;

const SETTLED_STEP: readonly string[] = [
  StepStatus.SUCCEEDED,
  StepStatus.FAILED,
  StepStatus.SKIPPED,
  StepStatus.COMPENSATING,
  StepStatus.COMPENSATED,
  StepStatus.COMPENSATION_FAILED,
];
const SETTLED_COMP: readonly string[] = [
  CompensationStatus.SUCCEEDED,
  CompensationStatus.FAILED,
  CompensationStatus.RESOLVED,
];

/** A step row as written: the state fields, plus when the attempt in flight is due and by when it must report. */
interface StepRow {
  name: string;
  position: number;
  status: string;
  attempt: number;
  attempt_base: number;
  output: unknown;
  error: unknown;
  outcome_unknown: boolean;
  comp_status: string | null;
  comp_attempt: number;
  comp_attempt_base: number;
  comp_error: unknown;
  /** The step's run number (operator re-runs) and whether an operator skipped it. */
  run: number;
  skipped: boolean;
  in_flight: boolean;
  due_in_ms: number | null;
  /** A sleep's wake-up time computed by its `until` (ISO-8601): the deadline is this instant, not now + ms. */
  deadline_until?: string | null;
  /** An agent reported the attempt running: it is no longer due (only its deadline matters from now). */
  taken?: boolean;
  deadline_in_ms: number | null;
  started: boolean;
  finished: boolean;
  comp_started: boolean;
  comp_finished: boolean;
  deaths: number;
  /** The attempt dispatched here is handed to an agent of the committing process, to run in-process at once. */
  local?: boolean;
}

// Column list of jsonb_to_recordset for StepRow; timestamps are derived in SQL from now(), never from our clock.
const STEP_ROW_COLUMNS = `name text, position int, status text, attempt int, attempt_base int, output jsonb, error jsonb,
  outcome_unknown boolean, comp_status text, comp_attempt int, comp_attempt_base int, comp_error jsonb,
  in_flight boolean, due_in_ms bigint, deadline_in_ms bigint, taken boolean, started boolean, finished boolean,
  comp_started boolean, comp_finished boolean, deadline_until timestamptz, deaths int, local boolean, run int,
  skipped boolean`;
const EVENT_COLUMNS = `seq int, type text, step text, attempt int, data jsonb, item int`;
const MS = `interval '1 millisecond'`;

/**
 * The system of record. Every transition commits as ONE statement: a compare-and-set on the instance revision
 * that gates the step rows (the outbox) and the history rows in the same statement, so a crash at any instant
 * leaves either all of it or none of it, and a concurrent writer loses cleanly (0 rows) instead of overwriting.
 */
@Injectable()
export class SagaStore {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  get dataSource(): DataSource {
    return this.db;
  }

  /**
   * The hot path's statements (insert, commit, load) as named prepared statements, straight on the driver's pool:
   * each connection parses and plans them once instead of on every call, which is most of a lone commit's time
   * (the group-commit statement is long). PostgreSQL re-plans them by itself after a migration changes a table.
   */
  private async prepared<T>(name: string, text: string, values: unknown[]): Promise<T[]> {
    const pool = (this.db.driver as unknown as { master: Pool }).master;
    const result = await pool.query({ name, text, values });
    return result.rows as T[];
  }

  /**
   * Inserts a new instance with its steps and first events, unless another instance holds the same idempotency
   * key (then nothing is written and the holder is returned, so the caller can answer 200 or 409).
   */
  async insert(saga: NewSaga): Promise<InsertResult> {
    const row = this.insertRowOf(saga);
    try {
      return await this.insertRow(saga, row);
    } catch (error) {
      const { code, constraint } = error as { code?: string; constraint?: string };
      if (code !== '23505' || constraint !== BUSINESS_KEY_INDEX || row.business_key === null) throw error;
      const [holder] = await this.db.query<{ id: string }[]>(
        `SELECT id FROM saga_instance
          WHERE type = $1 AND business_key = $2 AND parent_id IS NULL
            AND status NOT IN ('COMPLETED', 'COMPENSATED', 'CANCELLED')`,
        [row.type, row.business_key],
      );
      // The holder ended between the two statements: the key is free again, so this start may take it.
      if (!holder) return this.insertRow(saga, row);
      return { inserted: false, businessKeyHeldBy: holder.id };
    }
  }

  private async insertRow(saga: NewSaga, row: InsertRow): Promise<InsertResult> {
    // It goes to PostgreSQL with the other starts of the moment (group commit), with or without a key: a key that
    // another start holds (committed, or earlier in the same statement) is skipped by ON CONFLICT DO NOTHING
    // without failing the statement, and that start answers with the holder.
    const done = await this.insertBatcher.submit({ sagaId: saga.id, row });
    if (done && row.written) {
      return { inserted: true, snapshot: this.newSnapshot(saga), written: writtenRows(row, row.written) };
    }
    if (saga.idempotencyKey === null) throw new Error(`insert of saga ${saga.id} wrote nothing`);
    const [existing] = await this.db.query(
      `SELECT id, type, request_hash FROM saga_instance WHERE idempotency_key = $1`,
      [saga.idempotencyKey],
    );
    if (!existing) throw new Error(`insert of saga ${saga.id} wrote nothing and no holder of its key exists`);
    return { inserted: false, existing: { id: existing.id, type: existing.type, requestHash: existing.request_hash } };
  }

  private newSnapshot(saga: NewSaga): SagaSnapshot {
    return {
      id: saga.id,
      type: saga.definition.name,
      definitionVersion: saga.definition.version,
      version: 1,
      state: saga.state,
      traceparent: saga.traceparent ?? null,
      parent: saga.parent ?? null,
    };
  }

  /**
   * New sagas, many in one statement (see `batcher`). A statement that fails (a business key held by another saga:
   * its unique index is not the statement's ON CONFLICT) is retried one start at a time, so that the conflict is
   * that start's own (see `insert`).
   */
  private readonly insertBatcher = new StatementBatcher((rows: InsertRow[]) => this.insertRows(rows));

  private async insertRows(rows: InsertRow[]): Promise<boolean[]> {
    const inserted: InsertedTimes[] = await this.prepared(
      'saga_insert',
      `WITH p AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS p(id uuid, type text, definition_version int, status text,
           input jsonb, output jsonb, error jsonb, cancel_requested boolean, event_count int, idempotency_key text,
           request_hash text,
           completed boolean, trace_parent text, steps jsonb, events jsonb, start_at timestamptz, start_in_ms bigint,
           parent_id uuid, parent_step text, parent_attempt int, business_key text, search_attributes jsonb)
       ), inst AS (
         INSERT INTO saga_instance (id, type, definition_version, status, version, input, output, error,
                                    cancel_requested, event_count, idempotency_key, request_hash, completed_at,
                                    trace_parent, start_at, parent_id, parent_step, parent_attempt, business_key,
                                    search_attributes)
         SELECT p.id, p.type, p.definition_version, p.status, 1, p.input, p.output, p.error, p.cancel_requested,
                p.event_count, p.idempotency_key, p.request_hash, CASE WHEN p.completed THEN now() END, p.trace_parent,
                coalesce(p.start_at, now() + p.start_in_ms * ${MS}), p.parent_id, p.parent_step, p.parent_attempt,
                p.business_key, p.search_attributes
           FROM p
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING id, created_at, updated_at, start_at, completed_at
       ), steps AS (
         INSERT INTO saga_step (saga_id, name, position, status, attempt, attempt_base, output, error, outcome_unknown,
                                comp_status, comp_attempt, comp_attempt_base, comp_error, due_at, deadline_at,
                                started_at, finished_at, comp_started_at, comp_finished_at, deaths, local_run)
         SELECT inst.id, r.name, r.position, r.status, r.attempt, r.attempt_base, r.output, r.error, r.outcome_unknown,
                r.comp_status, r.comp_attempt, r.comp_attempt_base, r.comp_error,
                CASE WHEN r.in_flight THEN now() + r.due_in_ms * ${MS} END,
                CASE WHEN r.in_flight THEN now() + r.deadline_in_ms * ${MS} END,
                CASE WHEN r.started THEN now() END, CASE WHEN r.finished THEN now() END,
                CASE WHEN r.comp_started THEN now() END, CASE WHEN r.comp_finished THEN now() END, coalesce(r.deaths, 0),
                coalesce(r.local, false)
         FROM inst JOIN p ON p.id = inst.id, jsonb_to_recordset(p.steps) AS r(${STEP_ROW_COLUMNS})
       ), events AS (
         INSERT INTO saga_event (saga_id, seq, type, step, attempt, data, item)
         SELECT inst.id, e.seq, e.type, e.step, e.attempt, e.data, e.item
         FROM inst JOIN p ON p.id = inst.id, jsonb_to_recordset(p.events) AS e(${EVENT_COLUMNS})
       )
       SELECT id, created_at, updated_at, start_at, completed_at FROM inst`,
      [JSON.stringify(rows)],
    );
    // The statement's timestamps, for the answer built without reading the saga back (see `writtenRows`).
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const times of inserted) {
      const row = byId.get(times.id);
      if (row) row.written = times;
    }
    const ids = new Set(inserted.map((r) => r.id));
    return rows.map((row) => ids.has(row.id));
  }

  /**
   * Commits a transition computed from `from`. Returns the new snapshot, or null when the instance moved on
   * since `from` was read (the caller re-reads and recomputes).
   *
   * Gated on the same compare-and-set: `audit`, the operator action that caused the transition (so an accepted
   * action and its audit row commit together or not at all), and one `saga_alert` outbox row per `RaiseAlert`
   * command (so an alert is never lost between the commit and its delivery). A new instance cannot start FAILED,
   * so `insert` has no alerts to write.
   */
  async commit(
    from: SagaSnapshot,
    next: SagaState,
    history: HistoryEntry[],
    commands: SagaCommand[],
    definition: SagaSpec,
    audit?: AuditRecord,
    children: readonly NewChild[] = [],
    local?: ReadonlySet<string>,
  ): Promise<SagaSnapshot | null> {
    const rows: StepRow[] = [];
    const items: ItemRow[] = [];
    const newItems: NewItemRow[] = [];
    for (const step of definition.steps) {
      const before = from.state.steps[step.name];
      const after = next.steps[step.name];
      const dispatch = dispatchesOf(commands, step.name);
      if (before !== after || dispatch) {
        const row = stepRow(step.name, step.position, after, dispatch, local?.has(step.name) ?? false);
        rows.push(refreshDeadlineOnStart(row, step, before, after));
      }
      const fanOut = after?.fanOut;
      if (!fanOut || before?.fanOut === fanOut) continue;
      const started = commands.find(
        (c): c is Extract<SagaCommand, { type: 'StartFanOut' }> => c.type === 'StartFanOut' && c.step === step.name,
      );
      if (started) {
        // The list is known: every item is written now, the first ones already dispatched (a row inserted by this
        // statement could not also be updated by it).
        fanOut.items.forEach((item, idx) => {
          newItems.push({
            ...itemRow(step.name, idx, item, itemDispatchOf(commands, step.name, idx)),
            key: started.keys?.[idx] ?? String(idx),
            item: started.items[idx] ?? null,
          });
        });
        continue;
      }
      const was = before?.fanOut?.items;
      fanOut.items.forEach((item, idx) => {
        const dispatch = itemDispatchOf(commands, step.name, idx);
        if (was?.[idx] === item && !dispatch) return;
        items.push(refreshItemDeadlineOnStart(itemRow(step.name, idx, item, dispatch), step, was?.[idx], item));
      });
    }
    const alerts = commands.flatMap((c) =>
      c.type === 'RaiseAlert' ? [{ error: c.error, status: c.status ?? 'FAILED' }] : [],
    );
    const searchAttributes = stepAttributes(definition, from.state, next);
    const committed = await this.batcher.submit({
      sagaId: from.id,
      row: {
        id: from.id,
        version: from.version,
        type: from.type,
        ...stateColumns(next),
        pending_signals: next.pendingSignals ?? [],
        steps: rows,
        items,
        new_items: newItems,
        events: history,
        audit: audit ? [auditRow(audit)] : [],
        alerts,
        children: children.map((child) => this.insertRowOf(child)),
        search_attributes: searchAttributes,
      },
    });
    if (!committed) return null;
    return { ...from, version: from.version + 1, state: next };
  }

  /** A new instance as the insert statements read it. */
  private insertRowOf(saga: NewSaga): InsertRow {
    const { state, definition } = saga;
    return {
      id: saga.id,
      type: definition.name,
      definition_version: definition.version,
      ...stateColumns(state),
      input: state.input ?? null,
      idempotency_key: saga.idempotencyKey,
      request_hash: saga.requestHash,
      trace_parent: saga.traceparent ?? null,
      ...startOf(saga.commands),
      ...parentColumns(saga.parent),
      ...searchColumns(definition, state.input),
      steps: definition.steps.map((step) =>
        stepRow(
          step.name,
          step.position,
          state.steps[step.name],
          dispatchesOf(saga.commands, step.name),
          saga.local?.has(step.name) ?? false,
        ),
      ),
      events: saga.history,
    };
  }

  /**
   * Group commit: the transitions of many sagas that arrive while earlier ones are being written go to
   * PostgreSQL together, as ONE statement (one round trip, one transaction, one WAL flush). Each saga keeps its
   * own compare-and-set: the statement updates only the instances whose revision matches, and writes the step,
   * history, audit and alert rows of exactly those; the others get null, as alone. Idle, a transition goes alone
   * and at once. A batch that fails (which only a broken row should cause) is retried one transition at a time,
   * so that one bad transition cannot fail the others.
   */
  private readonly batcher = new StatementBatcher((rows: CommitRow[]) => this.commitRows(rows));

  private async commitRows(rows: CommitRow[]): Promise<boolean[]> {
    const indexed = rows.map((row, idx) => ({ idx, ...row }));
    const result: { idx: number }[] = await this.prepared(
      'saga_commit',
      `WITH p AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS p(idx int, id uuid, version int, type text, status text,
           output jsonb, error jsonb, cancel_requested boolean, event_count int, completed boolean,
           pending_signals jsonb, steps jsonb, items jsonb, new_items jsonb,
           events jsonb, audit jsonb, alerts jsonb, search_attributes jsonb)
       ), inst AS (
         UPDATE saga_instance i
            SET status = p.status, version = i.version + 1, output = p.output, error = p.error,
                cancel_requested = p.cancel_requested, event_count = p.event_count, updated_at = now(),
                completed_at = CASE WHEN p.completed THEN now() END, pending_signals = p.pending_signals,
                -- The attributes of the steps that succeeded in this transition, over those already set.
                search_attributes = CASE WHEN p.search_attributes IS NULL THEN i.search_attributes
                                         ELSE coalesce(i.search_attributes, '{}') || p.search_attributes END
           FROM p
          -- The ids as an array too ($5): planned once for every batch size (a prepared statement's generic plan),
          -- the join alone expects the recordset's default 100 rows and, while the table is small when the plan
          -- is made, scans all of saga_instance for each commit, a lone saga's too, however large it grows since.
          WHERE i.id = ANY($5::uuid[]) AND i.id = p.id AND i.version = p.version
         RETURNING p.idx, i.id, i.parent_id, i.parent_step
       ), won AS (
         SELECT inst.id, inst.parent_id, inst.parent_step, p.type, p.completed, p.steps, p.items, p.new_items,
                p.events, p.audit, p.alerts
           FROM inst JOIN p ON p.idx = inst.idx
       ), wake AS (
         -- A child that ended wakes the step of its parent that waits for it (its deadline is now): the supervisor
         -- delivers the end if the scheduler that committed this dies before it does.
         UPDATE saga_step s SET deadline_at = now(), lease_until = NULL
           FROM won
          WHERE won.completed AND won.parent_id IS NOT NULL AND s.saga_id = won.parent_id
            AND s.name = won.parent_step AND s.deadline_at IS NOT NULL
       ), items AS (
         UPDATE saga_step_item s
            SET status = r.status, attempt = r.attempt, attempt_base = r.attempt_base, output = r.output,
                error = r.error, outcome_unknown = r.outcome_unknown, comp_status = r.comp_status,
                comp_attempt = r.comp_attempt, comp_attempt_base = r.comp_attempt_base, comp_error = r.comp_error,
                due_at = CASE WHEN NOT r.in_flight OR r.taken THEN NULL
                              WHEN r.due_in_ms IS NOT NULL THEN now() + r.due_in_ms * ${MS} ELSE s.due_at END,
                deadline_at = CASE WHEN NOT r.in_flight THEN NULL
                              WHEN r.deadline_in_ms IS NOT NULL THEN now() + r.deadline_in_ms * ${MS}
                              ELSE s.deadline_at END,
                lease_until = CASE WHEN r.due_in_ms IS NOT NULL OR NOT r.in_flight THEN NULL ELSE s.lease_until END,
                started_at = CASE WHEN r.started THEN coalesce(s.started_at, now()) END,
                finished_at = CASE WHEN r.finished THEN coalesce(s.finished_at, now()) END,
                comp_started_at = CASE WHEN r.comp_started THEN coalesce(s.comp_started_at, now()) END,
                comp_finished_at = CASE WHEN r.comp_finished THEN coalesce(s.comp_finished_at, now()) END
           FROM won, jsonb_to_recordset(won.items) AS r(${ITEM_ROW_COLUMNS})
          WHERE s.saga_id = won.id AND s.step = r.step AND s.idx = r.idx
       ), new_items AS (
         INSERT INTO saga_step_item (saga_id, step, idx, key, item, status, attempt, attempt_base, output, error,
                                     outcome_unknown, comp_status, comp_attempt, comp_attempt_base, comp_error,
                                     due_at, deadline_at, started_at, finished_at)
         SELECT won.id, r.step, r.idx, r.key, r.item, r.status, r.attempt, r.attempt_base, r.output, r.error,
                r.outcome_unknown, r.comp_status, r.comp_attempt, r.comp_attempt_base, r.comp_error,
                CASE WHEN r.in_flight THEN now() + r.due_in_ms * ${MS} END,
                CASE WHEN r.in_flight THEN now() + r.deadline_in_ms * ${MS} END,
                CASE WHEN r.started THEN now() END, CASE WHEN r.finished THEN now() END
           FROM won, jsonb_to_recordset(won.new_items) AS r(${ITEM_ROW_COLUMNS}, key text, item jsonb)
         ON CONFLICT (saga_id, step, idx) DO NOTHING
       ), kid_inst AS (
         -- Children start in their parent's commit, keyed by the parent's step: a second start finds the first.
         -- (Children, their steps and their events come as flat arrays of their own, $2 to $4: recordsets nested
         -- in recordsets would make the planner expect millions of rows, and JIT-compile every commit.)
         INSERT INTO saga_instance (id, type, definition_version, status, version, input, output, error,
                                    cancel_requested, event_count, idempotency_key, request_hash, completed_at,
                                    trace_parent, parent_id, parent_step, parent_attempt, business_key,
                                    search_attributes)
         SELECT kid.id, kid.type, kid.definition_version, kid.status, 1, kid.input, kid.output, kid.error,
                kid.cancel_requested, kid.event_count, kid.idempotency_key, kid.request_hash,
                CASE WHEN kid.completed THEN now() END, kid.trace_parent, kid.parent_id, kid.parent_step,
                kid.parent_attempt, kid.business_key, kid.search_attributes
           FROM jsonb_to_recordset($2::jsonb) AS kid(parent_idx int, id uuid, type text, definition_version int,
                  status text, input jsonb, output jsonb, error jsonb, cancel_requested boolean, event_count int,
                  idempotency_key text, request_hash text, completed boolean, trace_parent text, parent_id uuid,
                  parent_step text, parent_attempt int, business_key text, search_attributes jsonb)
           JOIN inst ON inst.idx = kid.parent_idx
         ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
         RETURNING id
       ), kid_steps AS (
         INSERT INTO saga_step (saga_id, name, position, status, attempt, attempt_base, output, error, outcome_unknown,
                                comp_status, comp_attempt, comp_attempt_base, comp_error, due_at, deadline_at,
                                started_at, finished_at, comp_started_at, comp_finished_at)
         SELECT kid_inst.id, r.name, r.position, r.status, r.attempt, r.attempt_base, r.output, r.error,
                r.outcome_unknown, r.comp_status, r.comp_attempt, r.comp_attempt_base, r.comp_error,
                CASE WHEN r.in_flight THEN now() + r.due_in_ms * ${MS} END,
                CASE WHEN r.in_flight THEN now() + r.deadline_in_ms * ${MS} END,
                CASE WHEN r.started THEN now() END, CASE WHEN r.finished THEN now() END,
                CASE WHEN r.comp_started THEN now() END, CASE WHEN r.comp_finished THEN now() END
           FROM jsonb_to_recordset($3::jsonb) AS r(saga_id uuid, ${STEP_ROW_COLUMNS})
           JOIN kid_inst ON kid_inst.id = r.saga_id
       ), kid_events AS (
         INSERT INTO saga_event (saga_id, seq, type, step, attempt, data, item)
         SELECT kid_inst.id, e.seq, e.type, e.step, e.attempt, e.data, e.item
           FROM jsonb_to_recordset($4::jsonb) AS e(saga_id uuid, ${EVENT_COLUMNS})
           JOIN kid_inst ON kid_inst.id = e.saga_id
       ), steps AS (
         UPDATE saga_step s
            SET status = r.status, attempt = r.attempt, attempt_base = r.attempt_base, output = r.output,
                error = r.error, outcome_unknown = r.outcome_unknown, comp_status = r.comp_status,
                comp_attempt = r.comp_attempt, comp_attempt_base = r.comp_attempt_base, comp_error = r.comp_error,
                deaths = coalesce(r.deaths, s.deaths),
                local_run = CASE WHEN r.due_in_ms IS NOT NULL THEN coalesce(r.local, false) ELSE s.local_run END,
                run = r.run, skipped = r.skipped,
                due_at = CASE WHEN NOT r.in_flight OR r.taken THEN NULL
                              WHEN r.due_in_ms IS NOT NULL THEN now() + r.due_in_ms * ${MS} ELSE s.due_at END,
                deadline_at = CASE WHEN NOT r.in_flight THEN NULL
                              WHEN r.deadline_until IS NOT NULL THEN r.deadline_until
                              WHEN r.deadline_in_ms IS NOT NULL THEN now() + r.deadline_in_ms * ${MS}
                              ELSE s.deadline_at END,
                lease_until = CASE WHEN r.due_in_ms IS NOT NULL OR NOT r.in_flight THEN NULL ELSE s.lease_until END,
                started_at = CASE WHEN r.started THEN coalesce(s.started_at, now()) END,
                finished_at = CASE WHEN r.finished THEN coalesce(s.finished_at, now()) END,
                comp_started_at = CASE WHEN r.comp_started THEN coalesce(s.comp_started_at, now()) END,
                comp_finished_at = CASE WHEN r.comp_finished THEN coalesce(s.comp_finished_at, now()) END
           FROM won, jsonb_to_recordset(won.steps) AS r(${STEP_ROW_COLUMNS})
          WHERE s.saga_id = won.id AND s.name = r.name
       ), events AS (
         INSERT INTO saga_event (saga_id, seq, type, step, attempt, data, item)
         SELECT won.id, e.seq, e.type, e.step, e.attempt, e.data, e.item
         FROM won, jsonb_to_recordset(won.events) AS e(${EVENT_COLUMNS})
       ), audit AS (
         INSERT INTO saga_audit (actor, role, action, saga_id, step, signal, reason, outcome, status_code, detail)
         SELECT a.actor, a.role, a.action, won.id, a.step, a.signal, a.reason, a.outcome, a.status_code, a.detail
         FROM won, jsonb_to_recordset(won.audit) AS a(${AUDIT_ROW_COLUMNS})
       ), alerts AS (
         INSERT INTO saga_alert (saga_id, saga_type, error, status)
         SELECT won.id, won.type, x.error, coalesce(x.status, 'FAILED')
         FROM won, jsonb_to_recordset(won.alerts) AS x(error jsonb, status text)
       )
       SELECT idx FROM inst`,
      [
        JSON.stringify(indexed.map(({ children: _, ...row }) => row)),
        JSON.stringify(
          indexed.flatMap(({ idx, children }) =>
            children.map(({ steps: _s, events: _e, ...child }) => ({ parent_idx: idx, ...child })),
          ),
        ),
        JSON.stringify(
          indexed.flatMap(({ children }) =>
            children.flatMap((child) => child.steps.map((step) => ({ saga_id: child.id, ...step }))),
          ),
        ),
        JSON.stringify(
          indexed.flatMap(({ children }) =>
            children.flatMap((child) => child.events.map((event) => ({ saga_id: child.id, ...event }))),
          ),
        ),
        rows.map((row) => row.id),
      ],
    );
    const won = rows.map(() => false);
    for (const { idx } of result) won[idx] = true;
    return won;
  }

  /**
   * Reads an instance's state in one round trip: with the state of every item of its fan-outs (what `transition`
   * needs), or without (`items: false`: an agent that runs one item reads that item alone, see `loadItem`). A
   * snapshot read without its items must never reach `transition`.
   */
  async load(id: string, options: { items?: boolean } = {}): Promise<SagaSnapshot | null> {
    return (options.items === false ? this.lightLoads : this.loads).submit({ sagaId: id, row: id });
  }

  /** The loads of the moment, many in one statement (as the commits; a load sees every commit before it). */
  private readonly loads = new StatementBatcher((ids: string[]) => this.loadRows(ids, true));
  private readonly lightLoads = new StatementBatcher((ids: string[]) => this.loadRows(ids, false));

  private async loadRows(ids: string[], withItems: boolean): Promise<(SagaSnapshot | null)[]> {
    const rows: LoadedRow[] = await this.prepared(
      withItems ? 'saga_load' : 'saga_load_light',
      `SELECT i.id, i.type, i.definition_version, i.version, i.status, i.input, i.output, i.error,
              i.cancel_requested, i.event_count, i.trace_parent, i.pending_signals,
              i.parent_id, i.parent_step, i.parent_attempt,
              (SELECT coalesce(json_agg(json_build_object(
                  'name', s.name, 'status', s.status, 'attempt', s.attempt, 'attempt_base', s.attempt_base,
                  'output', s.output, 'error', s.error, 'outcome_unknown', s.outcome_unknown,
                  'comp_status', s.comp_status, 'comp_attempt', s.comp_attempt,
                  'comp_attempt_base', s.comp_attempt_base, 'comp_error', s.comp_error, 'deaths', s.deaths,
                  'run', s.run, 'skipped', s.skipped) ORDER BY s.position), '[]')
                 FROM saga_step s WHERE s.saga_id = i.id) AS steps,
              ${
                withItems
                  ? `(SELECT coalesce(json_agg(json_build_array(t.step, t.idx, t.status, t.attempt, t.attempt_base,
                        t.output, t.error, t.outcome_unknown, t.comp_status, t.comp_attempt, t.comp_attempt_base,
                        t.comp_error) ORDER BY t.step, t.idx), '[]')
                       FROM saga_step_item t WHERE t.saga_id = i.id)`
                  : `'[]'::json`
              } AS items
         FROM saga_instance i WHERE i.id = ANY($1::uuid[])`,
      [ids],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => {
      const row = byId.get(canonicalUuid(id));
      return row ? toSnapshot(row) : null;
    });
  }

  /** One item of a fan-out, for the agent that runs it: the item, its key and its state. */
  async loadItem(sagaId: string, step: string, idx: number): Promise<StoredItem | null> {
    const rows: ItemLoadedRow[] = await this.prepared(
      'saga_load_item',
      `SELECT key, item, status, attempt, attempt_base, output, error, outcome_unknown, comp_status, comp_attempt,
              comp_attempt_base, comp_error
         FROM saga_step_item WHERE saga_id = $1 AND step = $2 AND idx = $3`,
      [sagaId, step, idx],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      key: row.key,
      item: row.item,
      state: toItemState([
        step,
        idx,
        row.status,
        row.attempt,
        row.attempt_base,
        row.output,
        row.error,
        row.outcome_unknown,
        row.comp_status,
        row.comp_attempt,
        row.comp_attempt_base,
        row.comp_error,
      ]),
    };
  }

  /** The saga holding an idempotency key (a child, by its parent's step), with its parent link. */
  async findByKey(key: string): Promise<{ id: string; parentId: string | null } | null> {
    const rows: { id: string; parent_id: string | null }[] = await this.db.query(
      `SELECT id, parent_id FROM saga_instance WHERE idempotency_key = $1`,
      [key],
    );
    return rows[0] ? { id: rows[0].id, parentId: rows[0].parent_id } : null;
  }

  /** The newest child a step of a saga started (the one of its latest round), or null. */
  async findChild(parentId: string, step: string): Promise<SagaSnapshot | null> {
    const rows: { id: string }[] = await this.db.query(
      `SELECT id FROM saga_instance WHERE parent_id = $1 AND parent_step = $2 ORDER BY created_at DESC, id DESC LIMIT 1`,
      [parentId, step],
    );
    return rows[0] ? this.load(rows[0].id) : null;
  }
}

/** The instance columns a state sets, as both the start and the commit statements read them. */
interface StateColumns {
  status: string;
  output: unknown;
  error: unknown;
  cancel_requested: boolean;
  event_count: number;
  /** Terminal: the statement stamps completed_at. */
  completed: boolean;
}

function stateColumns(state: SagaState): StateColumns {
  return {
    status: state.status,
    output: state.output ?? null,
    error: state.error ?? null,
    cancel_requested: state.cancelRequested,
    event_count: state.eventCount,
    completed: isTerminal(state.status),
  };
}

/** One saga's transition as the group-commit statement reads it (see SagaStore.commitRows). */
interface CommitRow extends StateColumns {
  id: string;
  version: number;
  type: string;
  pending_signals: PendingSignal[];
  steps: StepRow[];
  /** Items of fan-outs that changed. */
  items: ItemRow[];
  /** Items of a fan-out whose list became known (every item, inserted). */
  new_items: NewItemRow[];
  events: HistoryEntry[];
  audit: Record<string, unknown>[];
  alerts: { error: unknown; status: string }[];
  /** Child sagas started by this transition, inserted with it (or found: their key is the parent's step). */
  children: InsertRow[];
  /** The search attributes the steps that succeeded in this transition set (merged over the row's); null: none. */
  search_attributes: SearchAttributes | null;
}

/** The timestamps of a new instance as the insert statement set them (RETURNING). */
interface InsertedTimes {
  id: string;
  created_at: Date;
  updated_at: Date;
  start_at: Date | null;
  completed_at: Date | null;
}

/** A new saga's instance and step rows as its insert wrote them: what a read-back right after it would find. */
export interface WrittenSaga {
  instance: SagaInstanceEntity;
  steps: SagaStepEntity[];
}

/**
 * The rows the insert statement wrote for `row`, built from what it was given and the timestamps it returned:
 * every step timestamp of an insert is the statement's `now()` (the instance's `created_at`), or that plus a
 * number of milliseconds, exactly as the statement computes them. No children or fan-out items: an insert writes
 * none.
 */
function writtenRows(row: InsertRow, times: InsertedTimes): WrittenSaga {
  const now = times.created_at;
  const at = (yes: boolean) => (yes ? now : null);
  const after = (ms: number | null) => (ms === null ? null : new Date(now.getTime() + Number(ms)));
  const instance = Object.assign(new SagaInstanceEntity(), {
    id: row.id,
    type: row.type,
    definitionVersion: row.definition_version,
    status: row.status,
    version: 1,
    input: row.input,
    output: row.output,
    error: row.error,
    cancelRequested: row.cancel_requested,
    eventCount: row.event_count,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    createdAt: times.created_at,
    updatedAt: times.updated_at,
    traceParent: row.trace_parent,
    completedAt: times.completed_at,
    parentId: row.parent_id ?? null,
    parentStep: row.parent_step ?? null,
    startAt: times.start_at,
    businessKey: row.business_key,
    searchAttributes: row.search_attributes,
  });
  const steps = [...row.steps]
    .sort((a, b) => a.position - b.position)
    .map((s) =>
      Object.assign(new SagaStepEntity(), {
        sagaId: row.id,
        name: s.name,
        position: s.position,
        status: s.status,
        attempt: s.attempt,
        attemptBase: s.attempt_base,
        output: s.output,
        error: s.error,
        outcomeUnknown: s.outcome_unknown,
        run: s.run,
        skipped: s.skipped,
        compStatus: s.comp_status,
        compAttempt: s.comp_attempt,
        compAttemptBase: s.comp_attempt_base,
        compError: s.comp_error,
        dueAt: s.in_flight ? after(s.due_in_ms) : null,
        deadlineAt: s.in_flight ? after(s.deadline_in_ms) : null,
        startedAt: at(s.started),
        finishedAt: at(s.finished),
        compStartedAt: at(s.comp_started),
        compFinishedAt: at(s.comp_finished),
      }),
    );
  return { instance, steps };
}

/** A new saga as the grouped insert reads it (see SagaStore.insertRows). */
interface InsertRow extends StateColumns {
  /** Set by the insert statement that wrote the row (never sent: the row is serialized before). */
  written?: InsertedTimes;
  id: string;
  type: string;
  definition_version: number;
  input: unknown;
  idempotency_key: string | null;
  request_hash: string;
  trace_parent: string | null;
  /** A DELAYED start: when (an instant), or in how long from the insert (database clock); both null otherwise. */
  start_at?: string | null;
  start_in_ms?: number | null;
  parent_id?: string | null;
  parent_step?: string | null;
  parent_attempt?: number | null;
  business_key: string | null;
  search_attributes: SearchAttributes | null;
  steps: StepRow[];
  events: HistoryEntry[];
}

/**
 * The business key and the attributes the input sets, written with the instance. The input is the stored one:
 * sealed sensitive fields are never a key's or an attribute's source (the SDK refuses such paths), so it reads the
 * same values as the plain input. A start through the API was checked before (a value of the wrong type is its
 * 400); here such a value is left out.
 */
function searchColumns(definition: SagaSpec, input: unknown): Pick<InsertRow, 'business_key' | 'search_attributes'> {
  const key = businessKeyOf(definition.businessKey, input);
  const declared = (definition.searchAttributes?.length ?? 0) > 0;
  return {
    business_key: 'key' in key ? key.key : null,
    // The type too (see SEARCH_TYPE_KEY), even before a step sets the first attribute.
    search_attributes: declared
      ? { ...attributesFromInput(definition.searchAttributes, input).attributes, [SEARCH_TYPE_KEY]: definition.name }
      : null,
  };
}

/** The attributes set by the steps that reached SUCCEEDED between `before` and `after` (null: none). */
function stepAttributes(definition: SagaSpec, before: SagaState, after: SagaState): SearchAttributes | null {
  if (!definition.searchAttributes?.length) return null;
  let merged: SearchAttributes | null = null;
  for (const step of definition.steps) {
    const now = after.steps[step.name];
    if (now?.status !== StepStatus.SUCCEEDED || before.steps[step.name] === now) continue;
    if (before.steps[step.name]?.status === StepStatus.SUCCEEDED && before.steps[step.name]?.output === now.output) {
      continue;
    }
    const set = attributesFromStep(definition.searchAttributes, step.name, now.output);
    if (set) merged = { ...(merged ?? {}), ...set };
  }
  return merged;
}

function parentColumns(
  parent: ParentLink | null | undefined,
): Pick<InsertRow, 'parent_id' | 'parent_step' | 'parent_attempt'> {
  if (!parent) return {};
  return { parent_id: parent.id, parent_step: parent.step, parent_attempt: parent.attempt };
}

/** When a new DELAYED instance starts, from its `DelayStart` command (none: it started at once). */
function startOf(commands: SagaCommand[]): Pick<InsertRow, 'start_at' | 'start_in_ms'> {
  const delay = commands.find((c) => c.type === 'DelayStart');
  if (!delay) return {};
  return { start_at: delay.startAt ?? null, start_in_ms: delay.startInMs ?? null };
}

/** An item as `load` reads it: [step, idx, status, attempt, attempt_base, output, error, outcome_unknown,
 *  comp_status, comp_attempt, comp_attempt_base, comp_error] (an array: 10,000 of them without repeated keys). */
type LoadedItem = [
  string,
  number,
  ItemState['status'],
  number,
  number,
  unknown,
  ItemState['error'],
  boolean,
  CompensationStatus | null,
  number,
  number,
  ItemState['error'],
];

interface ItemLoadedRow {
  key: string;
  item: unknown;
  status: ItemState['status'];
  attempt: number;
  attempt_base: number;
  output: unknown;
  error: ItemState['error'];
  outcome_unknown: boolean;
  comp_status: CompensationStatus | null;
  comp_attempt: number;
  comp_attempt_base: number;
  comp_error: ItemState['error'];
}

function toItemState(row: LoadedItem): ItemState {
  const [
    ,
    ,
    status,
    attempt,
    attemptBase,
    output,
    error,
    outcomeUnknown,
    compStatus,
    compAttempt,
    compBase,
    compError,
  ] = row;
  return {
    status,
    attempt,
    attemptBase,
    output,
    error,
    outcomeUnknown,
    compensation: compStatus
      ? { status: compStatus, attempt: compAttempt, attemptBase: compBase, error: compError }
      : null,
  };
}

/** A uuid as PostgreSQL prints it (lower case, hyphenated) from any form it reads (upper case, braces, no hyphens). */
function canonicalUuid(id: string): string {
  const hex = id.replace(/[{}-]/g, '').toLowerCase();
  if (hex.length !== 32) return id;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

interface LoadedRow {
  id: string;
  parent_id: string | null;
  parent_step: string | null;
  parent_attempt: number | null;
  items: LoadedItem[];
  type: string;
  definition_version: number;
  version: number;
  status: SagaState['status'];
  input: unknown;
  output: unknown;
  error: SagaState['error'];
  cancel_requested: boolean;
  event_count: number;
  trace_parent: string | null;
  pending_signals: PendingSignal[];
  steps: {
    name: string;
    status: StepState['status'];
    attempt: number;
    attempt_base: number;
    output: unknown;
    error: StepState['error'];
    outcome_unknown: boolean;
    comp_status: CompensationStatus | null;
    comp_attempt: number;
    comp_attempt_base: number;
    comp_error: StepState['error'];
    deaths?: number;
    run: number;
    skipped: boolean;
  }[];
}

function toSnapshot(row: LoadedRow): SagaSnapshot {
  const items = new Map<string, ItemState[]>();
  for (const item of row.items) {
    let list = items.get(item[0]);
    if (!list) items.set(item[0], (list = []));
    list[item[1]] = toItemState(item);
  }
  const steps: Record<string, StepState> = {};
  for (const s of row.steps) {
    steps[s.name] = {
      status: s.status,
      attempt: s.attempt,
      attemptBase: s.attempt_base,
      output: s.output,
      error: s.error,
      outcomeUnknown: s.outcome_unknown,
      compensation: s.comp_status
        ? { status: s.comp_status, attempt: s.comp_attempt, attemptBase: s.comp_attempt_base, error: s.comp_error }
        : null,
      ...(s.deaths ? { deaths: s.deaths } : {}),
      // Only when set: a state read back equals the one written (states before operator re-runs have neither).
      ...(s.run > 0 ? { run: s.run } : {}),
      ...(s.skipped ? { skipped: true } : {}),
    };
    const list = items.get(s.name);
    if (list) steps[s.name].fanOut = fanOutState(list);
  }
  return {
    id: row.id,
    type: row.type,
    definitionVersion: row.definition_version,
    version: row.version,
    traceparent: row.trace_parent,
    parent:
      row.parent_id && row.parent_step
        ? { id: row.parent_id, step: row.parent_step, attempt: row.parent_attempt ?? 1 }
        : null,
    state: {
      status: row.status,
      input: row.input,
      output: row.output,
      error: row.error,
      cancelRequested: row.cancel_requested,
      eventCount: row.event_count,
      steps,
      pendingSignals: row.pending_signals,
    },
  };
}

type Dispatch = Extract<
  SagaCommand,
  { type: 'DispatchStep' | 'AwaitSignal' | 'StartTimer' | 'StartChild' | 'UndoChild' }
>;

/**
 * The command that starts an attempt of the step (a job, a wait, a timer, a child or its undo), if the transition
 * made one. A dispatch of one of a fan-out's items is the item's, not the step's.
 */
function dispatchesOf(commands: SagaCommand[], step: string): Dispatch | undefined {
  return commands.find(
    (c): c is Dispatch =>
      ((c.type === 'DispatchStep' && c.item === undefined) ||
        c.type === 'AwaitSignal' ||
        c.type === 'StartTimer' ||
        c.type === 'StartChild' ||
        c.type === 'UndoChild') &&
      c.step === step,
  );
}

type ItemDispatch = Extract<SagaCommand, { type: 'DispatchStep' }>;

/** The job of one item of a fan-out, if the transition dispatched one. */
function itemDispatchOf(commands: SagaCommand[], step: string, idx: number): ItemDispatch | undefined {
  return commands.find((c): c is ItemDispatch => c.type === 'DispatchStep' && c.step === step && c.item === idx);
}

/**
 * When the attempt is due (null: no job, as for a wait) and when the supervisor may step in. A wait's deadline is
 * its timeout exactly: nothing runs that could report late.
 */
function timesOf(
  dispatch: Dispatch | undefined,
): Pick<StepRow, 'due_in_ms' | 'deadline_in_ms' | 'deadline_until' | 'taken'> {
  if (!dispatch) return { due_in_ms: null, deadline_in_ms: null };
  // No job for a wait or a timer: `taken` clears the due time that an agent's evaluation (a `when`, an `until`)
  // was dispatched with, so that the supervisor does not look for that finished job again.
  if (dispatch.type === 'AwaitSignal') return { due_in_ms: null, deadline_in_ms: dispatch.timeoutMs, taken: true };
  if (dispatch.type === 'StartChild' || dispatch.type === 'UndoChild') {
    // No job: the child runs (or undoes itself). The deadline is when the supervisor checks on it (see
    // CHILD_CHECK_MS); the child's last commit brings it forward to then.
    return { due_in_ms: null, deadline_in_ms: CHILD_CHECK_MS, taken: true };
  }
  if (dispatch.type === 'StartTimer') {
    // A timer's deadline is its wake-up time: computed (`until`), or `delayMs` from now on the database clock.
    return {
      due_in_ms: null,
      deadline_in_ms: dispatch.delayMs ?? null,
      deadline_until: dispatch.until ?? null,
      taken: true,
    };
  }
  return { due_in_ms: dispatch.delayMs, deadline_in_ms: dispatch.delayMs + dispatch.timeoutMs + DEADLINE_GRACE_MS };
}

/** The columns a step row and an item row share: the state of its attempts, and which of them have started or ended. */
function attemptColumns(s: StepState | ItemState) {
  const comp = s.compensation;
  return {
    status: s.status,
    attempt: s.attempt,
    attempt_base: s.attemptBase,
    output: s.output ?? null,
    error: s.error,
    outcome_unknown: s.outcomeUnknown,
    comp_status: comp?.status ?? null,
    comp_attempt: comp?.attempt ?? 0,
    comp_attempt_base: comp?.attemptBase ?? 0,
    comp_error: comp?.error ?? null,
    started: s.attempt > 0,
    finished: SETTLED_STEP.includes(s.status),
    comp_started: comp !== null,
    comp_finished: comp !== null && SETTLED_COMP.includes(comp.status),
  };
}

function stepRow(name: string, position: number, s: StepState, dispatch: Dispatch | undefined, local = false): StepRow {
  return {
    name,
    position,
    ...attemptColumns(s),
    run: s.run ?? 0,
    skipped: s.skipped === true,
    // A fan-out whose items run has no attempt of its own in flight: its items' rows have theirs.
    in_flight: !s.fanOut && (isStepInFlight(s) || isCompensationInFlight(s)),
    ...timesOf(dispatch),
    deaths: s.deaths ?? 0,
    local,
  };
}

/**
 * An agent reported that the attempt in flight is running (StepStarted): its deadline counts from now, not from
 * the dispatch, so an attempt that waited in a queue backlog is not declared lost while it runs within its timeout.
 * The row is no longer due either: an agent holds the attempt (from a job, or run in-process right after the
 * commit that dispatched it, which has no job at all), so the supervisor's schedule-to-start check, which would
 * enqueue it again, no longer applies; the deadline does.
 */
function refreshDeadlineOnStart(row: StepRow, def: StepSpec, before: StepState, after: StepState): StepRow {
  if (row.deadline_in_ms !== null) return row;
  const runStarted = after.status === StepStatus.RUNNING && before.status !== StepStatus.RUNNING;
  const undoStarted =
    after.compensation?.status === CompensationStatus.RUNNING &&
    before.compensation?.status !== CompensationStatus.RUNNING;
  if (runStarted) return { ...row, taken: true, deadline_in_ms: def.timeoutMs + DEADLINE_GRACE_MS };
  if (undoStarted) return { ...row, taken: true, deadline_in_ms: def.compensationTimeoutMs + DEADLINE_GRACE_MS };
  return row;
}

/** An item row as written (see StepRow): the item's state, plus when its attempt in flight is due and must report. */
interface ItemRow {
  step: string;
  idx: number;
  status: string;
  attempt: number;
  attempt_base: number;
  output: unknown;
  error: unknown;
  outcome_unknown: boolean;
  comp_status: string | null;
  comp_attempt: number;
  comp_attempt_base: number;
  comp_error: unknown;
  in_flight: boolean;
  due_in_ms: number | null;
  deadline_in_ms: number | null;
  taken?: boolean;
  started: boolean;
  finished: boolean;
  comp_started: boolean;
  comp_finished: boolean;
}

/** A new item row: its state, plus the item itself and its key. */
interface NewItemRow extends ItemRow {
  key: string;
  item: unknown;
}

const ITEM_ROW_COLUMNS = `step text, idx int, status text, attempt int, attempt_base int, output jsonb, error jsonb,
  outcome_unknown boolean, comp_status text, comp_attempt int, comp_attempt_base int, comp_error jsonb,
  in_flight boolean, due_in_ms bigint, deadline_in_ms bigint, taken boolean, started boolean, finished boolean,
  comp_started boolean, comp_finished boolean`;

function itemRow(step: string, idx: number, item: ItemState, dispatch: ItemDispatch | undefined): ItemRow {
  return {
    step,
    idx,
    ...attemptColumns(item),
    in_flight: isItemInFlight(item) || isItemCompensationInFlight(item),
    due_in_ms: dispatch ? dispatch.delayMs : null,
    deadline_in_ms: dispatch ? dispatch.delayMs + dispatch.timeoutMs + DEADLINE_GRACE_MS : null,
  };
}

/** An item's attempt reported running (StepStarted): its deadline counts from now (see refreshDeadlineOnStart). */
function refreshItemDeadlineOnStart(
  row: ItemRow,
  def: StepSpec,
  before: ItemState | undefined,
  after: ItemState,
): ItemRow {
  if (row.deadline_in_ms !== null) return row;
  const runStarted = after.status === StepStatus.RUNNING && before?.status !== StepStatus.RUNNING;
  const undoStarted =
    after.compensation?.status === CompensationStatus.RUNNING &&
    before?.compensation?.status !== CompensationStatus.RUNNING;
  if (runStarted) return { ...row, taken: true, deadline_in_ms: def.timeoutMs + DEADLINE_GRACE_MS };
  if (undoStarted) return { ...row, taken: true, deadline_in_ms: def.compensationTimeoutMs + DEADLINE_GRACE_MS };
  return row;
}
