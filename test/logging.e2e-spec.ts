import { Writable } from 'node:stream';
import { startTestEngine, type TestEngine, KEYS } from './support/test-engine';
import { droneInput } from './support/drone-input';
import { waitFor } from './support/wait-for';

/** The engine's own log lines, through pino as the apps write them: JSON, naming the saga, secrets redacted. */
describe('structured logs (e2e)', () => {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ demo: true, logs: stream, env: { LOG_LEVEL: 'log' } });
  });
  afterAll(() => engine?.close());

  it('names the saga, step and attempt on the lines about a saga', async () => {
    const res = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({
        type: 'drone-delivery',
        input: droneInput({
          faults: { 'charge-account': { fatal: true }, 'register-package': { compensationFatal: true } },
        }),
      });
    expect(res.status).toBe(201);
    const saga = await engine.waitForStatus(res.body.id, ['FAILED', 'COMPENSATED', 'COMPLETED']);
    expect(saga.status).toBe('FAILED');
    const alert = await waitFor(() => lines.find((l) => /is FAILED and needs an operator/.test(l.msg)), {
      what: 'the FAILED alert line',
    });
    expect(alert).toMatchObject({ sagaId: saga.id, step: 'register-package', attempt: 1, context: 'Alerts' });
  });

  it('does not log request headers, nor API keys', async () => {
    await engine.as('viewer').get('/v1/saga-types');
    expect(lines.length).toBeGreaterThan(0);
    expect(JSON.stringify(lines)).not.toContain(KEYS.viewer);
    expect(JSON.stringify(lines)).not.toContain(KEYS.operator);
  });
});
