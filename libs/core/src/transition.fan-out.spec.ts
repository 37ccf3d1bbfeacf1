import { countItems, fanOutState } from './fan-out';
import { makeDefinition, type StageSpec } from './testing/make-definition';
import { SagaHarness, definiteError, transientError } from './testing/saga-harness';
import { transition } from './transition';
import type { SagaState } from './types';

const harness = (stages: readonly StageSpec[], input: unknown = {}) => new SagaHarness(makeDefinition(stages), input);

/** The counters and cursors `transition` keeps must always equal a recount of the items. */
function expectCountersConsistent(state: SagaState, step: string): void {
  const fanOut = state.steps[step].fanOut;
  if (!fanOut) return;
  const recount = fanOutState(fanOut.items);
  expect({
    running: fanOut.running,
    undoing: fanOut.undoing,
    succeeded: fanOut.succeeded,
    undoable: fanOut.undoable,
    undoFailed: fanOut.undoFailed,
  }).toEqual({
    running: recount.running,
    undoing: recount.undoing,
    succeeded: recount.succeeded,
    undoable: recount.undoable,
    undoFailed: recount.undoFailed,
  });
}

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ parcel: `p-${i}` }));

describe('a fan-out step', () => {
  const stages: StageSpec[] = ['reserve', { name: 'ship', fanOut: { concurrency: 3 } }, 'notify'];

  function toItems(n: number): SagaHarness {
    const h = harness(stages);
    h.start();
    h.succeed('reserve');
    expect(h.commands).toEqual(['run ship#1']);
    h.fanOutStarted('ship', items(n));
    return h;
  }

  it('runs each item with its own attempt, at most `concurrency` at a time, and collects the outputs in order', () => {
    const h = toItems(5);
    expect(h.commands).toEqual(['items ship#1 x5', 'run ship[0]#1', 'run ship[1]#1', 'run ship[2]#1']);
    expect(h.recorded).toEqual([
      'FanOutStarted ship#1',
      'StepScheduled ship[0]#1',
      'StepScheduled ship[1]#1',
      'StepScheduled ship[2]#1',
    ]);
    expect(h.step('ship').status).toBe('RUNNING');
    expect(countItems(h.step('ship').fanOut!.items)).toEqual({ SCHEDULED: 3, PENDING: 2 });

    h.itemStarted('ship', 1);
    expect(h.item('ship', 1).status).toBe('RUNNING');
    h.itemSucceed('ship', 1, { n: 1 });
    expect(h.commands).toEqual(['run ship[3]#1']);
    h.itemSucceed('ship', 0, { n: 0 });
    expect(h.commands).toEqual(['run ship[4]#1']);
    h.itemSucceed('ship', 4, { n: 4 });
    expect(h.commands).toEqual([]);
    h.itemSucceed('ship', 3, { n: 3 });
    h.itemSucceed('ship', 2, { n: 2 });
    expect(h.step('ship')).toMatchObject({
      status: 'SUCCEEDED',
      output: [{ n: 0 }, { n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }],
    });
    expect(h.recorded).toEqual(['StepSucceeded ship[2]#1', 'StepSucceeded ship#1', 'StepScheduled notify#1']);
    expect(h.commands).toEqual(['run notify#1']);
    h.succeed('notify');
    expect(h.state.status).toBe('COMPLETED');
    expect((h.state.output as Record<string, unknown>).ship).toHaveLength(5);
  });

  it('counts an item whose agent died as a death of its step; a POISONED item is not retried and fails the step', () => {
    const died = (code: 'DEADLINE_EXCEEDED' | 'POISONED') => ({
      name: code === 'POISONED' ? 'Poisoned' : 'DeadlineExceeded',
      code,
      message: `lost (${code})`,
      retryable: code !== 'POISONED',
    });
    const h = toItems(3);
    h.itemStarted('ship', 0);
    h.itemFail('ship', 0, died('DEADLINE_EXCEEDED'));
    expect(h.step('ship').deaths).toBe(1);
    expect(h.item('ship', 0)).toMatchObject({ status: 'RETRYING', attempt: 2 });
    expectCountersConsistent(h.state, 'ship');
    h.itemStarted('ship', 0);
    h.itemFail('ship', 0, died('POISONED'));
    expect(h.step('ship').deaths).toBe(2);
    expect(h.item('ship', 0)).toMatchObject({ status: 'FAILED', error: { code: 'POISONED' } });
    expect(h.step('ship').status).not.toBe('RUNNING');
    expectCountersConsistent(h.state, 'ship');
  });

  it('succeeds at once with an empty list', () => {
    const h = toItems(0);
    expect(h.step('ship')).toMatchObject({ status: 'SUCCEEDED', output: [] });
    expect(h.commands).toEqual(['items ship#1 x0', 'run notify#1']);
  });

  it('retries an item by the step policy, with its own backoff and attempts, while the others go on', () => {
    const h = toItems(4);
    h.itemFail('ship', 1, transientError());
    expect(h.commands).toEqual(['run ship[1]#2 +1000ms']);
    expect(h.item('ship', 1)).toMatchObject({ status: 'RETRYING', attempt: 2, outcomeUnknown: true });
    // A retrying item keeps its slot.
    h.itemSucceed('ship', 0);
    expect(h.commands).toEqual(['run ship[3]#1']);
    h.itemFail('ship', 1, transientError());
    expect(h.commands).toEqual(['run ship[1]#3 +2000ms']);
    h.itemSucceed('ship', 1);
    expect(h.item('ship', 1)).toMatchObject({ status: 'SUCCEEDED', attempt: 3, outcomeUnknown: false });
    // A stale attempt's report is ignored.
    expect(h.itemSucceed('ship', 1, {}, 2).ignored).toMatch(/item 1 of step "ship" is SUCCEEDED/);
    h.itemSucceed('ship', 2);
    h.itemSucceed('ship', 3);
    expect(h.step('ship').status).toBe('SUCCEEDED');
  });

  it('refuses outcomes that do not name an item, name none it has, or are stale', () => {
    const h = toItems(3);
    expect(h.send({ type: 'StepSucceeded', step: 'ship', attempt: 1, output: 1 }).ignored).toBe(
      'step "ship" runs its items: an outcome must name one (item)',
    );
    expect(h.itemSucceed('ship', 7, {}, 1).ignored).toBe('step "ship" has no item 7 (it has 3)');
    expect(h.send({ type: 'StepSucceeded', step: 'reserve', attempt: 1, output: 1, item: 0 }).ignored).toBe(
      'step "reserve" has no items',
    );
    expect(h.itemSucceed('ship', 0, {}, 2).ignored).toBe('stale attempt 2 of item 0 of step "ship" (current is 1)');
    expect(h.fanOutStarted('ship', items(2), undefined, 1).ignored).toMatch(/step "ship" is RUNNING|already known/);
  });

  it('an item failing for good undoes exactly the items that may have taken effect, then the earlier steps', () => {
    const h = toItems(6);
    h.itemSucceed('ship', 0);
    h.itemSucceed('ship', 1); // dispatches 3, 4
    h.itemFail('ship', 2, definiteError());
    expect(h.step('ship')).toMatchObject({ status: 'FAILED', error: { message: 'item 2: definite DECLINED' } });
    expect(h.state.status).toBe('COMPENSATING');
    // Items 3 and 4 are in flight: awaited, nothing undone yet; item 5 never starts.
    expect(h.commands).toEqual([]);
    h.itemFail('ship', 3, transientError()); // not retried while compensating: FAILED, outcome unknown
    expect(h.item('ship', 3)).toMatchObject({ status: 'FAILED', outcomeUnknown: true });
    expect(h.commands).toEqual([]);
    h.itemSucceed('ship', 4);
    // Now the undos, from the last down, three at a time: 4, 3 (unknown outcome), 1; then 0.
    expect(h.commands).toEqual(['undo ship[4]#1', 'undo ship[3]#1', 'undo ship[1]#1']);
    expect(h.step('ship').status).toBe('COMPENSATING');
    h.itemUndone('ship', 3);
    expect(h.commands).toEqual(['undo ship[0]#1']);
    h.itemUndone('ship', 4);
    h.itemUndone('ship', 1);
    expect(h.commands).toEqual([]);
    h.itemUndone('ship', 0);
    expect(h.step('ship').status).toBe('COMPENSATED');
    expect(h.commands).toEqual(['undo reserve#1']);
    h.undone('reserve');
    expect(h.state.status).toBe('COMPENSATED');
    const statuses = h.step('ship').fanOut!.items.map((it) => it.status);
    expect(statuses).toEqual(['COMPENSATED', 'COMPENSATED', 'FAILED', 'COMPENSATED', 'COMPENSATED', 'PENDING']);
    // Every undo was dispatched once.
    const undos = h.history.filter((e) => e.type === 'CompensationScheduled' && e.item !== undefined);
    expect(undos.map((e) => e.item).sort()).toEqual([0, 1, 3, 4]);
  });

  it('an item whose retries are exhausted is undone too (its outcome is unknown)', () => {
    const h = toItems(1);
    for (let attempt = 1; attempt <= 3; attempt++) h.itemFail('ship', 0, transientError());
    // FAILED with its outcome unknown, and at once COMPENSATING: its undo is dispatched in the same transition.
    expect(h.item('ship', 0)).toMatchObject({ status: 'COMPENSATING', attempt: 3, outcomeUnknown: true });
    expect(h.recorded).toContain('StepFailed ship[0]#3');
    expect(h.commands).toEqual(['undo ship[0]#1']);
  });

  it("an operator's cancel stops new items, gives up pending retries, awaits the items in flight, undoes", () => {
    const h = toItems(5);
    h.itemSucceed('ship', 0); // dispatches 3
    h.itemFail('ship', 1, transientError()); // retrying
    h.cancel();
    expect(h.step('ship')).toMatchObject({ status: 'FAILED', error: { code: 'FAN_OUT_ABANDONED' } });
    expect(h.item('ship', 1)).toMatchObject({ status: 'FAILED', outcomeUnknown: true });
    expect(h.commands).toEqual([]);
    // The abandoned retry's job finds itself stale.
    expect(h.itemSucceed('ship', 1, {}, 2).ignored).toMatch(/item 1 of step "ship" is FAILED/);
    h.itemSucceed('ship', 2);
    h.itemSucceed('ship', 3);
    expect(h.commands).toEqual(['undo ship[3]#1', 'undo ship[2]#1', 'undo ship[1]#1']);
    h.itemUndone('ship', 3);
    expect(h.commands).toEqual(['undo ship[0]#1']);
    for (const i of [2, 1, 0]) h.itemUndone('ship', i);
    h.undone('reserve');
    expect(h.state.status).toBe('CANCELLED');
  });

  it('a failed item undo leaves the saga FAILED; a retry runs it again, a resolve settles it', () => {
    const h = toItems(3);
    h.itemSucceed('ship', 0);
    h.itemSucceed('ship', 1);
    h.itemFail('ship', 2, definiteError());
    h.itemUndone('ship', 1);
    h.itemUndoFailed('ship', 0, definiteError('GONE'));
    expect(h.state.status).toBe('FAILED');
    expect(h.state.error).toMatchObject({ step: 'ship', code: 'GONE', message: 'item 0: definite GONE' });
    expect(h.step('ship').status).toBe('COMPENSATION_FAILED');
    expect(h.commands).toEqual(['alert GONE']);

    h.retry();
    expect(h.commands).toEqual(['undo ship[0]#2']);
    expect(h.item('ship', 0).compensation).toMatchObject({ status: 'SCHEDULED', attempt: 2, attemptBase: 1 });
    h.itemUndoFailed('ship', 0, definiteError('GONE'), 2);
    expect(h.state.status).toBe('FAILED');

    expect(h.send({ type: 'CompensationResolved', step: 'ship', item: 1, by: 'op', reason: 'r' }).ignored).toBe(
      'compensation of item 1 of step "ship" is SUCCEEDED',
    );
    h.send({ type: 'CompensationResolved', step: 'ship', by: 'op', reason: 'refunded by hand' });
    expect(h.item('ship', 0)).toMatchObject({ status: 'COMPENSATED', compensation: { status: 'RESOLVED' } });
    expect(h.step('ship').status).toBe('COMPENSATED');
    expect(h.state.status).toBe('COMPENSATING');
    expect(h.commands).toEqual(['undo reserve#1']);
    h.undone('reserve');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('gives up when the saga began compensating while the agent computed the list', () => {
    const h = harness(['reserve', { name: 'ship', fanOut: { concurrency: 2 } }]);
    h.start();
    h.succeed('reserve');
    h.cancel();
    h.fanOutStarted('ship', items(3));
    expect(h.step('ship')).toMatchObject({ status: 'FAILED', error: { code: 'FAN_OUT_ABANDONED' } });
    expect(h.commands).toEqual(['undo reserve#1']);
  });

  it('wants one key per item when the author names them, and none otherwise', () => {
    const h = harness([{ name: 'ship', fanOut: { concurrency: 2, keyed: true } }]);
    h.start();
    expect(h.fanOutStarted('ship', items(2)).ignored).toBe('step "ship": one key per item expected');
    expect(h.fanOutStarted('ship', items(2), ['a']).ignored).toBe('step "ship": one key per item expected');
    h.fanOutStarted('ship', items(2), ['a', 'b']);
    expect(h.last!.commands[0]).toEqual({
      type: 'StartFanOut',
      step: 'ship',
      attempt: 1,
      items: items(2),
      keys: ['a', 'b'],
    });
  });

  it('past the pivot retries items forever, fails the saga on a definite no, and an operator retry reruns them', () => {
    const h = harness([
      { name: 'charge', pivot: true, compensate: false },
      { name: 'ship', fanOut: { concurrency: 2 } },
    ]);
    h.start();
    h.succeed('charge');
    h.fanOutStarted('ship', items(3));
    for (let i = 0; i < 5; i++) h.itemFail('ship', 0, transientError());
    expect(h.item('ship', 0)).toMatchObject({ status: 'RETRYING', attempt: 6 });
    h.itemFail('ship', 1, definiteError());
    expect(h.state.status).toBe('FAILED');
    expect(h.commands).toEqual(['alert DECLINED']);
    h.itemSucceed('ship', 0);
    h.retry();
    expect(h.state.status).toBe('RUNNING');
    // The failed item again (a new round), and the one never started, two at a time.
    expect(h.commands).toEqual(['run ship[1]#2', 'run ship[2]#1']);
    expect(h.item('ship', 1)).toMatchObject({ status: 'SCHEDULED', attempt: 2, attemptBase: 1 });
    h.itemSucceed('ship', 1);
    h.itemSucceed('ship', 2);
    expect(h.state.status).toBe('COMPLETED');
  });

  it('keeps its counters equal to a recount, whatever the order of the outcomes (200 items)', () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const def = makeDefinition(['reserve', { name: 'ship', fanOut: { concurrency: 20 } }]);
    for (let round = 0; round < 5; round++) {
      let state = transition(def, new SagaHarness(def).state, { type: 'SagaStarted' }).state;
      state = transition(def, state, { type: 'StepSucceeded', step: 'reserve', attempt: 1, output: null }).state;
      state = transition(def, state, { type: 'FanOutStarted', step: 'ship', attempt: 1, items: items(200) }).state;
      const failAt = 100 + Math.floor(random() * 100);
      let dispatched = 0;
      for (let guard = 0; guard < 5000; guard++) {
        const fanOut = state.steps.ship.fanOut!;
        const inFlight = fanOut.items.flatMap((it, i) =>
          ['SCHEDULED', 'RUNNING', 'RETRYING'].includes(it.status) ? [{ i, it, undo: false }] : [],
        );
        const undoing = fanOut.items.flatMap((it, i) =>
          it.compensation && ['SCHEDULED', 'RUNNING', 'RETRYING'].includes(it.compensation.status)
            ? [{ i, it, undo: true }]
            : [],
        );
        const live = [...inFlight, ...undoing];
        if (live.length === 0) break;
        const pick = live[Math.floor(random() * live.length)];
        const roll = random();
        const event = pick.undo
          ? roll < 0.2
            ? { type: 'CompensationFailed' as const, error: transientError() }
            : { type: 'CompensationSucceeded' as const }
          : pick.i === failAt
            ? { type: 'StepFailed' as const, error: definiteError() }
            : roll < 0.15
              ? { type: 'StepFailed' as const, error: transientError() }
              : { type: 'StepSucceeded' as const, output: { i: pick.i } };
        const attempt = pick.undo ? pick.it.compensation!.attempt : pick.it.attempt;
        const result = transition(
          def,
          state,
          { ...event, step: 'ship', attempt, item: pick.i },
          {
            random,
          },
        );
        state = result.state;
        dispatched += result.commands.filter((c) => c.type === 'DispatchStep').length;
        expect(state.steps.ship.fanOut!.running).toBeLessThanOrEqual(20);
        expect(state.steps.ship.fanOut!.undoing).toBeLessThanOrEqual(20);
        expectCountersConsistent(state, 'ship');
      }
      expect(dispatched).toBeGreaterThan(0);
      // It ended with every item that may have had an effect undone, before `reserve`.
      const shipItems = state.steps.ship.fanOut!.items;
      expect(shipItems.some((it) => it.status === 'SUCCEEDED')).toBe(false);
      // The failing item failed, or a transient failure exhausted another item's retries first.
      expect(['FAILED', 'PENDING']).toContain(shipItems[failAt].status);
      expect(state.status === 'COMPENSATING' || state.status === 'FAILED').toBe(true);
      if (state.status === 'COMPENSATING') expect(state.steps.reserve.compensation?.status).toBe('SCHEDULED');
    }
  });
});

describe('a fan-out of 10,000 items', () => {
  it('runs to the end with every event cheap: no event scans or rewrites the items', () => {
    const def = makeDefinition([{ name: 'ship', fanOut: { concurrency: 100 } }]);
    let state = transition(def, new SagaHarness(def).state, { type: 'SagaStarted' }).state;
    state = transition(def, state, { type: 'FanOutStarted', step: 'ship', attempt: 1, items: items(10_000) }).state;
    const began = performance.now();
    let events = 0;
    let next = 0;
    while (state.status === 'RUNNING') {
      // The oldest item in flight reports (items are dispatched in order, so it is `next`).
      const item = state.steps.ship.fanOut!.items[next];
      const result = transition(def, state, {
        type: 'StepSucceeded',
        step: 'ship',
        attempt: item.attempt,
        output: next,
        item: next,
      });
      expect(result.ignored).toBeNull();
      // Each event writes the one item it is about, and the one it dispatches: never the 10,000.
      expect(result.commands.length).toBeLessThanOrEqual(1);
      state = result.state;
      next++;
      events++;
    }
    const ms = performance.now() - began;
    expect(state.status).toBe('COMPLETED');
    expect(events).toBe(10_000);
    expect((state.steps.ship.output as number[]).slice(-3)).toEqual([9_997, 9_998, 9_999]);
    // About 0.1 ms per event on a laptop; a generous bound for a loaded CI machine (an O(n) scan per event would be
    // seconds, a rewrite of the items per event far more).
    expect(ms).toBeLessThan(10_000);
  });
});
