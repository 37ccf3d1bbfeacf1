import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { SAGA_DATA_SOURCE } from './data-source';
import type { SagaStatus } from '@saga-engine/core';
import { SagaEventEntity } from './entities/saga-event.entity';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaStepEntity } from './entities/saga-step.entity';

export interface ListSagasFilter {
  type?: string;
  /** Only these types (a key limited to them); unset: every type. */
  types?: readonly string[];
  statuses?: SagaStatus[];
  createdAfter?: Date;
  createdBefore?: Date;
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

/** Read models for the API. Only fixed columns reach ORDER BY and WHERE; user values are always parameters. */
@Injectable()
export class SagaQueries {
  constructor(@Inject(SAGA_DATA_SOURCE) private readonly db: DataSource) {}

  async findInstance(id: string): Promise<{ instance: SagaInstanceEntity; steps: SagaStepEntity[] } | null> {
    const instance = await this.db.getRepository(SagaInstanceEntity).findOne({ where: { id } });
    if (!instance) return null;
    const steps = await this.db
      .getRepository(SagaStepEntity)
      .find({ where: { sagaId: id }, order: { position: 'ASC' } });
    return { instance, steps };
  }

  async list(filter: ListSagasFilter): Promise<SagaPage> {
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
    if (filter.after) {
      qb.andWhere('(i.created_at, i.id) < (:afterTs::timestamptz, :afterId::uuid)', {
        afterTs: filter.after.createdAt,
        afterId: filter.after.id,
      });
    }
    const { entities, raw } = await qb.getRawAndEntities<{ cursor_ts: string }>();
    const more = entities.length > filter.limit;
    const items = more ? entities.slice(0, filter.limit) : entities;
    const lastIndex = items.length - 1;
    return {
      items,
      last: more && lastIndex >= 0 ? { createdAt: raw[lastIndex].cursor_ts, id: items[lastIndex].id } : null,
    };
  }

  async events(sagaId: string, afterSeq: number, limit: number): Promise<SagaEventEntity[]> {
    return this.db
      .getRepository(SagaEventEntity)
      .createQueryBuilder('e')
      .where('e.saga_id = :sagaId AND e.seq > :afterSeq', { sagaId, afterSeq })
      .orderBy('e.seq', 'ASC')
      .limit(limit)
      .getMany();
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
