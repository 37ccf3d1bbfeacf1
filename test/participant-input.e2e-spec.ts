import { defineSaga } from '@saga-engine/sdk';
import { startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/**
 * Issue 6, item 5: what participants send back (outputs, errors, signals) is validated and bounded before it is
 * stored. Here the values PostgreSQL's jsonb itself would refuse (U+0000, lone surrogates) and oversize ones: a
 * step gets a clear OUTPUT_INVALID failure (retried, then compensated) instead of a report that fails forever, an
 * error message is stored with the bad characters replaced, and a signal gets a 400 naming the problem, never 500.
 */
const returnsNul = defineSaga('returns-nul', {
  version: 1,
  defaults: { retry: { maximumAttempts: 2, initialInterval: '50ms' } },
})
  .step('reserve', { run: () => ({ ok: true }), compensate: () => undefined })
  .step('echo', { run: () => ({ text: 'a\u0000b' }) })
  .build();

const throwsNul = defineSaga('throws-nul', { version: 1, defaults: { retry: { maximumAttempts: 1 } } })
  .step('fail', {
    run: () => {
      throw new Error('participant said \u0000 and \ud800');
    },
  })
  .build();

const waits = defineSaga('waits-for-signal', { version: 1 })
  .waitFor('approval', { signal: 'Approved', timeout: '30s' })
  .build();

describe('what participants send back is validated and bounded (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ sagas: [returnsNul, throwsNul, waits], env: { SUPERVISOR_INTERVAL_MS: '100' } });
  });
  afterAll(() => engine?.close());

  const start = async (type: string) => {
    const res = await engine.as('operator').post('/v1/sagas').send({ type, input: {} });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  const stepsOf = (saga: any): Record<string, any> => Object.fromEntries(saga.steps.map((s: any) => [s.name, s]));

  it('an output PostgreSQL cannot store fails the step as OUTPUT_INVALID, and the saga compensates', async () => {
    const saga = await engine.waitForStatus(await start('returns-nul'), ['COMPENSATED', 'FAILED', 'COMPLETED']);
    expect(saga.status).toBe('COMPENSATED');
    const echo = stepsOf(saga).echo;
    expect(echo.attempts).toBe(2);
    expect(echo.error).toMatchObject({
      code: 'OUTPUT_INVALID',
      message: 'step output holds a NUL character (\\u0000)',
    });
    expect(stepsOf(saga).reserve.compensation.status).toBe('SUCCEEDED');
  });

  it('an error message with U+0000 and a lone surrogate is stored with them replaced', async () => {
    const saga = await engine.waitForStatus(await start('throws-nul'), ['COMPENSATED', 'FAILED', 'COMPLETED']);
    expect(stepsOf(saga).fail.error.message).toBe('participant said \ufffd and \ufffd');
  });

  it('a signal payload with U+0000, too deep or too large is a 400 naming the problem; a good one completes', async () => {
    const id = await start('waits-for-signal');
    await waitFor(
      async () => stepsOf((await engine.as('viewer').get(`/v1/sagas/${id}`)).body).approval.status === 'WAITING',
      {
        what: 'the wait',
      },
    );
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { d: deep };
    const bad: [unknown, RegExp][] = [
      [{ payload: { note: 'x\u0000y' } }, /NUL character/],
      [{ payload: deep }, /nested/],
      [{ payload: { blob: 'x'.repeat(60_000), more: 'y'.repeat(10_000) } }, /payload must be at most 65536 bytes/],
      [{ payload: 'text' }, /payload must be a JSON object/],
      [{ payload: {}, extra: 1 }, /property extra should not exist/],
    ];
    for (const [body, message] of bad) {
      const res = await engine
        .as('operator')
        .post(`/v1/sagas/${id}/signals/Approved`)
        .send(body as object);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'INPUT_INVALID' });
      expect(res.body.message).toMatch(message);
      expect(res.text).not.toContain('x\u0000y');
    }
    const ok = await engine
      .as('operator')
      .post(`/v1/sagas/${id}/signals/Approved`)
      .send({ payload: { by: 'ada' } });
    expect(ok.status).toBeLessThan(300);
    const saga = await engine.waitForStatus(id, ['COMPLETED', 'FAILED', 'COMPENSATED']);
    expect(stepsOf(saga).approval.output).toEqual({ by: 'ada' });
  });
});
