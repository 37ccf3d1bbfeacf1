import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  Optional,
} from '@nestjs/common';
import { type ResolvedRetryPolicy, computeBackoffMs } from '@saga-engine/core';
import { AlertService } from '../observability/alert.service';
import { DependencyMonitor } from '../observability/dependency-monitor';
import { AlertOutbox, type ClaimedAlert } from '../store/saga-alerts';

export const ALERT_SENDER_OPTIONS = Symbol('ALERT_SENDER_OPTIONS');

export interface AlertSenderOptions {
  /** `ALERT_WEBHOOK_URL`; null: alerts are logged only, and their rows marked delivered. */
  webhookUrl: string | null;
  /** How often the outbox is polled for due alerts (alerts raised in this process wake it at once). */
  pollIntervalMs: number;
  /** Alerts claimed per round; they are posted concurrently, so this also bounds concurrent requests. */
  batchSize: number;
  /** Per request. */
  requestTimeoutMs: number;
  /** How long a claimed alert is hidden from other senders; longer than a request can take. */
  leaseMs: number;
  /** Attempts before an alert is given up (logged at error level, left undelivered for inspection). */
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_ALERT_SENDER_OPTIONS: Omit<AlertSenderOptions, 'webhookUrl'> = {
  pollIntervalMs: 1_000,
  batchSize: 20,
  requestTimeoutMs: 5_000,
  leaseMs: 30_000,
  // 1 s doubling to 5 min: about two hours of trying before giving up.
  maxAttempts: 30,
  initialBackoffMs: 1_000,
  maxBackoffMs: 300_000,
};

/**
 * What the webhook receives (POST, JSON). The `Idempotency-Key` header (`saga-alert-<id>`) lets it dedupe. `status`
 * is `FAILED` (the saga needs an operator) or `POISONED` (a step killed its agent too often and is not retried; the
 * saga compensates by itself: its code needs a look).
 */
export interface AlertPayload {
  sagaId: string;
  type: string;
  status: 'FAILED' | 'POISONED';
  error: ClaimedAlert['error'];
  /** When the saga entered FAILED (PostgreSQL's clock). */
  at: string;
}

/**
 * Delivers the alert outbox (`saga_alert`) to `ALERT_WEBHOOK_URL`, at least once. Runs in the orchestrator on its
 * own timer: the scheduler only writes the outbox row in its commit and never waits for a webhook. Any number of
 * orchestrators may run it: claims use `FOR UPDATE SKIP LOCKED` plus a lease, so an alert is posted by one sender
 * at a time, and again only when a sender died or the webhook did not answer 2xx.
 */
@Injectable()
export class AlertSender implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Alerts');
  private readonly policy: ResolvedRetryPolicy;
  private readonly target: string | null;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private unsubscribe?: () => void;

  constructor(
    private readonly outbox: AlertOutbox,
    private readonly alerts: AlertService,
    @Inject(ALERT_SENDER_OPTIONS) private readonly options: AlertSenderOptions,
    @Optional() private readonly monitor: DependencyMonitor = new DependencyMonitor(),
  ) {
    this.policy = {
      maximumAttempts: options.maxAttempts,
      initialIntervalMs: options.initialBackoffMs,
      backoffCoefficient: 2,
      maximumIntervalMs: options.maxBackoffMs,
      jitter: 0.2,
      nonRetryableCodes: [],
    };
    // Logs name the webhook by its origin only: a path or query may carry a token.
    this.target = options.webhookUrl ? new URL(options.webhookUrl).origin : null;
  }

  onApplicationBootstrap(): void {
    this.unsubscribe = this.alerts.onRaised(() => this.kick());
    this.schedule(0);
  }

  /** Stops polling and waits for the round in flight (bounded by the request timeout). */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    await this.running;
  }

  /** Runs a round now (or right after the one in flight): an alert was just raised in this process. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => this.round(), delayMs);
    this.timer.unref();
  }

  private round(): void {
    if (this.stopped || this.running) return;
    this.again = false;
    this.running = this.drain()
      .then(() => undefined)
      .catch((error: unknown) => {
        // PostgreSQL away: said once per outage by the monitor, not once a second here.
        if (!this.monitor.failed('postgres', error, 'alerts')) {
          this.logger.warn(`alert round failed, will retry: ${String(error)}`);
        }
      })
      .finally(() => {
        this.running = undefined;
        if (!this.stopped) this.schedule(this.again ? 0 : this.options.pollIntervalMs);
      });
  }

  /** Delivers what is due, batch after batch, until nothing is. Returns how many alerts were attempted. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const batch = await this.outbox.claim(this.options.batchSize, this.options.leaseMs);
      await Promise.all(batch.map((alert) => this.deliver(alert)));
      total += batch.length;
      if (batch.length < this.options.batchSize || this.stopped) return total;
    }
  }

  private async deliver(alert: ClaimedAlert): Promise<void> {
    const failure = this.options.webhookUrl ? await this.post(this.options.webhookUrl, alert) : null;
    if (failure === null) {
      await this.outbox.markDelivered(alert.id, this.target);
      this.alerts.alertsDelivered++;
      if (this.target) this.logger.log(`alert for saga ${alert.sagaId} delivered to ${this.target}`);
      return;
    }
    this.alerts.alertDeliveryFailures++;
    const giveUp = alert.attempts >= this.options.maxAttempts;
    const delayMs = giveUp ? null : computeBackoffMs(this.policy, alert.attempts, Math.random());
    await this.outbox.reschedule(alert, delayMs, failure);
    if (giveUp) {
      this.alerts.alertsAbandoned++;
      this.logger.error(
        `alert for ${alert.status} saga ${alert.sagaId} could not be delivered to ${this.target} after ` +
          `${alert.attempts} attempts; giving up: ${failure}`,
      );
    } else {
      this.logger.warn(
        `alert for saga ${alert.sagaId}: attempt ${alert.attempts} to ${this.target} failed (${failure}); ` +
          `next in ${delayMs} ms`,
      );
    }
  }

  /** Posts one alert; null when the webhook answered 2xx, otherwise why not. */
  private async post(url: string, alert: ClaimedAlert): Promise<string | null> {
    const payload: AlertPayload = {
      sagaId: alert.sagaId,
      type: alert.sagaType,
      status: alert.status,
      error: alert.error,
      at: alert.raisedAt.toISOString(),
    };
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': `saga-alert-${alert.id}` },
        body: JSON.stringify(payload),
        // A webhook that redirects is misconfigured; alerts are not forwarded to wherever it points.
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      });
      await response.body?.cancel();
      return response.ok ? null : `HTTP ${response.status}`;
    } catch (error) {
      // fetch says "fetch failed"; the reason (ECONNREFUSED, a timeout, a bad port) is in its cause.
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message;
      return `${(error as Error).name}: ${(error as Error).message}${why ? ` (${why})` : ''}`;
    }
  }
}
