import type { CompensationStatus, SagaStatus, StepStatus } from '@saga-engine/core';

/*
 * The JSON the REST API answers for one saga (`GET /v1/sagas/{id}`, and the body of a start, cancel, retry, resolve
 * or signal), field for field as `libs/nestjs/src/api/sagas/saga-views.ts` builds it. Dates are ISO-8601 strings, as
 * they come over the wire: the client does not revive them, so a view is the same value whichever transport made it.
 */

export type { CompensationStatus, SagaStatus, StepStatus };

/** Why a saga is compensating, FAILED, COMPENSATED or CANCELLED (the engine's `SagaError`). */
export interface SagaErrorView {
  /** The step whose failure decided it, or null (an operator's cancel). */
  step: string | null;
  message: string;
  /** A stable code (`ACCOUNT_CLOSED`, `TIMEOUT`, `CANCELLED`, ...): branch on it, never on the message. */
  code: string;
  /** True when the failure was transient (retries exhausted, timeouts), false for a definite "no". */
  transient: boolean;
}

/** The last error of a step's action or compensation (the engine's `ErrorInfo`). */
export interface StepErrorView {
  /** The thrown error's literal name (`NonRetryableError`, `TimeoutError`, `Error`, ...). */
  name: string;
  code: string;
  message: string;
  /** False only for a definite "no". */
  retryable: boolean;
  /** The participant's hint for the next attempt, when it gave one. */
  retryAfterMs?: number;
}

/** A step's compensation, once one was scheduled. */
export interface CompensationView {
  status: CompensationStatus;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  error: StepErrorView | null;
}

/** One step of a saga, in declaration order. */
export interface StepView {
  /** The kebab-case step name (`charge-account`). */
  name: string;
  status: StepStatus;
  /** Attempts of the action dispatched so far (0 while PENDING). */
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  /** The step's output once SUCCEEDED (a wait step's: the signal's payload), otherwise null. */
  output: unknown;
  error: StepErrorView | null;
  /** A SLEEPING step's wake-up time (its timer fires up to one supervisor sweep later); null otherwise. */
  wakeAt?: string | null;
  /** A WAITING step's timeout; null otherwise. */
  deadlineAt?: string | null;
  compensation: CompensationView | null;
}

/**
 * One saga instance.
 *
 * @typeParam O - `output` of a COMPLETED saga: every SUCCEEDED step's output by its camelCase key (`OutputOf<D>`).
 * @typeParam I - `input` as it was started (`InputOf<D>`). Fields the saga marks `sensitive` read `"[REDACTED]"`,
 *   whatever their declared type: the API never returns a secret.
 */
export interface SagaView<O = Record<string, unknown>, I = Record<string, unknown>> {
  id: string;
  /** The saga type's name (`order`). */
  type: string;
  /** The definition version the instance runs on (it keeps it to its end). */
  version: number;
  status: SagaStatus;
  input: I;
  /** Set when the saga is COMPLETED; null before, and for every other outcome. */
  output: O | null;
  error: SagaErrorView | null;
  createdAt: string;
  updatedAt: string;
  /** When it reached COMPLETED, COMPENSATED or CANCELLED; null while it runs or is FAILED. */
  completedAt: string | null;
  /** When a saga started with `startAt` / `startIn` starts (it is DELAYED until then), or started; else null. */
  startAt?: string | null;
  steps: StepView[];
}

/** The answer to a start: the saga, and whether this call created it or replayed an idempotency key. */
export type StartedSaga<O = Record<string, unknown>, I = Record<string, unknown>> = SagaView<O, I> & {
  /** True when this call started the saga (201); false when its idempotency key was replayed (200). */
  created: boolean;
};
