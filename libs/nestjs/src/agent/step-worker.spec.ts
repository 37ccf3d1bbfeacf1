import { DelayedError } from 'bullmq';
import { StepPhase } from '@saga-engine/core';
import type { StepJobData } from '../queue/step-job';
import type { LocalRun } from '../scheduler/saga-scheduler';
import { HandlerSlots } from './handler-slots';
import { StepWorker } from './step-worker';

const tick = () => new Promise((resolve) => setImmediate(resolve));

const jobData = (sagaId: string, version = 1): StepJobData => ({
  sagaId,
  type: 'order',
  version,
  step: 'charge',
  phase: StepPhase.RUN,
  attempt: 1,
});

/**
 * A StepWorker whose executor only records the attempts it was handed (its handlers run until the test ends them);
 * its workers are not opened: the test hands it attempts as the scheduler (in-process) and BullMQ (a job) would.
 */
function agent(concurrency: number, queue?: { enqueue: (jobs: { data: StepJobData }[]) => Promise<void> }) {
  const running: { sagaId: string; end: () => void }[] = [];
  const executor = {
    execute: (job: StepJobData, _committed: unknown, handlerDone?: () => void) =>
      new Promise((resolve) =>
        running.push({
          sagaId: job.sagaId,
          end: () => {
            handlerDone?.();
            resolve('applied');
          },
        }),
      ),
  };
  const registry = { code: () => ({}) };
  const worker = new StepWorker(
    executor as never,
    {} as never,
    registry as never,
    {} as never,
    { agentConcurrency: concurrency, runningMarkMs: 50 },
    undefined,
    undefined,
    (queue ?? null) as never,
  );
  const internals = worker as unknown as {
    reserveLocal(job: StepJobData, state: unknown): LocalRun | null;
    process(job: unknown, token: string): Promise<unknown>;
    room(type: string, version: number): Promise<void> | null;
  };
  const inProcess = (sagaId: string) => {
    const run = internals.reserveLocal(jobData(sagaId), { steps: {} });
    run?.start({} as never);
    return run;
  };
  const fromQueue = (sagaId: string, version = 1) =>
    internals.process({ data: jobData(sagaId, version), updateData: async () => undefined }, 'token');
  return { running, inProcess, fromQueue, internals };
}

describe('StepWorker: AGENT_CONCURRENCY bounds every handler of a saga version, in-process or from the queue', () => {
  it('a job from the queue waits for a slot before it is started, and an in-process run then goes to the queue', async () => {
    const { running, inProcess, fromQueue } = agent(2);
    expect(inProcess('a')).not.toBeNull();
    expect(inProcess('b')).not.toBeNull();
    // Both slots are held: the next in-process run goes through the queue...
    expect(inProcess('c')).toBeNull();
    // ...and a job taken from the queue waits, not started (its wait is schedule-to-start, not its timeout).
    const job = fromQueue('d');
    await tick();
    expect(running.map((r) => r.sagaId)).toEqual(['a', 'b']);
    // A handler settles: its slot goes to the job that waits, not to a new in-process run.
    running[0].end();
    await tick();
    expect(running.map((r) => r.sagaId)).toEqual(['a', 'b', 'd']);
    expect(inProcess('e')).toBeNull();
    running[2].end();
    await expect(job).resolves.toBe('applied');
    // Its slot is free again: an in-process run takes it.
    expect(inProcess('f')).not.toBeNull();
    expect(running.map((r) => r.sagaId)).toEqual(['a', 'b', 'd', 'f']);
  });

  it('sends a job that a participant limit held back to the delayed set when no slot is free, rather than wait', async () => {
    const { running, inProcess, internals } = agent(1);
    expect(inProcess('a')).not.toBeNull();
    const delayed: number[] = [];
    const job = {
      data: { ...jobData('b'), throttled: true },
      updateData: async () => undefined,
      moveToDelayed: async (at: number) => void delayed.push(at),
    };
    // It may have been started already: its deadline counts from when it was taken, so it must not wait here.
    await expect(internals.process(job, 'token')).rejects.toBeInstanceOf(DelayedError);
    expect(delayed).toHaveLength(1);
    expect(running.map((r) => r.sagaId)).toEqual(['a']);
  });

  it('counts each saga version apart', async () => {
    const { running, inProcess, fromQueue } = agent(1);
    expect(inProcess('a')).not.toBeNull();
    void fromQueue('b', 1);
    void fromQueue('c', 2);
    await tick();
    // Version 1's one slot is held by `a`: `b` waits; version 2 has its own.
    expect(running.map((r) => r.sagaId)).toEqual(['a', 'c']);
  });
});

describe('StepWorker: a hand-over waits in line for a slot, briefly, rather than go through the queue', () => {
  const recording = () => {
    const enqueued: string[] = [];
    return {
      enqueued,
      queue: {
        enqueue: async (jobs: { data: StepJobData }[]) => void enqueued.push(...jobs.map((j) => j.data.sagaId)),
      },
    };
  };

  it('runs a hand-over that waited when a slot frees, in order, with nothing enqueued', async () => {
    const { enqueued, queue } = recording();
    const { running, inProcess } = agent(1, queue);
    expect(inProcess('a')).not.toBeNull();
    expect(inProcess('b')).not.toBeNull(); // in line, not the queue
    expect(inProcess('c')).not.toBeNull();
    expect(running.map((r) => r.sagaId)).toEqual(['a']);
    running[0].end();
    await tick();
    expect(running.map((r) => r.sagaId)).toEqual(['a', 'b']);
    running[1].end();
    await tick();
    expect(running.map((r) => r.sagaId)).toEqual(['a', 'b', 'c']);
    expect(enqueued).toEqual([]);
  });

  it('sends a hand-over still in line after the running mark to the queue, and never runs it here', async () => {
    const { enqueued, queue } = recording();
    const { running, inProcess } = agent(1, queue);
    inProcess('a');
    inProcess('b');
    await new Promise((resolve) => setTimeout(resolve, 80)); // past runningMarkMs (50)
    expect(enqueued).toEqual(['b']);
    running[0].end();
    await tick();
    expect(running.map((r) => r.sagaId)).toEqual(['a']);
    // Its slot is free for the next one.
    expect(inProcess('c')).not.toBeNull();
    expect(running.map((r) => r.sagaId)).toEqual(['a', 'c']);
  });

  it('leaves the line when its commit did not happen, and the slot goes to the next', async () => {
    const { enqueued, queue } = recording();
    const { running, internals } = agent(1, queue);
    const a = internals.reserveLocal(jobData('a'), { steps: {} })!;
    a.start({} as never);
    const b = internals.reserveLocal(jobData('b'), { steps: {} })!;
    const c = internals.reserveLocal(jobData('c'), { steps: {} })!;
    b.release(); // b's commit failed
    c.start({} as never);
    running[0].end();
    await tick();
    expect(running.map((r) => r.sagaId)).toEqual(['a', 'c']);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(enqueued).toEqual([]);
  });

  it('refuses more than 4 per slot in line: those go to the queue as before', () => {
    const { queue } = recording();
    const { inProcess } = agent(1, queue);
    const taken = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => inProcess(id) !== null);
    expect(taken).toEqual([true, true, true, true, true, false]);
  });

  it("makes a new start wait for room while a slot's worth waits in line, and lets it in as the line shortens", async () => {
    const { queue } = recording();
    const { running, inProcess, internals } = agent(1, queue);
    expect(internals.room('order', 1)).toBeNull();
    inProcess('a');
    inProcess('b');
    let admitted = false;
    void internals.room('order', 1)!.then(() => (admitted = true));
    await tick();
    expect(admitted).toBe(false);
    running[0].end(); // b gets the slot: the line is empty again
    await tick();
    expect(admitted).toBe(true);
  });
});

describe('HandlerSlots', () => {
  it('hands a released slot to the first in line, and refuses tryTake while anyone waits', async () => {
    const slots = new HandlerSlots(1);
    const first = slots.tryTake()!;
    expect(slots.tryTake()).toBeNull();
    const order: string[] = [];
    const w1 = slots.take().then((release) => (order.push('w1'), release));
    const w2 = slots.take().then((release) => (order.push('w2'), release));
    await tick();
    expect(order).toEqual([]);
    first();
    first(); // twice: nothing more
    const r1 = await w1;
    await tick();
    expect(order).toEqual(['w1']);
    expect(slots.busy).toBe(1);
    r1();
    const r2 = await w2;
    expect(order).toEqual(['w1', 'w2']);
    r2();
    expect(slots.busy).toBe(0);
    expect(slots.tryTake()).not.toBeNull();
  });
});
