import 'reflect-metadata';
import { defineSaga } from '@saga-engine/sdk';
import { StepQueue } from '../libs/nestjs/src/queue/step-queue';
import { startTestEngine, type TestEngine } from './support/test-engine';

/** Records (without replacing) what the engine hands to the queue, as `<sagaId>:<step>`. */
function observeEnqueues(engine: TestEngine, into: string[]): void {
  const queue = engine.app.get(StepQueue);
  const enqueue = queue.enqueue.bind(queue);
  queue.enqueue = (jobs) => {
    into.push(...jobs.map((j) => `${j.data.sagaId}:${j.data.step}`));
    return enqueue(jobs);
  };
}

/**
 * Issue 9: the agent runs a saga's next step itself, right after the commit that dispatched it, instead of a
 * BullMQ round trip. With AGENT_CONCURRENCY=1 a five-step saga needs one slot at a time: each step's handler has
 * settled before its report commits and dispatches the next, so every step runs in-process and nothing goes to
 * the queue. (Counted until the report, the slot was still held when the next step was dispatched, and four of
 * the five steps went through BullMQ.) The handlers' signals are checked too: released when the step ends, not
 * aborted later by a timer left armed for the step's whole timeout.
 */
const signals: AbortSignal[] = [];
const step = (ctx: { signal: AbortSignal; step: string }) => {
  signals.push(ctx.signal);
  return { step: ctx.step };
};
const chain = defineSaga('in-process-chain', { version: 1 })
  .step('one', { run: step, compensate: () => undefined, timeout: '300ms' })
  .step('two', { run: step, compensate: () => undefined, timeout: '300ms' })
  .step('three', { run: step, compensate: () => undefined, timeout: '300ms' })
  .step('four', { run: step, compensate: () => undefined, timeout: '300ms' })
  .step('five', { run: step, timeout: '300ms' })
  .build();

describe('steps run in-process, one concurrency slot (e2e)', () => {
  let engine: TestEngine;
  const enqueued: string[] = [];

  beforeAll(async () => {
    engine = await startTestEngine({ sagas: [chain], env: { AGENT_CONCURRENCY: '1' } });
    observeEnqueues(engine, enqueued);
  });

  afterAll(async () => {
    await engine?.close();
  });

  it('runs all five steps of a saga without a job, one after another on one slot', async () => {
    for (let i = 0; i < 3; i++) {
      const started = await engine.as('operator').post('/v1/sagas').send({ type: 'in-process-chain', input: {} });
      expect(started.status).toBe(201);
      const saga = await engine.waitForStatus(started.body.id, ['COMPLETED', 'FAILED', 'COMPENSATED']);
      expect(saga.status).toBe('COMPLETED');
      expect(saga.steps.map((s: { status: string }) => s.status)).toEqual(Array(5).fill('SUCCEEDED'));
      expect(enqueued.filter((j) => j.startsWith(started.body.id))).toEqual([]);
    }
  });

  it("leaves no step's signal to be aborted after the step returned", async () => {
    expect(signals.length).toBe(15);
    // Past every step's 300 ms timeout: a timer still armed would have aborted its signal by now.
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(signals.filter((s) => s.aborted)).toEqual([]);
  });
});

/**
 * Issue 20: when every slot is taken, a hand-over waits in the process for one (a burst of starts over REST then
 * runs without a BullMQ round trip per saga), and the starts themselves wait briefly for room. A hand-over that
 * waited past the running mark goes to the queue under its job id, and still runs once.
 */
const runs = new Map<string, number>();
const counted = (ms: number) => async (ctx: { sagaId: string; step: string }) => {
  const key = `${ctx.sagaId}:${ctx.step}`;
  runs.set(key, (runs.get(key) ?? 0) + 1);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return {};
};
const burst = defineSaga('in-process-burst', { version: 1 })
  .step('one', { run: counted(1) })
  .step('two', { run: counted(1) })
  .step('three', { run: counted(1) })
  .build();
const slow = defineSaga('in-process-slow', { version: 1 })
  .step('hog', { run: counted(2_500) })
  .build();

describe('hand-overs wait for a slot in the process (e2e)', () => {
  let engine: TestEngine;
  const enqueued: string[] = [];

  beforeAll(async () => {
    engine = await startTestEngine({
      sagas: [burst, slow],
      // Two slots; the running mark (and so the longest wait for a slot) at its most, 1 s.
      env: { AGENT_CONCURRENCY: '2', SCHEDULE_TO_START_MS: '4000' },
    });
    observeEnqueues(engine, enqueued);
  });

  afterAll(async () => {
    await engine?.close();
  });

  /** Starts `n` sagas of `type` at once (each answered 201) and waits for each to end COMPLETED; answers their ids. */
  const startCompleted = async (type: string, n: number): Promise<string[]> => {
    const started = await Promise.all(
      Array.from({ length: n }, () => engine.as('operator').post('/v1/sagas').send({ type, input: {} })),
    );
    expect(started.map((r) => r.status)).toEqual(Array(n).fill(201));
    const ids = started.map((r) => r.body.id as string);
    for (const id of ids) {
      expect((await engine.waitForStatus(id, ['COMPLETED', 'FAILED', 'COMPENSATED'])).status).toBe('COMPLETED');
    }
    return ids;
  };

  it('runs a burst of 40 sagas on two slots without a job, each step once', async () => {
    for (const id of await startCompleted('in-process-burst', 40)) {
      for (const step of ['one', 'two', 'three']) expect(runs.get(`${id}:${step}`)).toBe(1);
    }
    expect(enqueued).toEqual([]);
  });

  it('sends a hand-over that waited past the running mark to the queue, where it runs once', async () => {
    // Two sagas hold both slots for 2.5 s; the next ones wait for a slot, then go to the queue after 1 s.
    for (const id of await startCompleted('in-process-slow', 5)) {
      expect(runs.get(`${id}:hog`)).toBe(1);
      const saga = await engine.as('operator').get(`/v1/sagas/${id}`);
      // Not a failed or timed-out attempt: the wait was not the attempt's.
      expect(saga.body.steps[0].attempts).toBe(1);
    }
    const spilled = enqueued.filter((j) => j.endsWith(':hog'));
    expect(spilled.length).toBeGreaterThanOrEqual(1);
    expect(spilled.length).toBeLessThanOrEqual(3);
  });
});
