import { stepOutputs } from './outputs';
import { stepKey, undoKey } from './step-key';
import { makeDefinition, type StageSpec } from './testing/make-definition';
import { SagaHarness, definiteError, transientError } from './testing/saga-harness';

const harness = (stages: readonly StageSpec[]) => new SagaHarness(makeDefinition(stages));
const by = 'key ops (operator)';
const retryFrom = (h: SagaHarness, step: string, reason = 'participant fixed its data') =>
  h.send({ type: 'RetryFromStepRequested', step, by, reason });
const skip = (h: SagaHarness, step: string, output: unknown, reason = 'done by hand, ticket 12') =>
  h.send({ type: 'SkipRequested', step, output, by, reason });

// a -> pivot -> [b | c] -> d -> e
const stages: StageSpec[] = [
  'a',
  { name: 'pivot', pivot: true, compensate: false },
  { group: 'g', steps: ['b', 'c'] },
  'd',
  'e',
];

/** Past the pivot, d failed for good: the saga is FAILED, e never ran. */
const failedAtD = () => {
  const h = harness(stages);
  h.start();
  h.succeed('a');
  h.succeed('pivot');
  h.succeed('b', { booked: 1 });
  h.succeed('c');
  h.fail('d', definiteError('DECLINED'));
  expect(h.state.status).toBe('FAILED');
  return h;
};

const completed = () => {
  const h = harness(stages);
  h.start();
  for (const step of ['a', 'pivot', 'b', 'c', 'd', 'e']) h.succeed(step);
  expect(h.state.status).toBe('COMPLETED');
  return h;
};

describe('retry from a step (RetryFromStepRequested)', () => {
  it('re-runs a FAILED saga from a completed step: that step and every later one, with a new run number', () => {
    const h = failedAtD();
    retryFrom(h, 'b');
    expect(h.last!.ignored).toBeNull();
    expect(h.state.status).toBe('RUNNING');
    expect(h.state.error).toBeNull();
    // b again (its new run); c, its sibling that SUCCEEDED, keeps its result; d and e wait for their stages.
    expect(h.recorded).toEqual(['RetryFromStepRequested b', 'StepScheduled b#2']);
    expect(h.commands).toEqual(['run b#2']);
    expect(h.last!.history[0].data).toEqual({ by, reason: 'participant fixed its data', steps: ['b', 'd', 'e'] });
    expect(h.step('b')).toMatchObject({ status: 'SCHEDULED', attempt: 2, attemptBase: 1, run: 1, output: null });
    expect(h.step('c')).toMatchObject({ status: 'SUCCEEDED', attempt: 1 });
    expect(h.step('c').run ?? 0).toBe(0);
    // d had run (and failed): new run; e never ran: same key as ever.
    expect(h.step('d')).toMatchObject({ status: 'PENDING', attempt: 1, attemptBase: 1, run: 1, error: null });
    expect(h.step('e')).toMatchObject({ status: 'PENDING', attempt: 0 });
    expect(h.step('e').run ?? 0).toBe(0);

    h.succeed('b', { booked: 2 });
    expect(h.commands).toEqual(['run d#2']);
    h.succeed('d');
    h.succeed('e');
    expect(h.state.status).toBe('COMPLETED');
    expect(h.state.output).toMatchObject({ b: { booked: 2 } });
  });

  it('gives the re-run new idempotency keys, and ordinary retries of the re-run the same one', () => {
    expect(stepKey('s1', 'b', 0)).toBe('s1:b');
    expect(stepKey('s1', 'b', undefined)).toBe('s1:b');
    expect(stepKey('s1', 'b', 2)).toBe('s1:b:rerun-2');
    expect(stepKey('s1', 'b', 1, 'sku-1')).toBe('s1:b:sku-1:rerun-1');
    expect(undoKey(stepKey('s1', 'b', 1))).toBe('s1:b:rerun-1:undo');

    const h = failedAtD();
    retryFrom(h, 'd');
    expect(h.step('d').run).toBe(1);
    h.fail('d', transientError());
    expect(h.step('d')).toMatchObject({ status: 'RETRYING', attempt: 3, run: 1 });
    h.fail('d', definiteError());
    expect(h.state.status).toBe('FAILED');
    retryFrom(h, 'd');
    expect(h.step('d')).toMatchObject({ status: 'SCHEDULED', attempt: 4, attemptBase: 3, run: 2 });
    // An ordinary retry keeps the run (and the key).
    h.fail('d', definiteError());
    h.retry();
    expect(h.step('d')).toMatchObject({ status: 'SCHEDULED', attempt: 5, run: 2 });
  });

  it('re-opens a COMPLETED saga (its output is computed again at the end)', () => {
    const h = completed();
    retryFrom(h, 'd');
    expect(h.state.status).toBe('RUNNING');
    expect(h.state.output).toBeNull();
    expect(h.commands).toEqual(['run d#2']);
    expect(h.last!.history[0].data).toMatchObject({ steps: ['d', 'e'] });
    h.succeed('d', { again: true });
    h.succeed('e');
    expect(h.state.status).toBe('COMPLETED');
    expect(h.state.output).toMatchObject({ d: { again: true } });
  });

  it('refuses from the pivot or before it, once the pivot SUCCEEDED', () => {
    const h = completed();
    expect(retryFrom(h, 'pivot').ignored).toMatch(/not after the pivot step "pivot".*cannot be undone/);
    expect(retryFrom(h, 'a').ignored).toMatch(/not after the pivot step "pivot"/);
  });

  it('allows any step of a saga without pivot, and compensates only the re-run if it then fails', () => {
    const h = harness(['a', 'b', 'c']);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.succeed('c');
    retryFrom(h, 'a');
    expect(h.commands).toEqual(['run a#2']);
    expect(h.step('a').run).toBe(1);
    h.succeed('a');
    h.fail('b', definiteError());
    // b had no effect; a's re-run is undone (its compensation, keyed by its new run).
    expect(h.commands).toEqual(['undo a#1']);
    expect(h.step('a')).toMatchObject({ status: 'COMPENSATING', run: 1 });
  });

  it('refuses COMPENSATED, CANCELLED, RUNNING and COMPENSATING sagas, and failed compensations', () => {
    const undone = harness(['a', 'b']);
    undone.start();
    undone.succeed('a');
    undone.fail('b', definiteError());
    expect(retryFrom(undone, 'a').ignored).toBe(
      'saga is COMPENSATING: only a FAILED or COMPLETED saga is re-run from a step',
    );
    undone.undone('a');
    expect(undone.state.status).toBe('COMPENSATED');
    expect(retryFrom(undone, 'a').ignored).toBe('saga is COMPENSATED: its steps were undone, start a new saga');

    const running = harness(['a', 'b']);
    running.start();
    running.succeed('a');
    expect(retryFrom(running, 'a').ignored).toMatch(/saga is RUNNING/);

    const stuck = harness(['a', 'b']);
    stuck.start();
    stuck.succeed('a');
    stuck.fail('b', definiteError());
    stuck.undoFailed('a', definiteError());
    expect(stuck.state.status).toBe('FAILED');
    expect(retryFrom(stuck, 'a').ignored).toMatch(/compensation of step "a" FAILED: retry or resolve it/);
  });

  it('refuses a step that has not run, an earlier step not settled, a step in flight, and unknown steps', () => {
    const h = failedAtD();
    expect(retryFrom(h, 'e').ignored).toMatch(/step "e" is PENDING/);
    expect(retryFrom(h, 'nope').ignored).toBe('unknown step "nope"');

    // a -> pivot -> [b | c]: b failed past the pivot while c runs.
    const group = harness([
      'a',
      { name: 'pivot', pivot: true, compensate: false },
      { group: 'g', steps: ['b', 'c'] },
      'd',
    ]);
    group.start();
    group.succeed('a');
    group.succeed('pivot');
    group.fail('b', definiteError());
    expect(group.state.status).toBe('FAILED');
    expect(retryFrom(group, 'b').ignored).toBe('step "c" is SCHEDULED: wait for its outcome');
    group.succeed('c');
    // From c (SUCCEEDED): b, its sibling that FAILED, runs again with it.
    retryFrom(group, 'c');
    expect(group.commands).toEqual(['run b#2', 'run c#2']);

    // From the FAILED step itself: allowed (a new key for it, unlike POST /retry).
    expect(retryFrom(failedAtD(), 'd').ignored).toBeNull();
  });

  it('refuses a fan-out or a child step that ran, in the re-run', () => {
    const fan = harness(['a', { name: 'f', fanOut: { concurrency: 2 } }, 'z']);
    fan.start();
    fan.succeed('a');
    fan.fanOutStarted('f', [1]);
    fan.itemSucceed('f', 0);
    fan.succeed('z');
    expect(fan.state.status).toBe('COMPLETED');
    expect(retryFrom(fan, 'a').ignored).toMatch(/step "f" is a fan-out that ran/);
    expect(retryFrom(fan, 'z').ignored).toBeNull();
  });
});

describe('skip a step (SkipRequested)', () => {
  it('completes a FAILED step past the pivot with the operator output; the saga goes on and later steps read it', () => {
    const h = failedAtD();
    skip(h, 'd', { trackingId: 'T-1' });
    expect(h.last!.ignored).toBeNull();
    expect(h.recorded).toEqual(['StepSkippedByOperator d#1', 'StepScheduled e#1']);
    expect(h.last!.history[0].data).toEqual({ by, reason: 'done by hand, ticket 12' });
    expect(h.state.status).toBe('RUNNING');
    expect(h.state.error).toBeNull();
    expect(h.step('d')).toMatchObject({
      status: 'SUCCEEDED',
      output: { trackingId: 'T-1' },
      skipped: true,
      error: null,
    });
    expect(stepOutputs(h.def, h.state)).toMatchObject({ d: { trackingId: 'T-1' } });
    h.succeed('e');
    expect(h.state.status).toBe('COMPLETED');
    expect(h.state.output).toMatchObject({ d: { trackingId: 'T-1' } });
  });

  it('skips a step waiting for its retry (its delayed attempt is stale) and a PENDING step of a RUNNING saga', () => {
    const h = harness(['a', 'b', 'c']);
    h.start();
    h.fail('a', transientError());
    expect(h.step('a').status).toBe('RETRYING');
    skip(h, 'a', { manual: true });
    expect(h.commands).toEqual(['run b#1']);
    // The attempt that was waiting reports late: ignored.
    expect(h.succeed('a', {}, 2).ignored).toBe('step "a" is SUCCEEDED');
    skip(h, 'c', 42);
    expect(h.commands).toEqual([]);
    expect(h.step('c')).toMatchObject({ status: 'SUCCEEDED', output: 42, skipped: true, attempt: 0 });
    expect(h.recorded).toEqual(['StepSkippedByOperator c']);
    h.succeed('b');
    expect(h.state.status).toBe('COMPLETED');
  });

  it('never compensates a skipped step', () => {
    const h = harness(['a', 'b', 'c']);
    h.start();
    h.succeed('a');
    h.fail('b', transientError());
    skip(h, 'b', null);
    h.fail('c', definiteError());
    // Only a is undone: b was skipped.
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(h.step('b').compensation).toBeNull();
  });

  it('keeps a FAILED saga FAILED while another step still FAILED', () => {
    const h = harness(['a', { name: 'pivot', pivot: true, compensate: false }, { group: 'g', steps: ['b', 'c'] }]);
    h.start();
    h.succeed('a');
    h.succeed('pivot');
    h.fail('b', definiteError());
    h.fail('c', definiteError());
    expect(h.state.status).toBe('FAILED');
    skip(h, 'b', { by: 'hand' });
    expect(h.state.status).toBe('FAILED');
    expect(h.commands).toEqual([]);
    skip(h, 'c', { by: 'hand' });
    expect(h.state.status).toBe('COMPLETED');
  });

  it('refuses steps in flight, done, waiting, compensating sagas, failed compensations and fan-outs that ran', () => {
    const h = harness(['a', 'b']);
    h.start();
    expect(skip(h, 'a', 1).ignored).toMatch(/step "a" is SCHEDULED: only a FAILED, RETRYING or PENDING/);
    h.succeed('a');
    expect(skip(h, 'a', 1).ignored).toMatch(/step "a" is SUCCEEDED/);
    expect(skip(h, 'x', 1).ignored).toBe('unknown step "x"');

    const fresh = harness(['a']);
    expect(skip(fresh, 'a', 1).ignored).toBe('saga has not started');

    const undoing = harness(['a', 'b', 'c']);
    undoing.start();
    undoing.succeed('a');
    undoing.fail('b', definiteError());
    expect(skip(undoing, 'c', 1).ignored).toMatch(/saga is COMPENSATING/);
    undoing.undoFailed('a', definiteError());
    expect(undoing.state.status).toBe('FAILED');
    expect(skip(undoing, 'c', 1).ignored).toMatch(/compensation of step "a" FAILED: resolve it instead/);

    const wait = harness([{ name: 'w', signal: 'go', compensate: false }]);
    wait.start();
    expect(skip(wait, 'w', 1).ignored).toMatch(/step "w" is WAITING/);
  });
});
