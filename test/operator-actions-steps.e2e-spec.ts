import { type IncomingHttpHeaders, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NonRetryableError, defineSaga } from '@saga-engine/sdk';
import { IsInt, IsString, Min } from 'class-validator';
import { KEYS, TestDatabase, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/**
 * A participant on loopback HTTP that does what docs/participants.md asks of one: it applies each operation at
 * most once per idempotency key and answers a repeat with the first answer, a refusal included. `decline` makes it
 * refuse an operation (422, a definite "no"), as a participant whose data is wrong would.
 */
class Participant {
  /** Effects applied, one per key. */
  readonly applied: { op: string; key: string; body: any }[] = [];
  /** Every call, repeats included. */
  readonly calls: { op: string; key: string }[] = [];
  readonly decline = new Set<string>();
  /** Operations answered only after this many ms. */
  readonly delayMs = new Map<string, number>();
  private readonly answers = new Map<string, { status: number; body: unknown }>();
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        const op = (req.url ?? '/').slice(1);
        setTimeout(() => this.answer(op, text, req.headers, res), this.delayMs.get(op) ?? 0);
      });
    });
  }

  private answer(op: string, text: string, headers: IncomingHttpHeaders, res: ServerResponse): void {
    const key = String(headers['idempotency-key']);
    this.calls.push({ op, key });
    let answer = this.answers.get(key);
    if (!answer) {
      if (this.decline.has(op)) {
        answer = { status: 422, body: { code: 'DECLINED', message: `${op} declined` } };
      } else {
        const body = JSON.parse(text);
        this.applied.push({ op, key, body });
        answer = { status: 200, body: { op, key } };
      }
      this.answers.set(key, answer);
    }
    res.statusCode = answer.status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(answer.body));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The keys under which `op` took effect for the saga, in order. */
  keys(sagaId: string, op?: string): string[] {
    return this.applied.filter((a) => a.key.startsWith(`${sagaId}:`) && (!op || a.op === op)).map((a) => a.key);
  }

  callsOf(sagaId: string): string[] {
    return this.calls.filter((c) => c.key.startsWith(`${sagaId}:`)).map((c) => c.key);
  }
}

const participant = new Participant();

async function call(ctx: { key: string; sagaId: string }, op: string, body: Record<string, unknown> = {}) {
  const res = await fetch(`${participant.url}/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': ctx.key },
    body: JSON.stringify({ sagaId: ctx.sagaId, ...body }),
  });
  const answer = (await res.json()) as { code?: string; message?: string; key?: string };
  if (res.status === 422) throw new NonRetryableError(answer.message ?? op, { code: answer.code });
  if (!res.ok) throw new Error(`${op}: HTTP ${res.status}`);
  return answer;
}

// reserve -> charge (pivot) -> label -> ship -> notify (reads ship's output)
const shipping = defineSaga('ops-shipping', { version: 1 })
  .step('reserve', {
    run: (ctx) => call(ctx, 'reserve'),
    compensate: (ctx) => call({ ...ctx, key: ctx.undoKey }, 'release'),
  })
  .step('charge', { run: (ctx) => call(ctx, 'charge'), pivot: true })
  .step('label', { run: (ctx) => call(ctx, 'label') })
  .step('ship', { run: (ctx) => call(ctx, 'ship') })
  .step('notify', {
    run: (ctx) => call(ctx, 'notify', { shipped: (ctx.steps as Record<string, unknown>).ship ?? null }),
  })
  .build();

/** What the carrier answers for a shipment: ship declares it as its output type. */
class Shipment {
  @IsString()
  trackingId!: string;

  @IsInt()
  @Min(1)
  parcels!: number;
}

// charge (pivot) -> ship (output: Shipment) -> notify (reads ship.trackingId, typed)
const typedShipping = defineSaga('ops-typed', { version: 1 })
  .step('charge', { run: (ctx) => call(ctx, 'charge'), pivot: true })
  .step('ship', {
    output: Shipment,
    run: async (ctx) => {
      const answer = await call(ctx, 'ship');
      return { trackingId: `T-${answer.key}`, parcels: 1 };
    },
  })
  .step('notify', { run: (ctx) => call(ctx, 'notify', { trackingId: ctx.steps.ship.trackingId }) })
  .build();

// reserve -> ship, whose code returns what Shipment refuses (a bug the types cannot see: an untyped answer)
const malformedShipping = defineSaga('ops-malformed', { version: 1 })
  .step('reserve', {
    run: (ctx) => call(ctx, 'reserve'),
    compensate: (ctx) => call({ ...ctx, key: ctx.undoKey }, 'release'),
  })
  .step('ship', {
    output: Shipment,
    run: async (ctx) => {
      const answer: any = await call(ctx, 'ship');
      return { trackingId: answer.key.length, parcels: 1 };
    },
    compensate: (ctx) => call({ ...ctx, key: ctx.undoKey }, 'unship'),
  })
  .step('notify', { run: (ctx) => call(ctx, 'notify', { trackingId: ctx.steps.ship.trackingId }) })
  .build();

/** The code of an API process that has none of the sagas above. */
const otherSaga = defineSaga('ops-other', { version: 1 })
  .step('noop', { run: () => ({}) })
  .build();

/** Version 2 of the same type: the deploy that dropped version 1's code. */
const shippingV2 = defineSaga('ops-shipping', { version: 2 })
  .step('reserve', { run: () => ({}) })
  .build();

const by = (role: keyof typeof KEYS) => `key ${role} (${role})`;
const TERMINAL = ['COMPLETED', 'FAILED', 'COMPENSATED', 'CANCELLED'];

describe('operator actions on a step: retry from a step, skip a step (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    await participant.listen();
    engine = await startTestEngine({ sagas: [shipping, typedShipping, malformedShipping] });
  });
  afterAll(async () => {
    await engine?.close();
    await participant.close();
  });
  afterEach(() => {
    participant.decline.clear();
    participant.delayMs.clear();
  });

  const start = async (): Promise<string> => {
    const res = await engine.as('operator').post('/v1/sagas').send({ type: 'ops-shipping', input: {} });
    expect(res.status).toBe(201);
    return res.body.id;
  };
  const saga = async (id: string) => (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
  const stepsOf = (s: any): Record<string, any> => Object.fromEntries(s.steps.map((x: any) => [x.name, x]));
  const events = async (id: string): Promise<any[]> =>
    (await engine.as('viewer').get(`/v1/sagas/${id}/events`)).body.items;
  const audit = async (id: string): Promise<any[]> => {
    const res = await engine.as('admin').get(`/v1/audit?sagaId=${id}`);
    expect(res.status).toBe(200);
    return res.body.items;
  };
  /** A saga FAILED past its pivot: ship was declined for good. */
  const failedAtShip = async (): Promise<string> => {
    participant.decline.add('ship');
    const id = await start();
    const failed = await engine.waitForStatus(id, TERMINAL);
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatchObject({ step: 'ship', code: 'DECLINED', transient: false });
    participant.decline.delete('ship');
    return id;
  };

  it('retry from a step re-runs exactly it and the later steps, each once under a new key; a plain retry keeps the key', async () => {
    const id = await failedAtShip();

    // The participant fixed its data, but a plain retry sends ship's key again: the participant answers the first
    // answer again (declined), as it must. That is what a re-run from a step is for.
    const retry = await engine.as('operator').post(`/v1/sagas/${id}/retry`).send({ reason: 'try again' });
    expect(retry.status).toBe(202);
    await waitFor(async () => stepsOf(await saga(id)).ship.attempts === 2 && (await saga(id)).status === 'FAILED', {
      what: 'the plain retry to fail again',
      timeoutMs: 15_000,
    });
    expect(participant.callsOf(id).filter((k) => k === `${id}:ship`)).toHaveLength(2);

    const res = await engine
      .as('operator')
      .post(`/v1/sagas/${id}/steps/label/retry`)
      .send({ reason: 'carrier data fixed, INC-7' });
    expect(res.status).toBe(202);
    expect(['RUNNING', 'COMPLETED']).toContain(res.body.status);
    const done = await engine.waitForStatus(id, ['COMPLETED']);

    // Before the step: not re-run. From it on: each applied once, under its new key; notify had never run.
    expect(participant.keys(id, 'reserve')).toEqual([`${id}:reserve`]);
    expect(participant.keys(id, 'charge')).toEqual([`${id}:charge`]);
    expect(participant.keys(id, 'label')).toEqual([`${id}:label`, `${id}:label:rerun-1`]);
    expect(participant.keys(id, 'ship')).toEqual([`${id}:ship:rerun-1`]);
    expect(participant.keys(id, 'notify')).toEqual([`${id}:notify`]);
    const keys = participant.keys(id);
    expect(new Set(keys).size).toBe(keys.length);

    const steps = stepsOf(done);
    expect(steps.reserve).toMatchObject({ run: 0, attempts: 1, skipped: false });
    expect(steps.charge).toMatchObject({ run: 0, attempts: 1 });
    expect(steps.label).toMatchObject({ run: 1, attempts: 2, status: 'SUCCEEDED' });
    expect(steps.ship).toMatchObject({ run: 1, attempts: 3, status: 'SUCCEEDED' });
    expect(steps.notify).toMatchObject({ run: 0, attempts: 1 });

    // History keeps the earlier attempts, and says who re-ran what and why.
    const history = await events(id);
    const rerun = history.filter((e) => e.type === 'RetryFromStepRequested');
    expect(rerun).toEqual([
      expect.objectContaining({
        step: 'label',
        data: { by: by('operator'), reason: 'carrier data fixed, INC-7', steps: ['label', 'ship', 'notify'] },
      }),
    ]);
    expect(history.filter((e) => e.type === 'StepFailed' && e.step === 'ship').map((e) => e.attempt)).toEqual([1, 2]);
    expect(history.filter((e) => e.type === 'SagaFailed')).toHaveLength(2);

    expect((await audit(id)).map((a) => [a.action, a.step, a.role, a.outcome, a.statusCode, a.reason])).toEqual([
      ['retry-from-step', 'label', 'operator', 'accepted', 202, 'carrier data fixed, INC-7'],
      ['retry', null, 'operator', 'accepted', 202, 'try again'],
    ]);
  });

  it('re-opens a COMPLETED saga from a step after the pivot; refuses the pivot and before it, naming the pivot', async () => {
    const id = await start();
    await engine.waitForStatus(id, ['COMPLETED']);

    for (const step of ['charge', 'reserve']) {
      const refused = await engine.as('operator').post(`/v1/sagas/${id}/steps/${step}/retry`).send({ reason: 'again' });
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({ code: 'INVALID_STATE' });
      expect(refused.body.message).toContain(`step "${step}" is not after the pivot step "charge"`);
    }
    const unknown = await engine.as('operator').post(`/v1/sagas/${id}/steps/nope/retry`).send({ reason: 'again' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('STEP_NOT_FOUND');
    expect((await engine.as('viewer').post(`/v1/sagas/${id}/steps/notify/retry`).send({ reason: 'x' })).status).toBe(
      403,
    );
    expect((await engine.as('operator').post(`/v1/sagas/${id}/steps/notify/retry`).send({})).status).toBe(400);

    const res = await engine.as('operator').post(`/v1/sagas/${id}/steps/notify/retry`).send({ reason: 'resend mail' });
    expect(res.status).toBe(202);
    await waitFor(async () => participant.keys(id, 'notify').length === 2, { what: 'notify to run again' });
    const done = await engine.waitForStatus(id, ['COMPLETED']);
    expect(participant.keys(id, 'notify')).toEqual([`${id}:notify`, `${id}:notify:rerun-1`]);
    expect(participant.keys(id, 'ship')).toEqual([`${id}:ship`]);
    expect(done.completedAt).not.toBeNull();
    expect((await events(id)).filter((e) => e.type === 'SagaCompleted')).toHaveLength(2);

    expect((await audit(id)).map((a) => [a.action, a.step, a.role, a.outcome, a.statusCode])).toEqual([
      ['retry-from-step', 'notify', 'operator', 'accepted', 202],
      ['retry-from-step', 'notify', 'viewer', 'refused', 403],
      ['retry-from-step', 'nope', 'operator', 'refused', 404],
      ['retry-from-step', 'reserve', 'operator', 'refused', 409],
      ['retry-from-step', 'charge', 'operator', 'refused', 409],
    ]);
  });

  it('skip: an admin completes a FAILED step with an output; later steps read it and the saga completes', async () => {
    const id = await failedAtShip();
    const skip = (role: keyof typeof KEYS, step: string, body: Record<string, unknown>) =>
      engine.as(role).post(`/v1/sagas/${id}/steps/${step}/skip`).send(body);

    // Bad input: 400 naming the field, nothing changes (not audited: not an action).
    const missing = await skip('admin', 'ship', { reason: 'shipped by hand' });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toContain('output is required');
    // Within the body limit (1 MiB), over what a step's output may be (256 KiB), as an agent's output would be.
    const large = await skip('admin', 'ship', {
      reason: 'shipped by hand',
      output: { notes: Array.from({ length: 6 }, () => 'x'.repeat(60_000)) },
    });
    expect(large.status).toBe(400);
    expect(large.body).toMatchObject({ code: 'INPUT_INVALID', message: 'output: is larger than 262144 bytes' });
    // What the API refuses in any body (a NUL character) is refused here too, before anything.
    expect((await skip('admin', 'ship', { reason: 'r', output: { note: 'a\u0000b' } })).status).toBe(400);
    const noReason = await skip('admin', 'ship', { output: {} });
    expect(noReason.status).toBe(400);
    expect(noReason.body.message).toContain('reason');
    expect((await skip('admin', 'Ship!', { reason: 'r', output: {} })).status).toBe(400);
    // Refusals: audited.
    expect((await skip('operator', 'ship', { reason: 'r', output: {} })).status).toBe(403);
    const unknown = await skip('admin', 'nope', { reason: 'r', output: {} });
    expect(unknown.status).toBe(404);
    const done = await skip('admin', 'label', { reason: 'r', output: {} });
    expect(done.status).toBe(409);
    expect(done.body.message).toContain('step "label" is SUCCEEDED');
    expect((await saga(id)).status).toBe('FAILED');

    const res = await skip('admin', 'ship', { reason: 'shipped by hand, T-1', output: { trackingId: 'T-1' } });
    expect(res.status).toBe(202);
    const completed = await engine.waitForStatus(id, ['COMPLETED']);
    expect(stepsOf(completed).ship).toMatchObject({
      status: 'SUCCEEDED',
      skipped: true,
      output: { trackingId: 'T-1' },
      attempts: 1,
    });
    expect(completed.output.ship).toEqual({ trackingId: 'T-1' });
    // notify read the operator's output as ship's; ship itself never took effect at the participant.
    expect(participant.applied.find((a) => a.key === `${id}:notify`)?.body.shipped).toEqual({ trackingId: 'T-1' });
    expect(participant.keys(id, 'ship')).toEqual([]);

    const skipped = (await events(id)).filter((e) => e.type === 'StepSkippedByOperator');
    expect(skipped).toEqual([
      expect.objectContaining({ step: 'ship', attempt: 1, data: { by: by('admin'), reason: 'shipped by hand, T-1' } }),
    ]);
    expect((await audit(id)).map((a) => [a.action, a.step, a.role, a.outcome, a.statusCode])).toEqual([
      ['skip-step', 'ship', 'admin', 'accepted', 202],
      ['skip-step', 'label', 'admin', 'refused', 409],
      ['skip-step', 'nope', 'admin', 'refused', 404],
      ['skip-step', 'ship', 'operator', 'refused', 403],
    ]);
  });

  it('skip a step with an output type: a bad output is a 400 naming the field (here and in an API without the code), a good one is read by later steps', async () => {
    // The saga type shows the step's output schema (from its class); a step without one shows null.
    const type = await engine.as('viewer').get('/v1/saga-types/ops-typed');
    expect(type.status).toBe(200);
    const typeSteps = Object.fromEntries(type.body.steps.map((x: any) => [x.name, x]));
    expect(typeSteps.ship.outputSchema).toMatchObject({
      title: 'Shipment',
      type: 'object',
      additionalProperties: false,
      required: expect.arrayContaining(['trackingId', 'parcels']),
    });
    expect(typeSteps.charge.outputSchema).toBeNull();

    participant.decline.add('ship');
    const started = await engine.as('operator').post('/v1/sagas').send({ type: 'ops-typed', input: {} });
    const id = started.body.id as string;
    expect((await engine.waitForStatus(id, TERMINAL)).status).toBe('FAILED');
    participant.decline.delete('ship');
    const before = await saga(id);
    const eventCount = (await events(id)).length;

    const skip = (e: TestEngine, output: unknown) =>
      e.as('admin').post(`/v1/sagas/${id}/steps/ship/skip`).send({ reason: 'shipped by hand', output });
    const wrongType = await skip(engine, { trackingId: 7, parcels: 1 });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body).toMatchObject({ code: 'INPUT_INVALID', message: 'output.trackingId must be a string' });
    const several = await skip(engine, { parcels: 0, carrier: 'x' });
    expect(several.status).toBe(400);
    expect(several.body.message).toContain('output.trackingId must be a string');
    expect(several.body.message).toContain('output.parcels must not be less than 1');
    expect(several.body.message).toContain('output.carrier');
    expect((await skip(engine, 'T-1')).body).toMatchObject({
      code: 'INPUT_INVALID',
      message: 'output must be an object (Shipment)',
    });
    expect((await skip(engine, null)).status).toBe(400);

    // An API process without the saga's code checks by the schema the agents published, naming the fields too.
    // (It registers a saga of another type only: startTestEngine needs one.)
    const api = await startTestEngine({ sagas: [otherSaga], agent: false, db: engine.db, prefix: engine.prefix });
    try {
      const published = await api.as('viewer').get('/v1/saga-types/ops-typed');
      expect(published.body.steps.find((x: any) => x.name === 'ship').outputSchema).toEqual(
        typeSteps.ship.outputSchema,
      );
      const byApi = await skip(api, { trackingId: 7, parcels: 1 });
      expect(byApi.status).toBe(400);
      // (The schema's words are JSON Schema's: "must be string".)
      expect(byApi.body).toMatchObject({ code: 'INPUT_INVALID', message: 'output.trackingId must be string' });
      const missing = await skip(api, { trackingId: 'T-9' });
      expect(missing.status).toBe(400);
      expect(missing.body.message).toBe('output.parcels is required');
    } finally {
      await api.stop();
    }

    // Nothing was written: the saga, its history and the audit log are as they were.
    expect(await saga(id)).toEqual(before);
    expect(await events(id)).toHaveLength(eventCount);
    expect(await audit(id)).toEqual([]);

    const res = await skip(engine, { trackingId: 'T-1', parcels: 2 });
    expect(res.status).toBe(202);
    const completed = await engine.waitForStatus(id, ['COMPLETED']);
    expect(stepsOf(completed).ship).toMatchObject({ skipped: true, output: { trackingId: 'T-1', parcels: 2 } });
    expect(participant.applied.find((a) => a.key === `${id}:notify`)?.body.trackingId).toBe('T-1');
    expect((await audit(id)).map((a) => [a.action, a.step, a.outcome])).toEqual([['skip-step', 'ship', 'accepted']]);
  });

  it('a step whose code returns an output its class refuses fails at once (OUTPUT_INVALID), undone with the earlier steps', async () => {
    const started = await engine.as('operator').post('/v1/sagas').send({ type: 'ops-malformed', input: {} });
    const id = started.body.id as string;
    const ended = await engine.waitForStatus(id, TERMINAL);
    expect(ended.status).toBe('COMPENSATED');
    const steps = stepsOf(ended);
    // Not retried (a bug in the step's code), its output never stored, so no later step read it.
    expect(steps.ship).toMatchObject({ status: 'COMPENSATED', attempts: 1, output: null });
    expect(steps.ship.error).toMatchObject({ code: 'OUTPUT_INVALID', retryable: false });
    expect(steps.ship.error.message).toBe(
      'the output of step "ship" does not fit its output class Shipment: output.trackingId must be a string',
    );
    expect(steps.notify.status).toBe('PENDING');
    expect(participant.keys(id, 'notify')).toEqual([]);
    // Its action did run, so its own undo ran, then the earlier step's.
    expect(participant.keys(id, 'ship')).toEqual([`${id}:ship`]);
    expect(participant.keys(id, 'unship')).toEqual([`${id}:ship:undo`]);
    expect(participant.keys(id, 'release')).toEqual([`${id}:reserve:undo`]);
    expect(steps.ship.compensation).toMatchObject({ status: 'SUCCEEDED' });
    expect(steps.reserve.compensation).toMatchObject({ status: 'SUCCEEDED' });
  });

  it('racing re-runs of one FAILED saga: exactly one is accepted, the others 409, each audited once', async () => {
    const id = await failedAtShip();
    // The re-run's first step answers slowly: every request of the race finds the saga RUNNING or FAILED.
    participant.delayMs.set('label', 1500);
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        engine
          .as(i % 2 ? 'operator' : 'admin')
          .post(`/v1/sagas/${id}/steps/label/retry`)
          .send({ reason: `race ${i}` }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409, 409, 409, 409, 409]);
    for (const refused of answers.filter((a) => a.status === 409)) {
      expect(refused.body.code).toBe('INVALID_STATE');
      expect(refused.body.message).toBe('saga is RUNNING: only a FAILED or COMPLETED saga is re-run from a step');
    }
    const rows = await audit(id);
    expect(rows).toHaveLength(6);
    expect(rows.filter((r) => r.outcome === 'accepted')).toHaveLength(1);
    expect((await events(id)).filter((e) => e.type === 'RetryFromStepRequested')).toHaveLength(1);
    await engine.waitForStatus(id, ['COMPLETED']);
    expect(participant.keys(id, 'label')).toEqual([`${id}:label`, `${id}:label:rerun-1`]);
  });
});

/**
 * Retry from a step and skip make steps run: while no live agent runs the saga's version they are refused (409
 * VERSION_UNAVAILABLE), audited, and nothing changes, rather than accepted and left waiting where nobody sees it.
 */
describe('operator actions on a step, with no agent for the version (e2e)', () => {
  const db = new TestDatabase();
  let engine: TestEngine | undefined;

  beforeAll(async () => {
    await participant.listen();
    await db.create();
  });
  afterAll(async () => {
    await engine?.close();
    await participant.close();
  });

  it('answers 409 VERSION_UNAVAILABLE to both, audited, and the saga stays FAILED', async () => {
    engine = await startTestEngine({ sagas: [shipping], db });
    participant.decline.add('ship');
    const started = await engine.as('operator').post('/v1/sagas').send({ type: 'ops-shipping', input: {} });
    const id = started.body.id as string;
    expect((await engine.waitForStatus(id, TERMINAL)).status).toBe('FAILED');
    const prefix = engine.prefix;
    await engine.stop();
    // Only version 2 runs now.
    engine = await startTestEngine({ sagas: [shippingV2], db, prefix });
    const e = engine;
    await waitFor(
      async () => {
        const versions = (await e.as('viewer').get('/v1/saga-versions?type=ops-shipping')).body;
        const v1 = (versions.items ?? versions).find((v: { version: number }) => v.version === 1);
        return v1 && v1.agents === 0;
      },
      { what: 'version 1 to have no live agent', timeoutMs: 30_000 },
    );

    const rerun = await e.as('operator').post(`/v1/sagas/${id}/steps/label/retry`).send({ reason: 'again' });
    const skip = await e.as('admin').post(`/v1/sagas/${id}/steps/ship/skip`).send({ reason: 'by hand', output: {} });
    for (const res of [rerun, skip]) {
      expect(res.status).toBe(409);
      expect(res.body.code).toBe('VERSION_UNAVAILABLE');
      expect(res.body.message).toContain('saga "ops-shipping" version 1 is unavailable: no live agent runs it');
    }
    const saga = (await e.as('viewer').get(`/v1/sagas/${id}`)).body;
    expect(saga.status).toBe('FAILED');
    const audit = (await e.as('admin').get(`/v1/audit?sagaId=${id}`)).body.items as any[];
    expect(audit.map((a) => [a.action, a.outcome, a.statusCode])).toEqual([
      ['skip-step', 'refused', 409],
      ['retry-from-step', 'refused', 409],
    ]);
  });
});
