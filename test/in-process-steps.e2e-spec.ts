import 'reflect-metadata';
import { defineSaga } from '@saga-engine/sdk';
import { StepQueue } from '../libs/nestjs/src/queue/step-queue';
import { startTestEngine, type TestEngine } from './support/test-engine';

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
    // Observe (not replace) what the scheduler hands to the queue.
    const queue = engine.app.get(StepQueue);
    const enqueue = queue.enqueue.bind(queue);
    queue.enqueue = (jobs) => {
      enqueued.push(...jobs.map((j) => `${j.data.sagaId}:${j.data.step}`));
      return enqueue(jobs);
    };
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
