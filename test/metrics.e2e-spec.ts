import { startTestEngine, type TestEngine } from './support/test-engine';
import { droneInput } from './support/drone-input';

/** One sample of the text exposition format: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `labels`. */
function sum(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0);
}

/** `/metrics` after a happy and a compensated drone-delivery saga: the counters moved by exactly those sagas. */
describe('metrics (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ demo: true });
  });
  afterAll(() => engine?.close());

  const scrape = async () => {
    const res = await engine.as('viewer').get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    return parse(res.text);
  };

  async function run(body: Record<string, unknown>) {
    const res = await engine.as('operator').post('/v1/sagas').send({ type: 'drone-delivery', input: body });
    expect(res.status).toBe(201);
    return engine.waitForStatus(res.body.id, ['COMPLETED', 'COMPENSATED', 'FAILED']);
  }

  const events = async (id: string) => (await engine.as('viewer').get(`/v1/sagas/${id}/events?limit=200`)).body.items;

  it('counts the sagas, attempts, compensations and durations of a happy and a compensated saga', async () => {
    const before = await scrape();
    const type = { type: 'drone-delivery' };
    expect(sum(before, 'saga_started_total', type)).toBe(0);

    const happy = await run(droneInput());
    const compensated = await run(droneInput({ faults: { 'charge-account': { fatal: true } } }));
    expect([happy.status, compensated.status]).toEqual(['COMPLETED', 'COMPENSATED']);

    const after = await scrape();
    expect(sum(after, 'saga_started_total', type)).toBe(2);
    expect(sum(after, 'saga_finished_total', { ...type, status: 'COMPLETED' })).toBe(1);
    expect(sum(after, 'saga_finished_total', { ...type, status: 'COMPENSATED' })).toBe(1);
    expect(sum(after, 'saga_finished_total', { ...type, status: 'FAILED' })).toBe(0);
    expect(sum(after, 'saga_duration_seconds_count', type)).toBe(2);

    // Every attempt the history records, by outcome, and nothing else.
    const history = [...(await events(happy.id)), ...(await events(compensated.id))];
    const count = (t: string) => history.filter((e: any) => e.type === t).length;
    const run_ = { ...type, phase: 'run' };
    const undo = { ...type, phase: 'undo' };
    expect(sum(after, 'saga_step_attempts_total', { ...run_, outcome: 'succeeded' })).toBe(count('StepSucceeded'));
    expect(sum(after, 'saga_step_attempts_total', { ...run_, outcome: 'failed' })).toBe(count('StepFailed'));
    expect(sum(after, 'saga_step_attempts_total', { ...undo, outcome: 'succeeded' })).toBe(
      count('CompensationSucceeded'),
    );
    expect(sum(after, 'saga_step_attempts_total', { ...undo, outcome: 'failed' })).toBe(0);
    const failure = history.find((e: any) => e.type === 'StepFailed');
    expect(failure.step).toBe('charge-account');
    expect(
      sum(after, 'saga_step_attempts_total', { ...run_, step: 'charge-account', error: failure.data.error.code }),
    ).toBe(1);
    expect(sum(after, 'saga_step_duration_seconds_count', type)).toBe(
      count('StepSucceeded') + count('StepFailed') + count('CompensationSucceeded'),
    );

    // Compensations started: one per step undone in the compensated saga; no retries in either.
    const undone = compensated.steps.filter((s: any) => s.status === 'COMPENSATED').length;
    expect(undone).toBeGreaterThan(0);
    expect(sum(after, 'saga_compensations_total', type)).toBe(undone);
    expect(sum(after, 'saga_retries_total', type)).toBe(0);

    expect(sum(after, 'saga_failed')).toBe(0);
    expect(after.some((s) => s.name === 'saga_queue_jobs' && s.labels.state === 'waiting')).toBe(true);
    expect(after.some((s) => s.name === 'saga_queue_oldest_waiting_age_seconds')).toBe(true);
    expect(after.some((s) => s.name === 'saga_supervisor_last_sweep_timestamp_seconds' && s.value > 0)).toBe(true);
  });

  it('counts a retry of a transient fault', async () => {
    const saga = await run(droneInput({ faults: { 'register-package': { transient: 2 } } }));
    expect(saga.status).toBe('COMPLETED');
    const after = await scrape();
    expect(sum(after, 'saga_retries_total', { step: 'register-package', phase: 'run' })).toBe(2);
    expect(
      sum(after, 'saga_step_attempts_total', { step: 'register-package', outcome: 'failed', error: 'FAULT_TRANSIENT' }),
    ).toBe(2);
  });

  it('needs a key (viewer is enough), like every route but /health', async () => {
    const anonymous = await engine.http().get('/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('AUTH_REQUIRED');
    expect(anonymous.text).not.toContain('saga_started_total');
    expect((await engine.http().get('/metrics').set('Authorization', 'Bearer not-a-key-0000000000')).status).toBe(401);
    expect((await engine.as('viewer').get('/metrics')).status).toBe(200);
  });

  it('keeps a registry per engine, and reads the queue on the PostgreSQL backend too', async () => {
    const other = await startTestEngine({ demo: true, queue: 'postgres' });
    try {
      const samples = parse((await other.as('viewer').get('/metrics')).text);
      expect(sum(samples, 'saga_started_total')).toBe(0);
      expect(samples.find((s) => s.name === 'saga_queue_jobs' && s.labels.state === 'waiting')?.value).toBe(0);
      expect(samples.find((s) => s.name === 'saga_queue_oldest_waiting_age_seconds')?.value).toBe(0);
    } finally {
      await other.close();
    }
    expect(sum(await scrape(), 'saga_started_total')).toBe(3);
  });
});
