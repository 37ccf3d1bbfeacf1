import { type IncomingHttpHeaders, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlertService } from '../libs/nestjs/src/observability/alert.service';
import { KEYS, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/** A webhook on loopback that answers 500 to the first POST of each saga (to prove the retry), then 204. */
class AlertWebhook {
  readonly received: { body: any; headers: IncomingHttpHeaders; answered: number }[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        const body = JSON.parse(text);
        const answered = this.received.some((r) => r.body.sagaId === body.sagaId) ? 204 : 500;
        this.received.push({ body, headers: req.headers, answered });
        res.statusCode = answered;
        res.end();
      });
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/saga-alerts?token=t0ps3cret`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  for(sagaId: string) {
    return this.received.filter((r) => r.body.sagaId === sagaId);
  }

  delivered(sagaId: string) {
    return this.for(sagaId).filter((r) => r.answered < 300);
  }
}

/** How the API names a test key: the name SAGA_API_KEYS gives it (test-engine names each as its role). */
const keyId = (role: keyof typeof KEYS) => role;
const by = (role: keyof typeof KEYS) => `key ${keyId(role)} (${role})`;

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

describe('operator actions, audit and alerts (e2e)', () => {
  const webhook = new AlertWebhook();
  let engine: TestEngine;
  let webhookUrl: string;

  beforeAll(async () => {
    webhookUrl = await webhook.listen();
    engine = await startTestEngine({
      demo: true,
      // The compensation that keeps failing below is about operator actions, not circuit breakers: keep the
      // package circuit closed however often its fault fires.
      env: { ALERT_WEBHOOK_URL: webhookUrl, PARTICIPANT_FAILURES_TO_OPEN: '1000' },
    });
  });
  afterAll(async () => {
    await engine?.close();
    await webhook.close();
  });

  const input = (faults?: Record<string, unknown>) => ({
    accountId: 'acc-7',
    pickup: { lat: 52.52, lng: 13.405 },
    dropoff: { lat: 52.5, lng: 13.45 },
    weightKg: 2.5,
    priceCents: 1999,
    ...(faults ? { faults } : {}),
  });

  async function start(faults?: Record<string, unknown>): Promise<string> {
    const res = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'drone-delivery', input: input(faults) });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  const events = async (id: string): Promise<any[]> =>
    (await engine.as('viewer').get(`/v1/sagas/${id}/events`)).body.items;
  // The operator actions of a saga (the demo's drones signal DeliveryCompleted, audited too: left out here).
  const audit = async (sagaId: string): Promise<any[]> => {
    const res = await engine.as('admin').get(`/v1/audit?sagaId=${sagaId}`);
    expect(res.status).toBe(200);
    return res.body.items.filter((item: { action: string }) => item.action !== 'signal');
  };
  const auditCount = async () =>
    Number((await engine.db.query<{ n: string }>(`SELECT count(*) AS n FROM saga_audit`))[0].n);
  const stepsOf = (saga: any): Record<string, any> => Object.fromEntries(saga.steps.map((s: any) => [s.name, s]));
  // What the demo participants applied, from their PostgreSQL ledger (GET /v1/demo/ledger).
  const ledger = (sagaId: string) => engine.ledger(sagaId);
  const effects = async (sagaId: string) => (await ledger(sagaId)).map((e) => `${e.service}.${e.operation}`);

  it('(e) a compensation that keeps failing: FAILED, one alert (retried after a 500), then an operator retry ends it COMPENSATED', async () => {
    const alerts = engine.app.get(AlertService);
    const raisedBefore = alerts.failedSagasAlerted;
    // The demo saga's compensations get 20 attempts (about 18 s): the fault outlasts them.
    const id = await start({ 'charge-account': { fatal: true }, 'register-package': { compensationTransient: 22 } });

    const failed = await engine.waitForStatus(id, ['FAILED', 'COMPENSATED', 'CANCELLED', 'COMPLETED'], 40_000);
    // Counted by the process that committed the transition, right after its commit.
    await waitFor(() => alerts.failedSagasAlerted === raisedBefore + 1, { what: 'the alert to be counted' });
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatchObject({ step: 'register-package', code: 'FAULT_TRANSIENT', transient: true });
    expect(stepsOf(failed)['register-package']).toMatchObject({
      status: 'COMPENSATION_FAILED',
      compensation: { status: 'FAILED', attempts: 20 },
    });

    // The webhook said 500 first; the sender retried with backoff and the second POST was accepted.
    await waitFor(() => webhook.delivered(id).length === 1, { what: 'the alert to be delivered', timeoutMs: 10_000 });
    const posts = webhook.for(id);
    expect(posts.map((p) => p.answered)).toEqual([500, 204]);
    expect(posts[1].body).toEqual({
      sagaId: id,
      type: 'drone-delivery',
      status: 'FAILED',
      error: failed.error,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(posts[1].headers['content-type']).toMatch(/application\/json/);
    expect(posts[1].headers['idempotency-key']).toBe(posts[0].headers['idempotency-key']);
    // The webhook has answered; the sender records the delivery right after.
    const rows = await waitFor(
      async () => {
        const found = await engine.db.query<any>(`SELECT * FROM saga_alert WHERE saga_id = $1`, [id]);
        return found.every((r) => r.delivered_at !== null) ? found : undefined;
      },
      { what: 'the delivery to be recorded' },
    );
    expect(rows).toEqual([
      expect.objectContaining({ attempts: 2, delivered_to: new URL(webhookUrl).origin, last_error: null }),
    ]);

    const retried = await engine
      .as('operator')
      .post(`/v1/sagas/${id}/retry`)
      .send({ reason: '  package service is back, INC-4711  ' });
    expect(retried.status).toBe(202);
    expect(retried.body).toMatchObject({ id, status: 'COMPENSATING', error: null });

    const done = await engine.waitForStatus(id, ['COMPENSATED', 'FAILED', 'CANCELLED', 'COMPLETED']);
    expect(done.status).toBe('COMPENSATED');
    const steps = stepsOf(done);
    // Attempts 21 and 22 of the new round still failed (the fault clears after 22), the 23rd undid it.
    expect(steps['register-package']).toMatchObject({
      status: 'COMPENSATED',
      compensation: { status: 'SUCCEEDED', attempts: 23, error: null },
    });
    expect(steps['create-delivery']).toMatchObject({ status: 'COMPENSATED', compensation: { status: 'SUCCEEDED' } });
    expect(await effects(id)).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'drone.schedule',
      'drone.release',
      'package.delete',
      'delivery.cancel',
    ]);
    expect((await ledger(id)).every((e) => e.count === 1)).toBe(true);

    // Who and why: in the audit log and in the saga's own history.
    expect(await audit(id)).toEqual([
      {
        id: expect.any(String),
        at: expect.any(String),
        actor: keyId('operator'),
        role: 'operator',
        action: 'retry',
        sagaId: id,
        step: null,
        signal: null,
        reason: 'package service is back, INC-4711',
        outcome: 'accepted',
        statusCode: 202,
        detail: null,
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
    const history = await events(id);
    expect(history.filter((e) => e.type === 'RetryRequested')).toEqual([
      expect.objectContaining({ data: { by: by('operator'), reason: 'package service is back, INC-4711' } }),
    ]);
    const types = history.map((e) => e.type);
    expect(types.indexOf('SagaFailed')).toBeLessThan(types.indexOf('RetryRequested'));
    expect(types.at(-1)).toBe('SagaCompensated');

    // Still exactly one alert: the retry did not fail again, and nothing was sent twice.
    expect(alerts.failedSagasAlerted).toBe(raisedBefore + 1);
    expect(webhook.delivered(id)).toHaveLength(1);
  });

  it('(f) cancel while a step runs: the attempt is awaited, then every completed step is undone once, CANCELLED', async () => {
    const id = await start({ 'register-package': { delayMs: 1500 } });
    await waitFor(
      async () => {
        const saga = (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
        // Dispatched (an agent has it or is about to; it answers after 1.5 s): in flight either way. Waiting for
        // RUNNING (marked after 1 s) would leave a window of 0.5 s, too tight for a loaded machine.
        return ['SCHEDULED', 'RUNNING'].includes(stepsOf(saga)['register-package'].status) ? saga : undefined;
      },
      { what: 'register-package to be in flight', timeoutMs: 10_000 },
    );

    const reason = 'customer called: wrong address';
    const cancelled = await engine.as('operator').post(`/v1/sagas/${id}/cancel`).send({ reason });
    expect(cancelled.status).toBe(202);
    expect(cancelled.body.status).toBe('COMPENSATING');
    // Nothing is undone while the attempt is in flight.
    expect(stepsOf(cancelled.body)['register-package']).toMatchObject({
      status: expect.stringMatching(/^(SCHEDULED|RUNNING)$/),
      compensation: null,
    });
    expect(stepsOf(cancelled.body)['create-delivery']).toMatchObject({ status: 'SUCCEEDED', compensation: null });

    const saga = await engine.waitForStatus(id, ['CANCELLED', 'COMPENSATED', 'FAILED', 'COMPLETED']);
    expect(saga.status).toBe('CANCELLED');
    expect(saga.error).toEqual({ step: null, code: 'CANCELLED', message: reason, transient: false });
    expect(
      saga.steps.map((s: any) => [s.name, s.status, s.compensation?.status ?? null, s.compensation?.attempts]),
    ).toEqual([
      ['verify-account', 'SUCCEEDED', null, undefined],
      ['create-delivery', 'COMPENSATED', 'SUCCEEDED', 1],
      ['register-package', 'COMPENSATED', 'SUCCEEDED', 1],
      ['schedule-drone', 'PENDING', null, undefined],
      ['book-ground-transport', 'PENDING', null, undefined],
      ['await-delivery', 'PENDING', null, undefined],
      ['charge-account', 'PENDING', null, undefined],
      ['notify-customer', 'PENDING', null, undefined],
    ]);

    const history = await events(id);
    const at = (type: string, step?: string) => history.findIndex((e) => e.type === type && (!step || e.step === step));
    expect(history.filter((e) => e.type === 'CancelRequested')).toEqual([
      expect.objectContaining({ data: { by: by('operator'), reason } }),
    ]);
    // The late success came after the cancel and was undone like any other.
    expect(at('StepSucceeded', 'register-package')).toBeGreaterThan(at('CancelRequested'));
    expect(history.filter((e) => e.type === 'CompensationSucceeded').map((e) => e.step)).toEqual([
      'register-package',
      'create-delivery',
    ]);
    expect(history.at(-1).type).toBe('SagaCancelled');

    expect(await effects(id)).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'package.delete',
      'delivery.cancel',
    ]);
    expect((await ledger(id)).every((e) => e.count === 1)).toBe(true);
    expect(await audit(id)).toEqual([
      expect.objectContaining({ action: 'cancel', outcome: 'accepted', statusCode: 202, reason, role: 'operator' }),
    ]);
  });

  it('racing cancels: exactly one is accepted, every other one is refused, each is audited once', async () => {
    const id = await start({ 'register-package': { delayMs: 1500 } });
    await waitFor(
      async () => {
        const saga = (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
        return stepsOf(saga)['create-delivery'].status === 'SUCCEEDED';
      },
      { what: 'create-delivery to succeed', timeoutMs: 10_000 },
    );
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        engine
          .as(i % 2 ? 'operator' : 'admin')
          .post(`/v1/sagas/${id}/cancel`)
          .send({ reason: `race ${i}` }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([202, ...Array(9).fill(409)]);
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.message === 'cancel already requested')).toBe(
      true,
    );
    const rows = await audit(id);
    expect(rows).toHaveLength(10);
    expect(rows.filter((r) => r.outcome === 'accepted')).toHaveLength(1);
    expect((await events(id)).filter((e) => e.type === 'CancelRequested')).toHaveLength(1);
    expect((await engine.waitForStatus(id, ['CANCELLED', 'COMPENSATED', 'FAILED', 'COMPLETED'])).status).toBe(
      'CANCELLED',
    );
  });

  it('resolve: an admin marks a FAILED compensation done by hand and the saga ends COMPENSATED', async () => {
    const id = await start({ 'charge-account': { fatal: true }, 'register-package': { compensationFatal: true } });
    const failed = await engine.waitForStatus(id, ['FAILED', 'COMPENSATED', 'CANCELLED', 'COMPLETED']);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatchObject({ step: 'register-package', code: 'FAULT_FATAL', transient: false });
    const reason = 'package deleted by hand in the warehouse system, TICKET-9';

    // Operators may retry and cancel; resolving asserts a fact the engine cannot check: admins only.
    const byOperator = await engine
      .as('operator')
      .post(`/v1/sagas/${id}/steps/register-package/resolve`)
      .send({ reason });
    expect(byOperator.status).toBe(403);
    expect(byOperator.body.code).toBe('FORBIDDEN');

    // A compensation that has not FAILED cannot be resolved; an unknown step is a 404.
    const notFailed = await engine.as('admin').post(`/v1/sagas/${id}/steps/create-delivery/resolve`).send({ reason });
    expect(notFailed.status).toBe(409);
    expect(notFailed.body).toMatchObject({
      statusCode: 409,
      code: 'INVALID_STATE',
      message: 'compensation of step "create-delivery" is not dispatched',
    });
    const unknown = await engine.as('admin').post(`/v1/sagas/${id}/steps/no-such-step/resolve`).send({ reason });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('STEP_NOT_FOUND');
    const badName = await engine.as('admin').post(`/v1/sagas/${id}/steps/No_Such/resolve`).send({ reason });
    expect(badName.status).toBe(400);
    expect(badName.body.message).toMatch(/step must be/);

    const resolved = await engine.as('admin').post(`/v1/sagas/${id}/steps/register-package/resolve`).send({ reason });
    expect(resolved.status).toBe(202);
    expect(stepsOf(resolved.body)['register-package']).toMatchObject({
      status: 'COMPENSATED',
      compensation: { status: 'RESOLVED' },
    });

    const done = await engine.waitForStatus(id, ['COMPENSATED', 'FAILED', 'CANCELLED', 'COMPLETED']);
    expect(done.status).toBe('COMPENSATED');
    expect(stepsOf(done)['create-delivery']).toMatchObject({
      status: 'COMPENSATED',
      compensation: { status: 'SUCCEEDED' },
    });
    // The engine never ran the failed undo successfully: the ledger shows no package.delete.
    expect(await effects(id)).not.toContain('package.delete');
    expect(await effects(id)).toContain('delivery.cancel');
    const history = await events(id);
    expect(history.filter((e) => e.type === 'CompensationResolved')).toEqual([
      expect.objectContaining({ step: 'register-package', data: { by: by('admin'), reason } }),
    ]);

    const again = await engine.as('admin').post(`/v1/sagas/${id}/steps/register-package/resolve`).send({ reason });
    expect(again.status).toBe(409);
    expect(again.body.message).toBe('saga is COMPENSATED');

    expect((await audit(id)).map((a) => [a.action, a.step, a.role, a.outcome, a.statusCode, a.detail])).toEqual([
      ['resolve-compensation', 'register-package', 'admin', 'refused', 409, 'saga is COMPENSATED'],
      ['resolve-compensation', 'register-package', 'admin', 'accepted', 202, null],
      [
        'resolve-compensation',
        'no-such-step',
        'admin',
        'refused',
        404,
        expect.stringMatching(/has no step "no-such-step"/),
      ],
      [
        'resolve-compensation',
        'create-delivery',
        'admin',
        'refused',
        409,
        'compensation of step "create-delivery" is not dispatched',
      ],
      ['resolve-compensation', 'register-package', 'operator', 'refused', 403, expect.stringMatching(/admin role/)],
    ]);
  });

  describe('refusals', () => {
    let running: string;
    let completed: string;

    beforeAll(async () => {
      // notify-customer comes after the pivot and retries forever: the saga stays RUNNING past its pivot.
      running = await start({ 'notify-customer': { transient: 600_000 } });
      completed = await start();
      await engine.waitForStatus(completed, ['COMPLETED']);
      await waitFor(
        async () => {
          const saga = (await engine.as('viewer').get(`/v1/sagas/${running}`)).body;
          return stepsOf(saga)['charge-account'].status === 'SUCCEEDED';
        },
        { what: 'the pivot to succeed' },
      );
    });

    it('a viewer gets 403 on cancel, retry and resolve: nothing changes, each refusal is audited', async () => {
      const before = await engine.db.query(`SELECT * FROM saga_instance WHERE id = $1`, [running]);
      const eventsBefore = await engine.db.query(
        `SELECT count(*) AS n FROM saga_event WHERE type LIKE '%Requested' OR type = 'CompensationResolved'`,
      );
      for (const path of ['cancel', 'retry', 'steps/register-package/resolve']) {
        const res = await engine.as('viewer').post(`/v1/sagas/${running}/${path}`).send({ reason: 'just looking' });
        expect(res.status).toBe(403);
        expect(res.body).toMatchObject({ statusCode: 403, code: 'FORBIDDEN' });
        expect(res.body.message).toMatch(/needs the (operator|admin) role; the key has viewer/);
      }
      const after = await engine.db.query(`SELECT * FROM saga_instance WHERE id = $1`, [running]);
      expect(after[0].cancel_requested).toBe(false);
      expect(after[0].status).toBe(before[0].status);
      expect(
        await engine.db.query(
          `SELECT count(*) AS n FROM saga_event WHERE type LIKE '%Requested' OR type = 'CompensationResolved'`,
        ),
      ).toEqual(eventsBefore);
      expect(
        (await audit(running)).map((a) => [a.action, a.step, a.role, a.actor, a.outcome, a.statusCode, a.reason]),
      ).toEqual([
        ['resolve-compensation', 'register-package', 'viewer', keyId('viewer'), 'refused', 403, 'just looking'],
        ['retry', null, 'viewer', keyId('viewer'), 'refused', 403, 'just looking'],
        ['cancel', null, 'viewer', keyId('viewer'), 'refused', 403, 'just looking'],
      ]);
    });

    it('an unknown or missing key gets 401 and writes nothing', async () => {
      const count = await auditCount();
      const unknown = await engine
        .http()
        .post(`/v1/sagas/${completed}/cancel`)
        .set('Authorization', 'Bearer not-a-key-at-all-0000')
        .send({ reason: 'x' });
      expect(unknown.status).toBe(401);
      expect(unknown.body.code).toBe('AUTH_REQUIRED');
      const anonymous = await engine.http().post(`/v1/sagas/${completed}/retry`).send({ reason: 'x' });
      expect(anonymous.status).toBe(401);
      expect(await auditCount()).toBe(count);
    });

    it("409 INVALID_STATE with the engine's reason: cancel a COMPLETED saga, cancel past the pivot, retry a RUNNING saga", async () => {
      const cases: [string, string, string][] = [
        [completed, 'cancel', 'saga is COMPLETED'],
        [running, 'cancel', 'past the pivot step "charge-account"'],
        [running, 'retry', 'saga is RUNNING'],
        [completed, 'retry', 'saga is COMPLETED'],
      ];
      for (const [id, action, message] of cases) {
        const before = (await events(id)).length;
        const res = await engine.as('operator').post(`/v1/sagas/${id}/${action}`).send({ reason: 'try it' });
        expect(res.status).toBe(409);
        expect(res.body).toEqual({ statusCode: 409, error: 'Conflict', code: 'INVALID_STATE', message });
        const [latest] = await audit(id);
        expect(latest).toMatchObject({
          action,
          outcome: 'refused',
          statusCode: 409,
          detail: message,
          reason: 'try it',
        });
        if (id === completed) expect((await events(id)).length).toBe(before);
      }
    });

    it('404 for an unknown saga (audited), 400 for an id that is not a UUID', async () => {
      for (const action of ['cancel', 'retry', 'steps/register-package/resolve']) {
        const res = await engine.as('admin').post(`/v1/sagas/${UNKNOWN_ID}/${action}`).send({ reason: 'cleanup' });
        expect(res.status).toBe(404);
        expect(res.body).toMatchObject({ statusCode: 404, code: 'SAGA_NOT_FOUND' });
      }
      expect((await audit(UNKNOWN_ID)).map((a) => [a.action, a.outcome, a.statusCode])).toEqual([
        ['resolve-compensation', 'refused', 404],
        ['retry', 'refused', 404],
        ['cancel', 'refused', 404],
      ]);
      const count = await auditCount();
      const res = await engine.as('operator').post('/v1/sagas/not-a-uuid/cancel').send({ reason: 'x' });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/id must be a UUID/);
      expect(await auditCount()).toBe(count);
    });

    it.each([
      ['no body', undefined, /^reason must be a string of 1 to 500 characters$/],
      ['an empty object', {}, /^reason must be a string of 1 to 500 characters$/],
      ['an empty reason', { reason: '' }, /reason must not be empty/],
      ['a blank reason', { reason: '   \t ' }, /reason must not be empty/],
      ['a reason that is not a string', { reason: 42 }, /reason must be a string/],
      ['a reason over 500 characters', { reason: 'x'.repeat(501) }, /reason must be at most 500 characters/],
      ['a reason with a line break', { reason: 'ok\nFAKE LOG LINE' }, /reason must not contain control characters/],
      ['an unknown field', { reason: 'ok', force: true }, /property force should not exist/],
    ])('400 INPUT_INVALID for %s, and nothing is written', async (_name, body, message) => {
      const count = await auditCount();
      const before = (await events(running)).length;
      const req = engine.as('operator').post(`/v1/sagas/${running}/cancel`);
      const res = body === undefined ? await req : await req.send(body);
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ statusCode: 400, code: 'INPUT_INVALID' });
      expect(res.body.message).toMatch(message);
      expect(await auditCount()).toBe(count);
      const after = await events(running);
      expect(after.some((e) => e.type === 'CancelRequested')).toBe(false);
      expect(after.length).toBeGreaterThanOrEqual(before);
    });

    it('a reason of exactly 500 characters is accepted as given', async () => {
      const res = await engine
        .as('operator')
        .post(`/v1/sagas/${completed}/cancel`)
        .send({ reason: 'y'.repeat(500) });
      expect(res.status).toBe(409);
      expect((await audit(completed))[0].reason).toBe('y'.repeat(500));
    });
  });

  describe('the audit log', () => {
    it('is admin only, newest first, filtered by saga, with a bounded limit', async () => {
      expect((await engine.as('operator').get('/v1/audit')).status).toBe(403);
      expect((await engine.as('viewer').get('/v1/audit')).status).toBe(403);
      expect((await engine.http().get('/v1/audit')).status).toBe(401);
      const all = await engine.as('admin').get('/v1/audit?limit=200');
      expect(all.status).toBe(200);
      const ids = all.body.items.map((a: any) => Number(a.id));
      expect(ids.length).toBeGreaterThan(5);
      expect(ids).toEqual([...ids].sort((a, b) => b - a));
      const two = await engine.as('admin').get('/v1/audit?limit=2');
      expect(two.body.items.map((a: any) => a.id)).toEqual(all.body.items.slice(0, 2).map((a: any) => a.id));
      for (const [query, message] of [
        ['limit=0', /limit must be an integer between 1 and 200/],
        ['limit=201', /limit must be an integer between 1 and 200/],
        ['sagaId=nope', /sagaId must be a UUID/],
        ['actor=x', /property actor should not exist/],
      ] as const) {
        const res = await engine.as('admin').get(`/v1/audit?${query}`);
        expect(res.status).toBe(400);
        expect(res.body.message).toMatch(message);
      }
    });

    it('is append-only in the database: UPDATE, DELETE and TRUNCATE are refused', async () => {
      const count = await auditCount();
      expect(count).toBeGreaterThan(0);
      await expect(engine.db.query(`UPDATE saga_audit SET reason = 'rewritten'`)).rejects.toThrow(/append-only/);
      await expect(engine.db.query(`UPDATE saga_audit SET reason = 'x' WHERE false`)).rejects.toThrow(/append-only/);
      await expect(engine.db.query(`DELETE FROM saga_audit`)).rejects.toThrow(/append-only/);
      await expect(engine.db.query(`TRUNCATE saga_audit`)).rejects.toThrow(/append-only/);
      expect(await auditCount()).toBe(count);
      const [{ n }] = await engine.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM saga_audit WHERE reason = 'rewritten'`,
      );
      expect(n).toBe('0');
    });
  });
});
