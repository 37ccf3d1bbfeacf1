import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SagaStatus } from '@app/engine';
import { SagaEventEntity } from './entities/saga-event.entity';
import { SagaInstanceEntity } from './entities/saga-instance.entity';
import { SagaStepEntity } from './entities/saga-step.entity';

export interface ListSagasFilter {
  type?: string;
  statuses?: SagaStatus[];
  createdAfter?: Date;
  createdBefore?: Date;
  limit: number;
  /** Keyset position: the (created_at, id) of the last item of the previous page. */
  after?: { createdAt: string; id: string };
}

export interface SagaPage {
  items: SagaInstanceEntity[];
  /** (created_at with full precision, id) of the last item when another page may follow. */
  last: { createdAt: string; id: string } | null;
}

/** Read models for the API. Only fixed columns reach ORDER BY and WHERE; user values are always parameters. */
@Injectable()
export class SagaQueries {
  constructor(private readonly db: DataSource) {}

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
}
