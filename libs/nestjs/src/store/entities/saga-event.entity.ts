import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The append-only history of an instance; `seq` counts from 1 per saga. */
@Entity({ name: 'saga_event' })
export class SagaEventEntity {
  @PrimaryColumn('uuid', { name: 'saga_id' })
  sagaId!: string;

  @PrimaryColumn('integer')
  seq!: number;

  @Column('text')
  type!: string;

  @Column('text', { nullable: true })
  step!: string | null;

  @Column('integer', { nullable: true })
  attempt!: number | null;

  /** The item of a fan-out step the entry is about, or null. */
  @Column('integer', { nullable: true })
  item!: number | null;

  @Column('jsonb', { nullable: true })
  data!: Record<string, unknown> | null;

  @Column('timestamptz')
  at!: Date;
}
