import { IsString } from 'class-validator';
import { defineSaga } from '@saga-engine/sdk';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

class ReportInput {
  @IsString()
  report!: string;
}

let holdOpen = false;
const report = defineSaga('schedule-report', { version: 1, input: ReportInput })
  .step('render', { run: (ctx) => ({ report: ctx.input.report }) })
  .waitFor('hold', { signal: 'Release', timeout: '30s', when: () => holdOpen })
  .build();

describe('schedules (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ sagas: [report], env: { SUPERVISOR_INTERVAL_MS: '100' } });
  });
  afterAll(async () => {
    await engine?.close();
  });

  const valid = {
    type: 'schedule-report',
    input: { report: 'sales' },
    cron: '0 9 * * 1-5',
    timeZone: 'Europe/Berlin',
    reason: 'finance wants it',
  };
  const create = async (body: Record<string, unknown>) => engine.as('operator').post('/v1/schedules').send(body);
  const patch = (id: string, body: Record<string, unknown>) =>
    engine.http().patch(`/v1/schedules/${id}`).set('Authorization', `Bearer ${engine.keys.operator}`).send(body);
  const get = async (id: string) => (await engine.as('viewer').get(`/v1/schedules/${id}`)).body;

  it.each([
    [{ cron: '61 * * * *' }, 'cron is not a valid cron expression: Invalid value for minute: 61'],
    [{ cron: 'every day' }, 'cron is not a valid cron expression'],
    [{ cron: 5 }, 'cron must be a cron expression of 5 or 6 fields'],
    [
      { timeZone: 'Mars/Base' },
      'timeZone must be an IANA time zone such as "Europe/Berlin" or "UTC" (got "Mars/Base")',
    ],
    [{ overlap: 'queue' }, 'overlap must be one of skip, allow, buffer'],
    [{ catchUp: 'some' }, 'catchUp must be one of none, last, all'],
    [{ catchUpLimit: 0 }, 'catchUpLimit must be an integer between 1 and 1000'],
    [{ catchUpLimit: '5' }, 'catchUpLimit must be an integer between 1 and 1000'],
    [{ reason: '' }, 'reason must not be empty'],
    [{ input: { report: 7 } }, 'input.report must be a string'],
    [{ type: 'nope' }, 'type is not a registered saga type'],
    [{ extra: true }, 'property extra should not exist'],
  ])('refuses %p with 400 naming the field, never 500', async (change, message) => {
    const res = await create({ ...valid, ...change });
    expect(res.status).toBe(400);
    expect(res.body.message).toContain(message);
  });

  it('is created by an operator, read by a viewer, with its next runs, and every change is audited', async () => {
    expect((await engine.as('viewer').post('/v1/schedules').send(valid)).status).toBe(403);
    const res = await create(valid);
    expect(res.status).toBe(201);
    const id = res.body.id;
    expect(res.body).toMatchObject({
      type: 'schedule-report',
      cron: '0 9 * * 1-5',
      timeZone: 'Europe/Berlin',
      overlap: 'skip',
      catchUp: 'last',
      catchUpLimit: 10,
      paused: false,
      lastRuns: [],
    });
    // 09:00 in Berlin, on weekdays.
    expect(res.body.nextRuns).toHaveLength(5);
    for (const tick of res.body.nextRuns) {
      const local = new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Europe/Berlin',
        weekday: 'short',
        hour: '2-digit',
        minute: '2-digit',
      }).format(new Date(tick));
      expect(local).toMatch(/^(Mon|Tue|Wed|Thu|Fri) 09:00$/);
    }
    expect(res.body.nextFireAt).toBe(res.body.nextRuns[0]);
    expect((await engine.as('viewer').get('/v1/schedules')).body.items.map((s: any) => s.id)).toContain(id);

    expect((await patch(id, { paused: true })).status).toBe(400); // no reason
    const paused = await patch(id, { paused: true, reason: 'migration tonight' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ paused: true, nextFireAt: null, nextRuns: [] });
    const resumed = await patch(id, { paused: false, cron: '30 9 * * 1-5', reason: 'later, please' });
    expect(resumed.body).toMatchObject({ paused: false, cron: '30 9 * * 1-5' });
    expect(resumed.body.changes.map((c: any) => [c.action, c.reason])).toEqual([
      ['resume', 'later, please'],
      ['pause', 'migration tonight'],
      ['create', 'finance wants it'],
    ]);
    expect((await patch(id, { timeZone: 'Nowhere/City', reason: 'x' })).body.message).toContain('timeZone');

    const viewerDelete = await engine
      .http()
      .delete(`/v1/schedules/${id}`)
      .set('Authorization', `Bearer ${engine.keys.viewer}`)
      .send({ reason: 'no' });
    expect(viewerDelete.status).toBe(403);
    const deleted = await engine
      .http()
      .delete(`/v1/schedules/${id}`)
      .set('Authorization', `Bearer ${engine.keys.operator}`)
      .send({ reason: 'not needed any more' });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ id, cron: '30 9 * * 1-5' });
    expect((await engine.as('viewer').get(`/v1/schedules/${id}`)).body.code).toBe('SCHEDULE_NOT_FOUND');
    // The audit outlives the schedule, and cannot be rewritten.
    const audit = await engine.db.query<{ action: string }>(
      `SELECT action FROM saga_schedule_audit WHERE schedule_id = $1 ORDER BY id`,
      [id],
    );
    expect(audit.map((a) => a.action)).toEqual(['create', 'pause', 'resume', 'delete']);
    await expect(engine.db.query(`DELETE FROM saga_schedule_audit WHERE schedule_id = $1`, [id])).rejects.toThrow(
      /append-only/,
    );
  });

  it('fires every second, each tick once with its key, and shows its last runs with their sagas', async () => {
    const res = await create({ ...valid, cron: '* * * * * *', timeZone: 'UTC', overlap: 'allow', catchUp: 'all' });
    const id = res.body.id;
    const detail = await waitFor(
      async () => {
        const body = await get(id);
        return body.lastRuns.filter((r: any) => r.outcome === 'started').length >= 3 ? body : undefined;
      },
      { what: 'three ticks', timeoutMs: 10_000 },
    );
    await patch(id, { paused: true, reason: 'enough' });
    const started = detail.lastRuns.filter((r: any) => r.outcome === 'started');
    for (const run of started) {
      const saga = (await engine.as('viewer').get(`/v1/sagas/${run.sagaId}`)).body;
      expect(saga.type).toBe('schedule-report');
      expect(saga.input).toEqual({ report: 'sales' });
    }
    const keys = await engine.db.query<{ idempotency_key: string }>(
      `SELECT idempotency_key FROM saga_instance WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`,
      [`schedule:${id}:%`],
    );
    const ticks = keys.map((k) => Date.parse(k.idempotency_key.split(':').slice(2).join(':')));
    // Consecutive seconds: none missing, none twice.
    for (let i = 1; i < ticks.length; i++) expect(ticks[i] - ticks[i - 1]).toBe(1_000);
  });

  it("overlap 'skip' skips a tick while the previous run is active; 'buffer' holds one and starts it after", async () => {
    holdOpen = true;
    try {
      const skip = (await create({ ...valid, cron: '* * * * * *', timeZone: 'UTC', overlap: 'skip' })).body.id;
      const buffer = (await create({ ...valid, cron: '* * * * * *', timeZone: 'UTC', overlap: 'buffer' })).body.id;
      const skipped = await waitFor(
        async () => {
          const body = await get(skip);
          return body.lastRuns.some((r: any) => r.outcome === 'skipped') ? body : undefined;
        },
        { what: 'a skipped tick', timeoutMs: 10_000 },
      );
      expect(skipped.lastRuns.filter((r: any) => r.outcome === 'started')).toHaveLength(1);
      expect(skipped.lastRuns.find((r: any) => r.outcome === 'skipped').detail).toContain("overlap 'skip'");
      const buffered = await waitFor(
        async () => {
          const body = await get(buffer);
          return body.bufferedTick !== null ? body : undefined;
        },
        { what: 'a buffered tick', timeoutMs: 10_000 },
      );
      await patch(skip, { paused: true, reason: 'done' });
      // The run it waits for ends: the buffered tick starts.
      holdOpen = false;
      const first = buffered.lastSagaId;
      await engine.as('operator').post(`/v1/sagas/${first}/signals/Release`).send({});
      // (The run is recorded before the schedule moves on: wait for both, or the read may fall between them.)
      const after = await waitFor(
        async () => {
          const body = await get(buffer);
          const run = body.lastRuns.find((r: any) => r.tick === buffered.bufferedTick && r.outcome === 'started');
          return run && body.lastSagaId === run.sagaId ? run : undefined;
        },
        { what: 'the buffered tick to start', timeoutMs: 10_000 },
      );
      // The buffered tick started a saga of its own.
      expect(after.sagaId).toEqual(expect.any(String));
      expect(after.sagaId).not.toBe(first);
      await patch(buffer, { paused: true, reason: 'done' });
    } finally {
      holdOpen = false;
    }
  });
});
