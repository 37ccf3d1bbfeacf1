import { Logger } from '@nestjs/common';
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlertService } from '../observability/alert.service';
import type { AlertOutbox, ClaimedAlert } from '../store/saga-alerts';
import { waitFor } from '../../../../test/support/wait-for';
import { AlertSender, type AlertSenderOptions, DEFAULT_ALERT_SENDER_OPTIONS } from './alert-sender';

/** The outbox's contract, in memory: what is due is claimed once; what the sender reports is recorded. */
class FakeOutbox {
  due: ClaimedAlert[] = [];
  claims = 0;
  delivered: { id: string; to: string | null }[] = [];
  rescheduled: { id: string; delayMs: number | null; error: string }[] = [];

  async claim(limit: number): Promise<ClaimedAlert[]> {
    this.claims++;
    return this.due.splice(0, limit);
  }
  async markDelivered(id: string, to: string | null): Promise<void> {
    this.delivered.push({ id, to });
  }
  async reschedule(alert: ClaimedAlert, delayMs: number | null, error: string): Promise<void> {
    this.rescheduled.push({ id: alert.id, delayMs, error });
  }
}

const alert = (id: string, attempts = 1): ClaimedAlert => ({
  id,
  sagaId: `0190f2c4-0000-7000-8000-00000000000${id}`,
  sagaType: 'drone-delivery',
  error: { step: 'register-package', code: 'FAULT_FATAL', message: 'no', transient: false },
  status: 'FAILED',
  raisedAt: new Date('2026-01-02T03:04:05.678Z'),
  attempts,
});

describe('AlertSender', () => {
  let server: Server;
  let url: string;
  let answer = 204;
  const received: { body: any; headers: IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    Logger.overrideLogger(false);
    server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        received.push({ body: JSON.parse(text), headers: req.headers });
        res.statusCode = answer;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts?token=secret`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    received.length = 0;
    answer = 204;
  });

  function sender(options: Partial<AlertSenderOptions> = {}) {
    const outbox = new FakeOutbox();
    const alerts = new AlertService();
    const instance = new AlertSender(outbox as unknown as AlertOutbox, alerts, {
      ...DEFAULT_ALERT_SENDER_OPTIONS,
      webhookUrl: url,
      ...options,
    });
    return { outbox, alerts, instance };
  }

  it('posts { sagaId, type, status, error, at } with an idempotency key, and marks it delivered', async () => {
    const { outbox, alerts, instance } = sender();
    outbox.due = [alert('1')];
    expect(await instance.drain()).toBe(1);
    expect(received).toHaveLength(1);
    expect(received[0].body).toEqual({
      sagaId: alert('1').sagaId,
      type: 'drone-delivery',
      status: 'FAILED',
      error: alert('1').error,
      at: '2026-01-02T03:04:05.678Z',
    });
    expect(received[0].headers).toMatchObject({
      'content-type': 'application/json',
      'idempotency-key': 'saga-alert-1',
    });
    // Recorded by origin only: the URL's path and query may carry a token.
    expect(outbox.delivered).toEqual([{ id: '1', to: new URL(url).origin }]);
    expect(alerts.alertsDelivered).toBe(1);
  });

  it('reschedules with exponential backoff when the webhook does not answer 2xx', async () => {
    const { outbox, alerts, instance } = sender();
    answer = 500;
    outbox.due = [alert('1', 1), alert('2', 3)];
    await instance.drain();
    expect(outbox.delivered).toEqual([]);
    expect(outbox.rescheduled.map((r) => r.error)).toEqual(['HTTP 500', 'HTTP 500']);
    const [first, third] = outbox.rescheduled.map((r) => r.delayMs!);
    expect(first).toBeGreaterThanOrEqual(800);
    expect(first).toBeLessThanOrEqual(1200);
    expect(third).toBeGreaterThanOrEqual(3200);
    expect(third).toBeLessThanOrEqual(4800);
    expect(alerts.alertDeliveryFailures).toBe(2);
  });

  it('gives up after the last attempt, and says why when the webhook is unreachable', async () => {
    // A port that was just free: nothing listens there.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { outbox, alerts, instance } = sender({ webhookUrl: `http://127.0.0.1:${port}/`, maxAttempts: 3 });
    outbox.due = [alert('1', 2), alert('2', 3)];
    await instance.drain();
    expect(outbox.rescheduled).toEqual([
      { id: '1', delayMs: expect.any(Number), error: expect.stringMatching(/ECONNREFUSED/) },
      { id: '2', delayMs: null, error: expect.stringMatching(/ECONNREFUSED/) },
    ]);
    expect(alerts.alertsAbandoned).toBe(1);
  });

  it('without a webhook, marks alerts delivered (they were logged when raised)', async () => {
    const { outbox, instance } = sender({ webhookUrl: null });
    outbox.due = [alert('1'), alert('2'), alert('3')];
    expect(await instance.drain()).toBe(3);
    expect(outbox.delivered).toEqual([
      { id: '1', to: null },
      { id: '2', to: null },
      { id: '3', to: null },
    ]);
    expect(received).toEqual([]);
  });

  it('drains batch after batch, and wakes up at once when this process raises an alert', async () => {
    const { outbox, alerts, instance } = sender({ batchSize: 2, pollIntervalMs: 60_000 });
    outbox.due = [alert('1'), alert('2'), alert('3')];
    instance.onApplicationBootstrap();
    try {
      await waitFor(() => outbox.delivered.length === 3, { what: 'the first round', timeoutMs: 5_000 });
      const claims = outbox.claims;
      outbox.due = [alert('4')];
      alerts.sagaFailed({ id: alert('4').sagaId, type: 'drone-delivery' }, alert('4').error);
      expect(alerts.failedSagasAlerted).toBe(1);
      await waitFor(() => outbox.delivered.length === 4, { what: 'the kicked round', timeoutMs: 5_000 });
      expect(outbox.claims).toBeGreaterThan(claims);
    } finally {
      await instance.onModuleDestroy();
    }
  });
});
