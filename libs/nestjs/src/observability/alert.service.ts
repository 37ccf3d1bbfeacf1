import { Injectable, Logger } from '@nestjs/common';
import type { SagaError } from '@saga-engine/core';

/**
 * Where a FAILED saga is told to humans, in this process. The durable record is the `saga_alert` outbox row that
 * SagaStore.commit writes with the transition that made the saga FAILED (whichever process committed it: an
 * agent, the API, the supervisor); the orchestrator's AlertSender posts it to the webhook. This service only
 * logs, counts, and wakes a sender in this process so it need not wait for its next poll.
 *
 * The counters are plain numbers for now, to be exposed as Prometheus counters when metrics arrive.
 */
@Injectable()
export class AlertService {
  private readonly logger = new Logger('Alerts');
  private readonly listeners = new Set<() => void>();

  /** Sagas this process saw enter FAILED (RaiseAlert commands it committed). */
  failedSagasAlerted = 0;
  /** Steps this process saw POISONED before their saga's pivot (RaiseAlert commands with status POISONED). */
  poisonedStepsAlerted = 0;
  /** Alerts this process delivered to the webhook (or logged, when none is configured). */
  alertsDelivered = 0;
  /** Webhook attempts of this process that failed (each is retried with backoff, up to a bound). */
  alertDeliveryFailures = 0;
  /** Alerts this process gave up on after the last attempt. */
  alertsAbandoned = 0;

  /** Called after the commit that made the saga FAILED. Never blocks: delivery happens elsewhere. */
  sagaFailed(saga: { id: string; type: string }, error: SagaError | null): void {
    this.failedSagasAlerted++;
    this.logger.error(
      `saga ${saga.id} (${saga.type}) is FAILED and needs an operator: ` +
        `${error?.step ?? '-'}: ${error?.message ?? 'no error recorded'}`,
    );
    for (const listener of this.listeners) listener();
  }

  /**
   * Called after the commit that POISONED a step before the saga's pivot: the saga compensates by itself, but the
   * step's code killed its agent, and someone must look at it.
   */
  stepPoisoned(saga: { id: string; type: string }, error: SagaError | null): void {
    this.poisonedStepsAlerted++;
    this.logger.error(
      `saga ${saga.id} (${saga.type}): step "${error?.step ?? '-'}" is POISONED and the saga compensates: ` +
        `${error?.message ?? 'no error recorded'}`,
    );
    for (const listener of this.listeners) listener();
  }

  /** Runs `listener` whenever this process raises an alert; returns the unsubscribe function. */
  onRaised(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
