import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { CompensationStatus, ErrorInfo, StepStatus } from '@saga-engine/core';

/** One step of one instance. The row is also the outbox of the step's current attempt (due_at, deadline_at). */
@Entity({ name: 'saga_step' })
export class SagaStepEntity {
  @PrimaryColumn('uuid', { name: 'saga_id' })
  sagaId!: string;

  @PrimaryColumn('text')
  name!: string;

  @Column('integer')
  position!: number;

  @Column('text')
  status!: StepStatus;

  @Column('integer')
  attempt!: number;

  @Column('integer', { name: 'attempt_base' })
  attemptBase!: number;

  @Column('jsonb', { nullable: true })
  output!: unknown;

  @Column('jsonb', { nullable: true })
  error!: ErrorInfo | null;

  @Column('boolean', { name: 'outcome_unknown' })
  outcomeUnknown!: boolean;

  /** How many times an operator re-ran the step (part of its idempotency key). */
  @Column('integer', { default: 0 })
  run!: number;

  /** SUCCEEDED because an operator skipped it, with their output. */
  @Column('boolean', { default: false })
  skipped!: boolean;

  @Column('text', { name: 'comp_status', nullable: true })
  compStatus!: CompensationStatus | null;

  @Column('integer', { name: 'comp_attempt' })
  compAttempt!: number;

  @Column('integer', { name: 'comp_attempt_base' })
  compAttemptBase!: number;

  @Column('jsonb', { name: 'comp_error', nullable: true })
  compError!: ErrorInfo | null;

  @Column('timestamptz', { name: 'due_at', nullable: true })
  dueAt!: Date | null;

  @Column('timestamptz', { name: 'deadline_at', nullable: true })
  deadlineAt!: Date | null;

  @Column('timestamptz', { name: 'started_at', nullable: true })
  startedAt!: Date | null;

  @Column('timestamptz', { name: 'finished_at', nullable: true })
  finishedAt!: Date | null;

  @Column('timestamptz', { name: 'comp_started_at', nullable: true })
  compStartedAt!: Date | null;

  @Column('timestamptz', { name: 'comp_finished_at', nullable: true })
  compFinishedAt!: Date | null;
}
