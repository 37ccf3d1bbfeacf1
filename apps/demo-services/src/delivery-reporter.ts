import { Logger } from '@nestjs/common';
import { DELIVERY_COMPLETED, type StepFault } from '@demo/sagas';

/** Where the report goes: the engine's REST API and a key with the operator role. */
export interface SignalTarget {
  url: string;
  apiKey: string;
}

/**
 * The drone (or the ground carrier) reporting `DeliveryCompleted` once the parcel arrived: `flightMs` after the
 * flight was scheduled, it posts the signal to `POST /v1/sagas/{id}/signals/DeliveryCompleted`, the same path an
 * operator's signal takes, with a key of its own (SAGA_SIGNAL_KEY). The engine buffers a signal that arrives before
 * the saga's wait step started, and answers 409 to a repeat once the wait is over: both are fine here.
 *
 * The flight is a timer in this process: a demo service killed mid-flight never reports, and the saga's wait times
 * out and compensates, as it would for a drone lost on the way. The `await-delivery` fault knobs of the saga's
 * input steer it: `never: true` (no report), `delayMs` (a longer flight).
 */
export class DeliveryReporter {
  private readonly logger = new Logger('DeliveryReporter');
  private readonly timers = new Set<NodeJS.Timeout>();
  private warned = false;

  constructor(
    private readonly flightMs: number,
    /** Read at report time (the all-in-one process learns its URL after it listens). */
    private readonly target: () => SignalTarget | null,
  ) {}

  deliveryStarted(sagaId: string, payload: Record<string, unknown>, knobs: StepFault | undefined): void {
    if (knobs?.never) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.report(sagaId, payload);
    }, knobs?.delayMs ?? this.flightMs);
    timer.unref();
    this.timers.add(timer);
  }

  /** Drops the flights in progress (shutdown). */
  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async report(sagaId: string, payload: Record<string, unknown>): Promise<void> {
    const target = this.target();
    if (!target) {
      if (!this.warned) {
        this.logger.warn('SAGA_URL or SAGA_SIGNAL_KEY is not set: DeliveryCompleted cannot be reported');
        this.warned = true;
      }
      return;
    }
    const url = `${target.url.replace(/\/+$/, '')}/v1/sagas/${encodeURIComponent(sagaId)}/signals/${DELIVERY_COMPLETED}`;
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ payload: { ...payload, deliveredAt: new Date().toISOString() } }),
          signal: AbortSignal.timeout(5_000),
        });
        await res.text();
        // 202: delivered (or buffered); 404/409: the saga is gone or no longer waits. Only 5xx and 429 are retried.
        if (res.status < 500 && res.status !== 429) {
          if (res.status >= 400) this.logger.log(`DeliveryCompleted for saga ${sagaId}: ${res.status}`);
          return;
        }
      } catch (error) {
        this.logger.warn(`DeliveryCompleted for saga ${sagaId}: ${(error as Error).message} (attempt ${attempt})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt).unref());
    }
  }
}
