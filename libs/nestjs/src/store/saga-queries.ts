import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';
import { SEARCH_TYPE_KEY, type SagaStatus } from '@saga-engine/core';
import { SagaEventEntity } from './entities/saga-event.entity';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaStepEntity } from './entities/saga-step.entity';

/** Which sagas: the filter of `GET /v1/sagas`, also a bulk job's. */
export interface SagaFilter {
  type?: string;
  /** Only these types (a key limited to them); unset: every type. */
  types?: readonly string[];
  statuses?: SagaStatus[];
  createdAfter?: Date;
  createdBefore?: Date;
}

/** `GET /v1/sagas`'s filter: a bulk job's (SagaFilter), and the business key and search attributes. */
export interface ListSagasFilter extends SagaFilter {
  /** Only the sagas with this business key. */
  businessKey?: string;
  /** Conditions on search attributes (checked against the type's declarations by the API). */
  attributes?: readonly { name: string; type: string; op: 'eq' | 'gt' | 'gte' | 'lt' | 'lte'; value: unknown }[];
  limit: number;
  /** Keyset position: the (created_at, id) of the last item of the previous page. */
  after?: { createdAt: string; id: string };
}

export interface StatsBucket {
  at: Date;
  started: number;
  completed: number;
  compensated: number;
  failed: number;
  cancelled: number;
}

export interface SagaStats {
  counts: Record<string, number>;
  series: StatsBucket[];
}

export interface SagaPage {
  items: SagaInstanceEntity[];
  /** (created_at with full precision, id) of the last item when another page may follow. */
  last: { createdAt: string; id: string } | null;
}

/** A saga with what its page shows: its steps, its children, and its fan-outs' items counted by status. */
export interface FoundInstance {
  instance: SagaInstanceEntity;
  steps: SagaStepEntity[];
  children: ChildRow[];
  /** Per fan-out step, its items by status. */
  itemCounts: Record<string, Record<string, number>>;
}

/** A child saga as its parent lists it. */
export interface ChildRow {
  id: string;
  type: string;
  status: string;
  /** The parent's step that started it. */
  step: string;
  createdAt: Date;
  completedAt: Date | null;
}

/** One item of a fan-out as the items page shows it. */
export interface ItemRow {
  index: number;
  key: string;
  item: unknown;
  status: string;
  attempts: number;
  output: unknown;
  error: unknown;
  startedAt: Date | null;
  finishedAt: Date | null;
  compStatus: string | null;
  compAttempts: number;
  compError: unknown;
  compStartedAt: Date | null;
  compFinishedAt: Date | null;
}

/** Read models for the API. Only fixed columns reach ORDER BY and WHERE; user values are always parameters. */
@Injectable()
export class SagaQueries {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  /**
   * The saga with its steps, the sagas its child steps started and its fan-out items' counts. `parts: false` skips
   * a read that the caller knows is empty (a definition without child or fan-out steps): each read is a round trip
   * and a transaction, and the REST start answers with this view.
   */
  async findInstance(
    id: string,
    parts: { children: boolean; items: boolean } = { children: true, items: true },
  ): Promise<FoundInstance | null> {
    const instance = await this.db.getRepository(SagaInstanceEntity).findOne({ where: { id } });
    if (!instance) return null;
    const [steps, children, items] = await Promise.all([
      this.db.getRepository(SagaStepEntity).find({ where: { sagaId: id }, order: { position: 'ASC' } }),
      parts.children ? this.children(id) : [],
      parts.items
        ? this.db.query<{ step: string; status: string; n: string }[]>(
            `SELECT step, status, count(*) AS n FROM saga_step_item WHERE saga_id = $1 GROUP BY step, status`,
            [id],
          )
        : [],
    ]);
    const itemCounts: Record<string, Record<string, number>> = {};
    for (const row of items) (itemCounts[row.step] ??= {})[row.status] = Number(row.n);
    return { instance, steps, children, itemCounts };
  }

  /** The sagas a saga's child steps started, oldest first (at most a few: one per child step and round). */
  async children(parentId: string): Promise<ChildRow[]> {
    const rows = await this.db.query<
      { id: string; type: string; status: string; parent_step: string; created_at: Date; completed_at: Date | null }[]
    >(
      `SELECT id, type, status, parent_step, created_at, completed_at FROM saga_instance
        WHERE parent_id = $1 ORDER BY created_at, id LIMIT 1000`,
      [parentId],
    );
    return rows.map((r) => ({
      id: r.id,
      type: r.type,
      status: r.status,
      step: r.parent_step,
      createdAt: r.created_at,
      completedAt: r.completed_at,
    }));
  }

  /**
   * A page of a fan-out's items in index order, from `afterIndex` on, optionally of some statuses only: the
   * dashboard's list (never all 10,000 at once) and `GET /v1/sagas/{id}/steps/{step}/items`.
   */
  async items(
    sagaId: string,
    step: string,
    filter: { statuses?: string[]; afterIndex?: number; limit: number },
  ): Promise<ItemRow[]> {
    const rows = await this.db.query<ItemRow[]>(
      `SELECT idx AS index, key, item, status, attempt AS attempts, output, error, started_at AS "startedAt",
              finished_at AS "finishedAt", comp_status AS "compStatus", comp_attempt AS "compAttempts",
              comp_error AS "compError", comp_started_at AS "compStartedAt", comp_finished_at AS "compFinishedAt"
         FROM saga_step_item
        WHERE saga_id = $1 AND step = $2 AND idx > $3 AND ($4::text[] IS NULL OR status = ANY($4::text[]))
        ORDER BY idx
        LIMIT $5`,
      [sagaId, step, filter.afterIndex ?? -1, filter.statuses?.length ? filter.statuses : null, filter.limit],
    );
    return rows;
  }

  /** Items of a fan-out by status (`{}` when the step has none, or its list is not known yet). */
  async itemCounts(sagaId: string, step: string): Promise<Record<string, number>> {
    const rows = await this.db.query<{ status: string; n: string }[]>(
      `SELECT status, count(*) AS n FROM saga_step_item WHERE saga_id = $1 AND step = $2 GROUP BY status`,
      [sagaId, step],
    );
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }

  async list(filter: ListSagasFilter): Promise<SagaPage> {
    const qb = this.listQuery(filter);
    const { entities, raw } = await qb.getRawAndEntities<{ cursor_ts: string }>();
    const more = entities.length > filter.limit;
    const items = more ? entities.slice(0, filter.limit) : entities;
    const lastIndex = items.length - 1;
    return {
      items,
      last: more && lastIndex >= 0 ? { createdAt: raw[lastIndex].cursor_ts, id: items[lastIndex].id } : null,
    };
  }

  /**
   * The plan of the statement `list(filter)` runs, executed: `EXPLAIN (ANALYZE, BUFFERS)` (`npm run bench:search`
   * prints it; an operator can call it to see which index a search uses).
   */
  async explainList(filter: ListSagasFilter): Promise<string> {
    const [sql, params] = this.listQuery(filter).getQueryAndParameters();
    const rows = await this.db.query<{ 'QUERY PLAN': string }[]>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  }

  private listQuery(filter: ListSagasFilter) {
    const qb = this.db
      .getRepository(SagaInstanceEntity)
      .createQueryBuilder('i')
      .addSelect('i.created_at::text', 'cursor_ts')
      .orderBy('i.created_at', 'DESC')
      .addOrderBy('i.id', 'DESC')
      .limit(filter.limit + 1);
    if (filter.type !== undefined) qb.andWhere('i.type = :type', { type: filter.type });
    if (filter.types !== undefined) qb.andWhere('i.type IN (:...types)', { types: [...filter.types, ''] });
    if (filter.statuses?.length) qb.andWhere('i.status IN (:...statuses)', { statuses: filter.statuses });
    if (filter.createdAfter) qb.andWhere('i.created_at > :createdAfter', { createdAfter: filter.createdAfter });
    if (filter.createdBefore) qb.andWhere('i.created_at < :createdBefore', { createdBefore: filter.createdBefore });
    if (filter.businessKey !== undefined)
      qb.andWhere('i.business_key = :businessKey', { businessKey: filter.businessKey });
    const equal = (filter.attributes ?? []).filter((a) => a.op === 'eq');
    if (equal.length > 0) {
      // One containment test for every equality: what the GIN index (jsonb_path_ops) answers.
      // With the type (SEARCH_TYPE_KEY): the index then yields only this type's rows, not every type's with the value.
      const wanted = {
        ...Object.fromEntries(equal.map((a) => [a.name, a.value])),
        ...(filter.type !== undefined ? { [SEARCH_TYPE_KEY]: filter.type } : {}),
      };
      qb.andWhere('i.search_attributes @> :attrEq::jsonb', { attrEq: JSON.stringify(wanted) });
    }
    (filter.attributes ?? [])
      .filter((a) => a.op !== 'eq')
      .forEach((a, n) => {
        const op = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[a.op as 'gt' | 'gte' | 'lt' | 'lte'];
        const params = { [`attrName${n}`]: a.name, [`attrValue${n}`]: a.value };
        // Only values of the attribute's type compare (a version may have declared it with another type), and a
        // jsonb comparison never fails on a value; datetimes are ISO-8601 UTC strings, ordered byte by byte.
        if (a.type === 'number') {
          qb.andWhere(
            `jsonb_typeof(i.search_attributes -> :attrName${n}) = 'number' ` +
              `AND i.search_attributes -> :attrName${n} ${op} to_jsonb(:attrValue${n}::numeric)`,
            params,
          );
        } else {
          qb.andWhere(
            `jsonb_typeof(i.search_attributes -> :attrName${n}) = 'string' ` +
              `AND (i.search_attributes ->> :attrName${n}) COLLATE "C" ${op} :attrValue${n}`,
            params,
          );
        }
      });
    if (filter.after) {
      qb.andWhere('(i.created_at, i.id) < (:afterTs::timestamptz, :afterId::uuid)', {
        afterTs: filter.after.createdAt,
        afterId: filter.after.id,
      });
    }
    return qb;
  }

  /** How many sagas match `filter` and were created at or before `until` (a bulk job's dry run and snapshot). */
  async count(filter: SagaFilter, until: Date): Promise<number> {
    const params: unknown[] = [until];
    const where = filterSql(filter, params);
    const rows = await this.db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM saga_instance i WHERE i.created_at <= $1 AND ${where}`,
      params,
    );
    return rows[0].n;
  }

  /**
   * The next `limit` sagas matching `filter`, created at or before `until`, after the keyset position `after`,
   * oldest first: a bulk job's batches. Each with its (created_at with full precision, id), the next position.
   */
  async matchingPage(
    filter: SagaFilter,
    until: Date,
    after: { createdAt: string; id: string } | null,
    limit: number,
  ): Promise<{ id: string; createdAt: string }[]> {
    const params: unknown[] = [until, after?.createdAt ?? null, after?.id ?? null, limit];
    const where = filterSql(filter, params);
    return this.db.query<{ id: string; createdAt: string }[]>(
      `SELECT i.id, i.created_at::text AS "createdAt" FROM saga_instance i
        WHERE i.created_at <= $1 AND ($2::timestamptz IS NULL OR (i.created_at, i.id) > ($2::timestamptz, $3::uuid))
          AND ${where}
        ORDER BY i.created_at, i.id
        LIMIT $4`,
      params,
    );
  }

  async events(
    sagaId: string,
    afterSeq: number,
    limit: number,
    only: { step?: string; item?: number } = {},
  ): Promise<SagaEventEntity[]> {
    const qb = this.db
      .getRepository(SagaEventEntity)
      .createQueryBuilder('e')
      .where('e.saga_id = :sagaId AND e.seq > :afterSeq', { sagaId, afterSeq });
    if (only.step !== undefined) qb.andWhere('e.step = :step', { step: only.step });
    if (only.item !== undefined) qb.andWhere('e.item = :item', { item: only.item });
    return qb.orderBy('e.seq', 'ASC').limit(limit).getMany();
  }

  async exists(id: string): Promise<boolean> {
    return this.db.getRepository(SagaInstanceEntity).existsBy({ id });
  }

  /**
   * Counts by status, and per time bucket over the last `windowMs`: how many sagas started, and how many ended
   * (COMPLETED, COMPENSATED, CANCELLED by `completed_at`; FAILED, which holds rather than ends, by `updated_at`).
   * Three grouped queries, each on an index (status; created_at; completed_at): no row is sent to Node.
   */
  /** `types`: only sagas of these types (a key limited to them); unset: every type. */
  async stats(
    windowMs: number,
    bucketMs: number,
    now = new Date(),
    types: readonly string[] | null = null,
  ): Promise<SagaStats> {
    const buckets = Math.ceil(windowMs / bucketMs);
    // Buckets are aligned to whole multiples of the bucket size, so the same window polled twice shows the same
    // bars; the last one is the one now falls in.
    const end = Math.floor(now.getTime() / bucketMs) * bucketMs + bucketMs;
    const from = new Date(end - buckets * bucketMs);
    const bucketSeconds = bucketMs / 1000;
    const counts: Record<string, number> = {};
    for (const row of await this.db.query<{ status: string; n: string }[]>(
      `SELECT status, count(*) AS n FROM saga_instance WHERE ($1::text[] IS NULL OR type = ANY($1)) GROUP BY status`,
      [types],
    )) {
      counts[row.status] = Number(row.n);
    }
    const index = `floor(extract(epoch FROM (%s - $1::timestamptz)) / $2)::int`;
    const started = await this.db.query<{ i: number; n: string }[]>(
      `SELECT ${index.replace('%s', 'created_at')} AS i, count(*) AS n
         FROM saga_instance WHERE created_at >= $1 AND ($3::text[] IS NULL OR type = ANY($3)) GROUP BY 1`,
      [from, bucketSeconds, types],
    );
    const ended = await this.db.query<{ i: number; status: string; n: string }[]>(
      `SELECT ${index.replace('%s', 'completed_at')} AS i, status, count(*) AS n
         FROM saga_instance WHERE completed_at >= $1 AND status IN ('COMPLETED', 'COMPENSATED', 'CANCELLED')
          AND ($3::text[] IS NULL OR type = ANY($3))
         GROUP BY 1, 2
       UNION ALL
       SELECT ${index.replace('%s', 'updated_at')} AS i, status, count(*) AS n
         FROM saga_instance WHERE status = 'FAILED' AND updated_at >= $1 AND ($3::text[] IS NULL OR type = ANY($3))
         GROUP BY 1, 2`,
      [from, bucketSeconds, types],
    );
    const series: StatsBucket[] = Array.from({ length: buckets }, (_, i) => ({
      at: new Date(from.getTime() + i * bucketMs),
      started: 0,
      completed: 0,
      compensated: 0,
      failed: 0,
      cancelled: 0,
    }));
    const at = (i: number) => series[Math.min(Math.max(Number(i), 0), buckets - 1)];
    for (const row of started) at(row.i).started += Number(row.n);
    for (const row of ended) {
      const bucket = at(row.i);
      const n = Number(row.n);
      if (row.status === 'COMPLETED') bucket.completed += n;
      else if (row.status === 'COMPENSATED') bucket.compensated += n;
      else if (row.status === 'CANCELLED') bucket.cancelled += n;
      else bucket.failed += n;
    }
    return { counts, series };
  }
}

/** The conditions of `filter` on `saga_instance i`, its values appended to `params` (never in the text). */
function filterSql(filter: SagaFilter, params: unknown[]): string {
  const conditions = ['true'];
  const add = (sql: (n: string) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(`$${params.length}`));
  };
  if (filter.type !== undefined) add((p) => `i.type = ${p}`, filter.type);
  if (filter.types !== undefined) add((p) => `i.type = ANY(${p}::text[])`, [...filter.types]);
  if (filter.statuses?.length) add((p) => `i.status = ANY(${p}::text[])`, filter.statuses);
  if (filter.createdAfter) add((p) => `i.created_at > ${p}`, filter.createdAfter);
  if (filter.createdBefore) add((p) => `i.created_at < ${p}`, filter.createdBefore);
  return conditions.join(' AND ');
}
