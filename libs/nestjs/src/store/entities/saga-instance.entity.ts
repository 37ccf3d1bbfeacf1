import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { SagaError, SagaStatus } from '@saga-engine/core';

/** One saga instance. `version` is the compare-and-set revision, bumped by every committed transition. */
@Entity({ name: 'saga_instance' })
export class SagaInstanceEntity {
  @PrimaryColumn('uuid')
  id!: string;

  @Column('text')
  type!: string;

  @Column('integer', { name: 'definition_version' })
  definitionVersion!: number;

  @Column('text')
  status!: SagaStatus;

  @Column('integer')
  version!: number;

  @Column('jsonb')
  input!: unknown;

  @Column('jsonb', { nullable: true })
  output!: unknown;

  @Column('jsonb', { nullable: true })
  error!: SagaError | null;

  @Column('boolean', { name: 'cancel_requested' })
  cancelRequested!: boolean;

  @Column('integer', { name: 'event_count' })
  eventCount!: number;

  @Column('text', { name: 'idempotency_key', nullable: true })
  idempotencyKey!: string | null;

  @Column('text', { name: 'request_hash' })
  requestHash!: string;

  @Column('timestamptz', { name: 'created_at' })
  createdAt!: Date;

  @Column('timestamptz', { name: 'updated_at' })
  updatedAt!: Date;

  /** W3C traceparent of the saga's root span (see the trace-parent migration); null when tracing was off. */
  @Column('text', { name: 'trace_parent', nullable: true })
  traceParent!: string | null;

  @Column('timestamptz', { name: 'completed_at', nullable: true })
  completedAt!: Date | null;

  /** A child saga's parent (the saga whose step started it), or null. */
  @Column('uuid', { name: 'parent_id', nullable: true })
  parentId!: string | null;

  /** The parent's step that started this child, or null. */
  @Column('text', { name: 'parent_step', nullable: true })
  parentStep!: string | null;

  /** When a DELAYED saga starts (or started): null for a saga started at once. */
  @Column('timestamptz', { name: 'start_at', nullable: true })
  startAt!: Date | null;

  /** The saga's business key (its type's `businessKey` input field), or null. */
  @Column('text', { name: 'business_key', nullable: true })
  businessKey!: string | null;

  /** Its search attributes by name (a datetime as ISO-8601 UTC), or null when none is set. */
  @Column('jsonb', { name: 'search_attributes', nullable: true })
  searchAttributes!: Record<string, string | number | boolean | null> | null;
}
