import { initialState } from './initial-state';
import { SagaStatus } from './status';
import {
  TEST_COMPENSATION_TIMEOUT_MS,
  TEST_TIMEOUT_MS,
  makeDefinition,
  type StageSpec,
} from './testing/make-definition';
import {
  SagaHarness,
  deepFreeze,
  definiteError,
  describeHistory,
  timeoutError,
  transientError,
} from './testing/saga-harness';
import { transition } from './transition';
import type { SagaEvent, SagaEventType, SagaState } from './types';

const harness = (stages: readonly StageSpec[], input: unknown = {}, random?: () => number) =>
  new SagaHarness(makeDefinition(stages), input, random);

// ---------------------------------------------------------------------------------------------------------------
// Every saga status x every event type, illegal combinations included.
// ---------------------------------------------------------------------------------------------------------------

describe('every status x every event', () => {
  // a -> [b | c] -> s (sleeps until a time the agent computes) -> pivot (nothing to undo) -> [d | e | w waits for
  // signal "go"]
  const def = makeDefinition([
    'a',
    { group: 'g', steps: ['b', 'c'] },
    { name: 's', sleep: { until: () => '2026-12-01T10:00:00Z' }, compensate: false },
    { name: 'pivot', pivot: true, compensate: false },
    { group: 'h', steps: ['d', 'e', { name: 'w', signal: 'go', compensate: false }] },
  ]);

  /** A state reached by real events, and the steps that its events aim at (the "live" ones, when there are). */
  interface Fixture {
    state: SagaState;
    run: { step: string; attempt: number };
    undo: { step: string; attempt: number };
    resolve: string;
  }

  const drive = (...moves: ((h: SagaHarness) => unknown)[]): SagaState => {
    const h = new SagaHarness(def);
    for (const move of moves) move(h);
    return h.state;
  };
  const start = (h: SagaHarness) => h.start();
  const toGroup = [start, (h: SagaHarness) => h.succeed('a')];
  const awaitingC = [...toGroup, (h: SagaHarness) => h.fail('b', definiteError())];
  const undoingC = [...awaitingC, (h: SagaHarness) => h.succeed('c')];
  const toSleep = [...toGroup, (h: SagaHarness) => h.succeed('b'), (h: SagaHarness) => h.succeed('c')];
  const sleeping = [...toSleep, (h: SagaHarness) => h.evaluate('s')];
  const slept = [...sleeping, (h: SagaHarness) => h.timerFired('s')];

  const fixtures = {
    'RUNNING, not started': () => ({
      state: drive(),
      run: { step: 'a', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'a',
    }),
    'RUNNING, b and c in flight': () => ({
      state: drive(...toGroup),
      run: { step: 'b', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'a',
    }),
    'COMPENSATING, awaiting c': () => ({
      state: drive(...awaitingC),
      run: { step: 'c', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'b',
    }),
    'COMPENSATING, undoing c': () => ({
      state: drive(...undoingC),
      run: { step: 'c', attempt: 1 },
      undo: { step: 'c', attempt: 1 },
      resolve: 'c',
    }),
    'RUNNING, s evaluated by the agent': () => ({
      state: drive(...toSleep),
      run: { step: 's', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'a',
    }),
    'RUNNING, s sleeping': () => ({
      state: drive(...sleeping),
      run: { step: 's', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'a',
    }),
    DELAYED: () => ({
      state: drive((h) => h.delay()),
      run: { step: 'a', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'a',
    }),
    COMPLETED: () => ({
      state: drive(
        ...slept,
        (h) => h.succeed('pivot'),
        (h) => h.succeed('d'),
        (h) => h.succeed('e'),
        (h) => h.signal('go'),
      ),
      run: { step: 'e', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'a',
    }),
    COMPENSATED: () => ({
      state: drive(
        ...undoingC,
        (h) => h.undone('c'),
        (h) => h.undone('a'),
      ),
      run: { step: 'c', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'a',
    }),
    CANCELLED: () => ({
      state: drive(
        ...toGroup,
        (h) => h.cancel(),
        (h) => h.succeed('b'),
        (h) => h.succeed('c'),
        (h) => h.undone('b'),
        (h) => h.undone('c'),
        (h) => h.undone('a'),
      ),
      run: { step: 'b', attempt: 1 },
      undo: { step: 'a', attempt: 1 },
      resolve: 'a',
    }),
    'FAILED, compensation of c failed': () => ({
      state: drive(...undoingC, (h) => h.undoFailed('c', definiteError())),
      run: { step: 'c', attempt: 1 },
      undo: { step: 'c', attempt: 1 },
      resolve: 'c',
    }),
    'FAILED, d failed after the pivot, e in flight, w waiting': () => ({
      state: drive(
        ...slept,
        (h) => h.succeed('pivot'),
        (h) => h.fail('d', definiteError()),
      ),
      run: { step: 'e', attempt: 1 },
      undo: { step: 'd', attempt: 1 },
      resolve: 'd',
    }),
  } satisfies Record<string, () => Fixture>;
  type FixtureName = keyof typeof fixtures;
  const fixtureNames = Object.keys(fixtures) as FixtureName[];

  const columns: { label: string; type: SagaEventType; make: (f: Fixture) => SagaEvent }[] = [
    { label: 'SagaStarted', type: 'SagaStarted', make: () => ({ type: 'SagaStarted' }) },
    {
      label: 'StepStarted(run)',
      type: 'StepStarted',
      make: (f) => ({ type: 'StepStarted', phase: 'run', ...f.run }),
    },
    {
      label: 'StepStarted(undo)',
      type: 'StepStarted',
      make: (f) => ({ type: 'StepStarted', phase: 'undo', ...f.undo }),
    },
    { label: 'StepSucceeded', type: 'StepSucceeded', make: (f) => ({ type: 'StepSucceeded', ...f.run, output: 1 }) },
    {
      label: 'StepFailed',
      type: 'StepFailed',
      make: (f) => ({ type: 'StepFailed', ...f.run, error: transientError() }),
    },
    {
      label: 'CompensationSucceeded',
      type: 'CompensationSucceeded',
      make: (f) => ({ type: 'CompensationSucceeded', ...f.undo }),
    },
    {
      label: 'CompensationFailed',
      type: 'CompensationFailed',
      make: (f) => ({ type: 'CompensationFailed', ...f.undo, error: transientError() }),
    },
    {
      label: 'CancelRequested',
      type: 'CancelRequested',
      make: () => ({ type: 'CancelRequested', by: 'op', reason: 'r' }),
    },
    {
      label: 'RetryRequested',
      type: 'RetryRequested',
      make: () => ({ type: 'RetryRequested', by: 'op', reason: 'r' }),
    },
    {
      label: 'CompensationResolved',
      type: 'CompensationResolved',
      make: (f) => ({ type: 'CompensationResolved', step: f.resolve, by: 'op', reason: 'r' }),
    },
    {
      label: 'SignalReceived',
      type: 'SignalReceived',
      make: () => ({ type: 'SignalReceived', signal: 'go', payload: { ok: true } }),
    },
    {
      label: 'SignalTimedOut',
      type: 'SignalTimedOut',
      make: () => ({ type: 'SignalTimedOut', step: 'w', attempt: 1 }),
    },
    // No step of this definition has a condition: the agent never reports these for it (see 'conditions').
    { label: 'StepSkipped', type: 'StepSkipped', make: (f) => ({ type: 'StepSkipped', ...f.run }) },
    { label: 'WaitStarted', type: 'WaitStarted', make: () => ({ type: 'WaitStarted', step: 'w', attempt: 1 }) },
    {
      label: 'SleepStarted',
      type: 'SleepStarted',
      make: () => ({ type: 'SleepStarted', step: 's', attempt: 1, until: '2026-12-01T10:00:00.000Z' }),
    },
    {
      label: 'TimerFired',
      type: 'TimerFired',
      make: () => ({
        type: 'TimerFired',
        step: 's',
        attempt: 1,
        dueAt: '2026-12-01T10:00:00.000Z',
        firedAt: '2026-12-01T10:00:00.400Z',
      }),
    },
    { label: 'SagaDelayed', type: 'SagaDelayed', make: () => ({ type: 'SagaDelayed', startInMs: 1_000 }) },
    // This definition has no child nor fan-out step (see 'child sagas' and 'fan-outs'): only UndoRequested could
    // apply, to a COMPLETED saga, and this one is past its pivot.
    {
      label: 'ChildRequested',
      type: 'ChildRequested',
      make: (f) => ({ type: 'ChildRequested', ...f.run, input: {} }),
    },
    {
      label: 'ChildEnded',
      type: 'ChildEnded',
      make: (f) => ({ type: 'ChildEnded', ...f.run, childId: 'c-1', status: 'COMPLETED', output: {} }),
    },
    {
      label: 'UndoRequested',
      type: 'UndoRequested',
      make: () => ({ type: 'UndoRequested', by: 'saga p-1', reason: 'r' }),
    },
    {
      label: 'FanOutStarted',
      type: 'FanOutStarted',
      make: (f) => ({ type: 'FanOutStarted', ...f.run, items: [1, 2] }),
    },
    // An operator's re-run from d (after the pivot) and skip of d (see transition.operator-steps.spec.ts).
    {
      label: 'RetryFromStepRequested',
      type: 'RetryFromStepRequested',
      make: () => ({ type: 'RetryFromStepRequested', step: 'd', by: 'op', reason: 'r' }),
    },
    {
      label: 'SkipRequested',
      type: 'SkipRequested',
      make: () => ({ type: 'SkipRequested', step: 'd', output: { by: 'hand' }, by: 'op', reason: 'r' }),
    },
  ];

  // L = legal (the state changes), . = ignored. Columns in the order of `columns` above.
  // prettier-ignore
  const expected: Record<FixtureName, string> = {
    // w waits only in the last row (its group is the last stage); while RUNNING (or DELAYED) before it, "go" is
    // buffered for it (Sig L); once compensating or terminal nothing will wait for "go". s sleeps before the pivot:
    // the agent reports SleepStarted (its `until`), the supervisor TimerFired; a cancel abandons the timer.
    //                                                    Start Run  Undo Succ Fail CSuc CFai Canc Retr Reso Sig  STmo Skip WSta SlSt TFir Dely Chld CEnd Undo FanO RFS  Skip
    'RUNNING, not started':                               'L     .    .    .    .    .    .    L    .    .    L    .    .    .    .    .    L    .    .    .    .    .    .',
    'RUNNING, b and c in flight':                         '.     L    .    L    L    .    .    L    .    .    L    .    .    .    .    .    .    .    .    .    .    .    L',
    'RUNNING, s evaluated by the agent':                  '.     L    .    .    L    .    .    L    .    .    L    .    .    .    L    .    .    .    .    .    .    .    L',
    'RUNNING, s sleeping':                                '.     .    .    .    .    .    .    L    .    .    L    .    .    .    .    L    .    .    .    .    .    .    L',
    DELAYED:                                              'L     .    .    .    .    .    .    L    .    .    L    .    .    .    .    .    .    .    .    .    .    .    .',
    'COMPENSATING, awaiting c':                           '.     L    .    L    L    .    .    L    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .',
    'COMPENSATING, undoing c':                            '.     .    L    .    .    L    L    L    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .',
    COMPLETED:                                            '.     .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    L    .',
    COMPENSATED:                                          '.     .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .',
    CANCELLED:                                            '.     .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .    .',
    'FAILED, compensation of c failed':                   '.     .    .    .    .    .    .    .    L    L    .    .    .    .    .    .    .    .    .    .    .    .    .',
    'FAILED, d failed after the pivot, e in flight, w waiting': '.     L    .    L    L    .    .    .    L    .    L    L    .    .    .    .    .    .    .    .    .    .    L',
  };

  const cases = fixtureNames.flatMap((fixture) => {
    const marks = expected[fixture].split(/\s+/);
    if (marks.length !== columns.length) throw new Error(`row "${fixture}" has ${marks.length} marks`);
    return columns.map((column, i) => ({ fixture, column, legal: marks[i] === 'L' }));
  });

  it('covers every saga status and every event type', () => {
    const statuses = new Set(fixtureNames.map((name) => fixtures[name]().state.status));
    expect([...statuses].sort()).toEqual(Object.values(SagaStatus).sort());
    // A Record over SagaEventType: adding an event type without adding it here does not compile.
    const allTypes: Record<SagaEventType, true> = {
      SagaStarted: true,
      StepStarted: true,
      StepSucceeded: true,
      StepFailed: true,
      CompensationSucceeded: true,
      CompensationFailed: true,
      CancelRequested: true,
      RetryRequested: true,
      CompensationResolved: true,
      SignalReceived: true,
      SignalTimedOut: true,
      StepSkipped: true,
      WaitStarted: true,
      SleepStarted: true,
      TimerFired: true,
      SagaDelayed: true,
      ChildRequested: true,
      ChildEnded: true,
      UndoRequested: true,
      FanOutStarted: true,
      RetryFromStepRequested: true,
      SkipRequested: true,
    };
    expect(new Set(columns.map((c) => c.type))).toEqual(new Set(Object.keys(allTypes)));
    for (const name of fixtureNames) expect(name.startsWith(fixtures[name]().state.status)).toBe(true);
  });

  it.each(cases)('$fixture x $column.label -> legal: $legal', ({ fixture, column, legal }) => {
    const f = fixtures[fixture]();
    const state = deepFreeze(f.state);
    const snapshot = JSON.stringify(state);
    const result = transition(def, state, column.make(f), { random: () => 0.5 });
    expect(JSON.stringify(state)).toBe(snapshot);
    if (legal) {
      expect(result.ignored).toBeNull();
      expect(result.state).not.toBe(state);
      expect(result.history.length).toBeGreaterThan(0);
      expect(result.history[0].seq).toBe(state.eventCount + 1);
      expect(result.state.eventCount).toBe(state.eventCount + result.history.length);
    } else {
      expect(result.ignored).toEqual(expect.any(String));
      expect(result.ignored).not.toBe('');
      expect(result.state).toBe(state);
      expect(result.commands).toEqual([]);
      expect(result.history).toEqual([]);
    }
  });

  it.each(['COMPLETED', 'COMPENSATED', 'CANCELLED'] as const)('says why a %s saga ignores events', (status) => {
    const f = fixtures[status]();
    expect(transition(def, f.state, { type: 'CancelRequested', by: 'op', reason: 'r' }).ignored).toBe(
      `saga is ${status}`,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Scenarios.
// ---------------------------------------------------------------------------------------------------------------

describe('a drone delivery', () => {
  const stages: StageSpec[] = [
    { name: 'validate-order', compensate: false },
    'reserve-drone',
    'load-package',
    'charge-payment',
    'dispatch-drone',
    'notify-customer',
  ];

  it('runs every step in order and completes with the outputs by key', () => {
    const h = harness(stages, { orderId: 'o-1' });
    h.start();
    expect(h.recorded).toEqual(['SagaStarted', 'StepScheduled validate-order#1']);
    expect(h.last!.commands).toEqual([
      {
        type: 'DispatchStep',
        step: 'validate-order',
        phase: 'run',
        attempt: 1,
        delayMs: 0,
        timeoutMs: TEST_TIMEOUT_MS,
      },
    ]);
    const names = h.def.steps.map((s) => s.name);
    for (let i = 0; i < names.length - 1; i++) {
      h.succeed(names[i], { n: i });
      expect(h.state.status).toBe('RUNNING');
      expect(h.commands).toEqual([`run ${names[i + 1]}#1`]);
    }
    h.succeed('notify-customer', { n: 5 });
    expect(h.recorded).toEqual(['StepSucceeded notify-customer#1', 'SagaCompleted']);
    expect(h.commands).toEqual([]);
    expect(h.state.status).toBe('COMPLETED');
    expect(h.state.output).toEqual({
      validateOrder: { n: 0 },
      reserveDrone: { n: 1 },
      loadPackage: { n: 2 },
      chargePayment: { n: 3 },
      dispatchDrone: { n: 4 },
      notifyCustomer: { n: 5 },
    });
    // Outputs live in the state, never in history.
    expect(h.history.every((e) => e.data === null || !('output' in e.data))).toBe(true);
  });

  it('undoes steps 4, 3, 2 in reverse order, one per transition, after a definite "no" at step 5', () => {
    const h = harness(stages);
    h.start();
    for (const name of ['validate-order', 'reserve-drone', 'load-package', 'charge-payment']) h.succeed(name);

    h.fail('dispatch-drone', definiteError('NO_DRONE_AVAILABLE'));
    expect(h.recorded).toEqual([
      'StepFailed dispatch-drone#1',
      'SagaCompensating',
      'CompensationScheduled charge-payment#1',
    ]);
    expect(h.last!.commands).toEqual([
      {
        type: 'DispatchStep',
        step: 'charge-payment',
        phase: 'undo',
        attempt: 1,
        delayMs: 0,
        timeoutMs: TEST_COMPENSATION_TIMEOUT_MS,
      },
    ]);
    expect(h.state.status).toBe('COMPENSATING');
    expect(h.state.error).toEqual({
      step: 'dispatch-drone',
      code: 'NO_DRONE_AVAILABLE',
      message: 'definite NO_DRONE_AVAILABLE',
      transient: false,
    });
    expect(h.last!.history[1].data).toEqual({ reason: 'step "dispatch-drone" failed: definite NO_DRONE_AVAILABLE' });
    expect(h.step('dispatch-drone')).toMatchObject({ status: 'FAILED', outcomeUnknown: false, compensation: null });
    expect(h.step('charge-payment')).toMatchObject({
      status: 'COMPENSATING',
      compensation: { status: 'SCHEDULED', attempt: 1, attemptBase: 0, error: null },
    });

    h.undoStarted('charge-payment');
    expect(h.step('charge-payment').compensation!.status).toBe('RUNNING');
    h.undone('charge-payment');
    expect(h.commands).toEqual(['undo load-package#1']);
    h.undone('load-package');
    expect(h.commands).toEqual(['undo reserve-drone#1']);
    h.undone('reserve-drone');
    expect(h.commands).toEqual([]);
    expect(h.recorded).toEqual(['CompensationSucceeded reserve-drone#1', 'SagaCompensated']);

    expect(h.state.status).toBe('COMPENSATED');
    expect(Object.fromEntries(Object.entries(h.state.steps).map(([name, s]) => [name, s.status]))).toEqual({
      'validate-order': 'SUCCEEDED',
      'reserve-drone': 'COMPENSATED',
      'load-package': 'COMPENSATED',
      'charge-payment': 'COMPENSATED',
      'dispatch-drone': 'FAILED',
      'notify-customer': 'PENDING',
    });
    expect(h.history.map((e) => e.seq)).toEqual(h.history.map((_, i) => i + 1));
    expect(h.state.eventCount).toBe(h.history.length);
  });
});

describe('transient failures', () => {
  it('retries with exponential backoff, then carries on after a success', () => {
    const h = harness(['a', { name: 'b', retry: { maximumAttempts: 4 } }, 'c']);
    h.start();
    h.succeed('a');
    h.fail('b', transientError());
    expect(h.recorded).toEqual(['StepFailed b#1', 'StepRetryScheduled b#2']);
    expect(h.last!.history[1].data).toEqual({ delayMs: 1_000 });
    expect(h.commands).toEqual(['run b#2 +1000ms']);
    expect(h.step('b')).toMatchObject({
      status: 'RETRYING',
      attempt: 2,
      outcomeUnknown: true,
      error: transientError(),
    });

    h.started('b');
    expect(h.step('b').status).toBe('RUNNING');
    h.fail('b', transientError());
    expect(h.commands).toEqual(['run b#3 +2000ms']);
    h.succeed('b', 42);
    expect(h.step('b')).toMatchObject({
      status: 'SUCCEEDED',
      attempt: 3,
      output: 42,
      error: null,
      outcomeUnknown: false,
    });
    expect(h.commands).toEqual(['run c#1']);
  });

  it('takes its jitter from env.random', () => {
    const h = harness(['a', { name: 'b', retry: { jitter: 0.5 } }], {}, () => 0);
    h.start();
    h.succeed('a');
    h.fail('b', transientError());
    expect(h.commands).toEqual(['run b#2 +500ms']);
  });

  it("waits as long as the participant's retryAfterMs says", () => {
    const h = harness(['a']);
    h.start();
    h.fail('a', transientError('RATE_LIMITED', { retryAfterMs: 7_000 }));
    expect(h.commands).toEqual(['run a#2 +7000ms']);
  });

  it("treats a retryable error whose code is in the policy's nonRetryableCodes as definite", () => {
    const h = harness(['a', { name: 'b', retry: { nonRetryableCodes: ['ACCOUNT_CLOSED'] } }]);
    h.start();
    h.succeed('a');
    h.fail('b', transientError('ACCOUNT_CLOSED'));
    expect(h.step('b')).toMatchObject({ status: 'FAILED', outcomeUnknown: false });
    expect(h.commands).toEqual(['undo a#1']);
  });

  it('runs the exhausted step’s own undo first (its outcome is unknown), then the others', () => {
    const h = harness(['a', 'b', { name: 'c', retry: { maximumAttempts: 2 } }, 'd']);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.fail('c', transientError());
    expect(h.commands).toEqual(['run c#2 +1000ms']);
    h.fail('c', transientError());
    expect(h.recorded).toEqual(['StepFailed c#2', 'SagaCompensating', 'CompensationScheduled c#1']);
    expect(h.commands).toEqual(['undo c#1']);
    expect(h.step('c')).toMatchObject({ status: 'COMPENSATING', outcomeUnknown: true, attempt: 2 });
    expect(h.state.error).toEqual({
      step: 'c',
      code: 'UNAVAILABLE',
      message: 'transient UNAVAILABLE',
      transient: true,
    });
    h.undone('c');
    expect(h.commands).toEqual(['undo b#1']);
    h.undone('b');
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(h.step('d').status).toBe('PENDING');
  });

  it('treats a timeout like any transient failure: retried, then undone when exhausted', () => {
    const h = harness(['a', { name: 'b', retry: { maximumAttempts: 2 } }]);
    h.start();
    h.succeed('a');
    h.fail('b', timeoutError());
    expect(h.commands).toEqual(['run b#2 +1000ms']);
    h.fail('b', timeoutError());
    expect(h.commands).toEqual(['undo b#1']);
    expect(h.state.error).toMatchObject({ step: 'b', code: 'TIMEOUT', transient: true });
    h.undone('b');
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('does not undo an exhausted step that has no compensation (read-only), but undoes the others', () => {
    const h = harness(['a', { name: 'b', compensate: false, retry: { maximumAttempts: 1 } }]);
    h.start();
    h.succeed('a');
    h.fail('b', { name: 'Error', code: 'DEADLINE_EXCEEDED', message: 'agent lost', retryable: true });
    expect(h.step('b')).toMatchObject({ status: 'FAILED', outcomeUnknown: true, compensation: null });
    expect(h.commands).toEqual(['undo a#1']);
  });
});

describe('a parallel group', () => {
  const stages: StageSpec[] = ['a', { group: 'reserve', steps: ['b', 'c'] }, 'd'];

  it('dispatches its steps together and moves on when all succeeded', () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    expect(h.commands).toEqual(['run b#1', 'run c#1']);
    expect(h.recorded).toEqual(['StepSucceeded a#1', 'StepScheduled b#1', 'StepScheduled c#1']);
    h.succeed('c');
    expect(h.commands).toEqual([]);
    h.succeed('b');
    expect(h.commands).toEqual(['run d#1']);
  });

  it('waits for an in-flight sibling of a definite failure, then undoes it and the earlier stages', () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    h.fail('b', definiteError());
    expect(h.state.status).toBe('COMPENSATING');
    expect(h.commands).toEqual([]);
    expect(h.recorded).toEqual(['StepFailed b#1', 'SagaCompensating']);
    h.started('c');
    expect(h.commands).toEqual([]);
    h.succeed('c');
    expect(h.recorded).toEqual(['StepSucceeded c#1', 'CompensationScheduled c#1']);
    expect(h.commands).toEqual(['undo c#1']);
    h.undone('c');
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(h.step('b')).toMatchObject({ status: 'FAILED', compensation: null });
  });

  it('undoes no succeeded sibling while another is still in flight: the group is undone together', () => {
    const h = harness(['a', { group: 'g', steps: ['b', 'c', 'x'] }]);
    h.start();
    h.succeed('a');
    h.succeed('x');
    h.fail('b', definiteError());
    expect(h.commands).toEqual([]);
    expect(h.step('x')).toMatchObject({ status: 'SUCCEEDED', compensation: null });
    h.succeed('c');
    expect(h.commands).toEqual(['undo c#1', 'undo x#1']);
  });

  it('on cancel, waits for the in-flight siblings before undoing the succeeded ones', () => {
    const h = harness(['a', { group: 'g', steps: ['b', 'c'] }]);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.cancel();
    expect(h.commands).toEqual([]);
    h.fail('c', definiteError());
    expect(h.commands).toEqual(['undo b#1']);
  });

  it('does not retry a sibling that fails transiently while compensating; undoes it (outcome unknown)', () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    h.fail('b', definiteError());
    h.fail('c', transientError());
    expect(h.recorded).toEqual(['StepFailed c#1', 'CompensationScheduled c#1']);
    expect(h.step('c')).toMatchObject({ status: 'COMPENSATING', outcomeUnknown: true });
    expect(h.commands).toEqual(['undo c#1']);
  });

  it('does not undo a sibling that fails definitely while compensating', () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    h.fail('b', definiteError());
    h.fail('c', definiteError());
    expect(h.commands).toEqual(['undo a#1']);
  });

  it('gives up a sibling waiting for its retry when the other fails definitely', () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    h.fail('c', transientError());
    expect(h.commands).toEqual(['run c#2 +1000ms']);
    h.fail('b', definiteError());
    expect(h.recorded).toEqual(['StepFailed b#1', 'SagaCompensating', 'StepFailed c#2', 'CompensationScheduled c#1']);
    expect(h.last!.history[2].data).toMatchObject({ reason: 'retry abandoned: the saga is compensating' });
    expect(h.commands).toEqual(['undo c#1']);
    // The delayed job of attempt 2 finds itself stale.
    expect(h.succeed('c', 'late', 2).ignored).toBe('step "c" is COMPENSATING');
  });

  it('undoes the group together when a later stage fails, and waits for all of it', () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.succeed('c');
    h.fail('d', definiteError());
    expect(h.commands).toEqual(['undo b#1', 'undo c#1']);
    h.undone('c');
    expect(h.commands).toEqual([]);
    h.undoFailed('b', transientError());
    expect(h.commands).toEqual(['undo b#2 +1000ms']);
    h.undone('b');
    expect(h.commands).toEqual(['undo a#1']);
  });
});

describe('the pivot', () => {
  const stages: StageSpec[] = [
    'a',
    { name: 'pivot', pivot: true, compensate: false },
    { name: 'c', retry: { maximumAttempts: 2, maximumIntervalMs: 5_000 } },
    'd',
  ];

  const pastPivot = () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    h.succeed('pivot');
    return h;
  };

  it('retries failures after it beyond maximumAttempts', () => {
    const h = pastPivot();
    const delays: string[] = [];
    for (let i = 0; i < 6; i++) {
      h.fail('c', transientError());
      delays.push(h.commands[0]);
    }
    expect(delays).toEqual([
      'run c#2 +1000ms',
      'run c#3 +2000ms',
      'run c#4 +4000ms',
      'run c#5 +5000ms',
      'run c#6 +5000ms',
      'run c#7 +5000ms',
    ]);
    expect(h.state.status).toBe('RUNNING');
    h.succeed('c');
    h.succeed('d');
    expect(h.state.status).toBe('COMPLETED');
  });

  it('fails the saga with an alert on a definite "no" after it, never undoing; an operator retry re-runs it', () => {
    const h = pastPivot();
    h.fail('c', transientError());
    h.fail('c', definiteError('ADDRESS_UNREACHABLE'));
    expect(h.state.status).toBe('FAILED');
    const error = { step: 'c', code: 'ADDRESS_UNREACHABLE', message: 'definite ADDRESS_UNREACHABLE', transient: false };
    expect(h.state.error).toEqual(error);
    expect(h.recorded).toEqual(['StepFailed c#2', 'SagaFailed']);
    expect(h.last!.history[1].data).toEqual({ error });
    expect(h.last!.commands).toEqual([{ type: 'RaiseAlert', error }]);
    expect(h.step('a').status).toBe('SUCCEEDED');

    expect(h.cancel().ignored).toBe('saga is FAILED: retry or resolve it');

    h.retry();
    expect(h.recorded).toEqual(['RetryRequested', 'StepScheduled c#3']);
    expect(h.last!.history[0].data).toEqual({ by: 'ops@example.com', reason: 'participant fixed' });
    expect(h.commands).toEqual(['run c#3']);
    expect(h.state.status).toBe('RUNNING');
    expect(h.state.error).toBeNull();
    expect(h.step('c')).toMatchObject({ status: 'SCHEDULED', attempt: 3, attemptBase: 2, error: null });
    // The new round's backoff starts over from the initial interval.
    h.fail('c', transientError());
    expect(h.commands).toEqual(['run c#4 +1000ms']);
    h.succeed('c');
    expect(h.commands).toEqual(['run d#1']);
    h.succeed('d');
    expect(h.state.status).toBe('COMPLETED');
  });

  it('ignores a cancel once it succeeded', () => {
    const h = pastPivot();
    expect(h.cancel().ignored).toBe('past the pivot step "pivot"');
  });

  it('compensates normally when the pivot itself fails', () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    h.fail('pivot', definiteError());
    expect(h.state.status).toBe('COMPENSATING');
    expect(h.commands).toEqual(['undo a#1']);
  });

  it('records the outcome of an in-flight sibling while FAILED, and re-runs only what FAILED', () => {
    const h = harness(['a', { name: 'pivot', pivot: true, compensate: false }, { group: 'ship', steps: ['c', 'd'] }]);
    h.start();
    h.succeed('a');
    h.succeed('pivot');
    h.fail('c', definiteError());
    expect(h.state.status).toBe('FAILED');
    h.succeed('d', 'ok');
    expect(h.recorded).toEqual(['StepSucceeded d#1']);
    expect(h.commands).toEqual([]);
    expect(h.state.status).toBe('FAILED');
    h.retry();
    expect(h.commands).toEqual(['run c#2']);
    h.succeed('c');
    expect(h.state.status).toBe('COMPLETED');
    expect(h.state.output).toEqual({ a: { from: 'a' }, pivot: { from: 'pivot' }, c: { from: 'c' }, d: 'ok' });
  });

  it('lets a sibling that fails while FAILED end FAILED, to be re-run by the operator retry', () => {
    const h = harness(['a', { name: 'pivot', pivot: true, compensate: false }, { group: 'ship', steps: ['c', 'd'] }]);
    h.start();
    h.succeed('a');
    h.succeed('pivot');
    h.fail('c', definiteError());
    h.fail('d', transientError());
    expect(h.step('d')).toMatchObject({ status: 'FAILED', outcomeUnknown: true });
    expect(h.commands).toEqual([]);
    h.retry();
    expect(h.commands).toEqual(['run c#2', 'run d#2']);
  });
});

describe("an output its step's class refuses (OUTPUT_INVALID, not retryable)", () => {
  const invalid = {
    name: 'OutputInvalidError',
    code: 'OUTPUT_INVALID',
    message: 'the output of step "b" does not fit its output class Shipment: output.trackingId must be a string',
    retryable: false,
  };

  it('is not retried, yet the step is undone first (its action ran), then the earlier steps', () => {
    const h = harness(['a', { name: 'b', retry: { maximumAttempts: 5 } }, 'c']);
    h.start();
    h.succeed('a');
    h.fail('b', invalid);
    expect(h.step('b')).toMatchObject({ status: 'COMPENSATING', attempt: 1, outcomeUnknown: true });
    expect(h.state.status).toBe('COMPENSATING');
    h.undone('b');
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(h.step('c').status).toBe('PENDING');
  });

  it('unlike another definite "no", which had no effect to undo', () => {
    const h = harness(['a', 'b']);
    h.start();
    h.succeed('a');
    h.fail('b', definiteError());
    expect(h.step('b')).toMatchObject({ status: 'FAILED', outcomeUnknown: false });
  });
});

describe("an attempt whose agent died (the supervisor's DEADLINE_EXCEEDED and POISONED)", () => {
  const died = (code: 'DEADLINE_EXCEEDED' | 'POISONED') => ({
    name: code === 'POISONED' ? 'Poisoned' : 'DeadlineExceeded',
    code,
    message: `lost (${code})`,
    retryable: code !== 'POISONED',
  });

  it('counts a death, retries it like any transient failure, and keeps the count across rounds', () => {
    const h = harness(['a', { name: 'b', retry: { maximumAttempts: 5 } }]);
    h.start();
    h.succeed('a');
    h.fail('b', died('DEADLINE_EXCEEDED'));
    expect(h.step('b')).toMatchObject({ status: 'RETRYING', attempt: 2, deaths: 1, outcomeUnknown: true });
    expect(h.commands).toEqual(['run b#2 +1000ms']);
    h.fail('b', transientError());
    expect(h.step('b').deaths).toBe(1);
    h.succeed('b');
    expect(h.step('b')).toMatchObject({ status: 'SUCCEEDED', deaths: 1 });
    expect(h.state.status).toBe('COMPLETED');
  });

  it('POISONED: not retried, yet undone (it may have had its effect), the saga compensates, and an alert is raised', () => {
    const h = harness(['a', { name: 'b', retry: { maximumAttempts: 0 } }, 'c']);
    h.start();
    h.succeed('a');
    h.fail('b', died('DEADLINE_EXCEEDED'));
    h.fail('b', died('POISONED'));
    // Its own undo first: its outcome is unknown.
    expect(h.step('b')).toMatchObject({ status: 'COMPENSATING', deaths: 2, outcomeUnknown: true });
    expect(h.state.status).toBe('COMPENSATING');
    expect(h.state.error).toEqual({ step: 'b', code: 'POISONED', message: 'lost (POISONED)', transient: false });
    expect(h.last!.commands).toEqual([
      {
        type: 'RaiseAlert',
        status: 'POISONED',
        error: { step: 'b', code: 'POISONED', message: 'lost (POISONED)', transient: false },
      },
      expect.objectContaining({ type: 'DispatchStep', step: 'b', phase: 'undo' }),
    ]);
    h.undone('b');
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('after the pivot, POISONED leaves the saga FAILED with one alert; an operator retry runs the step again', () => {
    const h = harness(['a', { name: 'pivot', pivot: true, compensate: false }, 'c']);
    h.start();
    h.succeed('a');
    h.succeed('pivot');
    h.fail('c', died('DEADLINE_EXCEEDED'));
    expect(h.step('c').status).toBe('RETRYING');
    h.fail('c', died('POISONED'));
    expect(h.state.status).toBe('FAILED');
    expect(h.last!.commands).toEqual([
      { type: 'RaiseAlert', error: { step: 'c', code: 'POISONED', message: 'lost (POISONED)', transient: false } },
    ]);
    h.retry();
    expect(h.step('c')).toMatchObject({ status: 'SCHEDULED', attempt: 3, deaths: 2 });
    h.succeed('c');
    expect(h.state.status).toBe('COMPLETED');
  });

  it('counts the deaths of a compensation on the step; POISONED fails it for good, and the saga with it', () => {
    const h = harness(['a', 'b']);
    h.start();
    h.succeed('a');
    h.fail('b', definiteError());
    h.undoFailed('a', died('DEADLINE_EXCEEDED'));
    expect(h.step('a')).toMatchObject({ deaths: 1, compensation: { status: 'RETRYING', attempt: 2 } });
    h.undoFailed('a', died('POISONED'));
    expect(h.step('a')).toMatchObject({ deaths: 2, status: 'COMPENSATION_FAILED' });
    expect(h.state.status).toBe('FAILED');
    expect(h.state.error).toMatchObject({ step: 'a', code: 'POISONED', transient: false });
  });
});

describe('a compensation that cannot finish', () => {
  const stages: StageSpec[] = ['a', { name: 'b', compensationRetry: { maximumAttempts: 2 } }, 'c'];

  const failing = () => {
    const h = harness(stages);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.fail('c', definiteError());
    expect(h.commands).toEqual(['undo b#1']);
    return h;
  };

  it('retries, then leaves the saga FAILED with an alert; an operator retry resumes it to COMPENSATED', () => {
    const h = failing();
    h.undoFailed('b', transientError());
    expect(h.recorded).toEqual(['CompensationFailed b#1', 'CompensationRetryScheduled b#2']);
    expect(h.last!.history[1].data).toEqual({ delayMs: 1_000 });
    expect(h.commands).toEqual(['undo b#2 +1000ms']);
    expect(h.step('b').compensation).toMatchObject({ status: 'RETRYING', attempt: 2, error: transientError() });
    h.undoStarted('b');
    h.undoFailed('b', transientError('BANK_DOWN'));
    expect(h.recorded).toEqual(['CompensationFailed b#2', 'SagaFailed']);
    const error = { step: 'b', code: 'BANK_DOWN', message: 'transient BANK_DOWN', transient: true };
    expect(h.last!.commands).toEqual([{ type: 'RaiseAlert', error }]);
    expect(h.state).toMatchObject({ status: 'FAILED', error });
    expect(h.step('b')).toMatchObject({
      status: 'COMPENSATION_FAILED',
      compensation: { status: 'FAILED', attempt: 2 },
    });
    expect(h.step('a')).toMatchObject({ status: 'SUCCEEDED', compensation: null });

    h.retry();
    expect(h.recorded).toEqual(['RetryRequested', 'CompensationScheduled b#3']);
    expect(h.commands).toEqual(['undo b#3']);
    expect(h.state).toMatchObject({ status: 'COMPENSATING', error: null });
    expect(h.step('b')).toMatchObject({
      status: 'COMPENSATING',
      compensation: { status: 'SCHEDULED', attempt: 3, attemptBase: 2, error: null },
    });
    // A fresh budget of two attempts, with a backoff starting over.
    h.undoFailed('b', transientError());
    expect(h.commands).toEqual(['undo b#4 +1000ms']);
    h.undone('b');
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('fails at once on a definite "no"', () => {
    const h = failing();
    h.undoFailed('b', definiteError('REFUND_REFUSED'));
    expect(h.state.status).toBe('FAILED');
    expect(h.state.error).toEqual({
      step: 'b',
      code: 'REFUND_REFUSED',
      message: 'definite REFUND_REFUSED',
      transient: false,
    });
  });

  it('carries on when an operator resolves it by hand', () => {
    const h = failing();
    h.undoFailed('b', definiteError());
    h.resolve('b');
    expect(h.recorded).toEqual(['CompensationResolved b', 'CompensationScheduled a#1']);
    expect(h.last!.history[0].data).toEqual({ by: 'ops@example.com', reason: 'refunded by hand' });
    expect(h.step('b')).toMatchObject({ status: 'COMPENSATED', compensation: { status: 'RESOLVED' } });
    expect(h.state).toMatchObject({ status: 'COMPENSATING', error: null });
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(h.resolve('b').ignored).toBe('saga is COMPENSATED');
  });

  it('stays FAILED until every failed compensation of a group is resolved', () => {
    const h = harness([{ group: 'g', steps: ['a', 'b'] }, 'c']);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.fail('c', definiteError());
    expect(h.commands).toEqual(['undo a#1', 'undo b#1']);
    h.undoFailed('a', definiteError());
    expect(h.state.status).toBe('COMPENSATING'); // b still in flight
    h.undoFailed('b', definiteError());
    expect(h.state.status).toBe('FAILED');
    expect(h.state.error?.step).toBe('a');
    h.resolve('a');
    expect(h.state.status).toBe('FAILED');
    h.resolve('b');
    expect(h.recorded).toEqual(['CompensationResolved b', 'SagaCompensated']);
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('lets a compensation that failed while its sibling is in flight be resolved before the saga fails', () => {
    const h = harness([{ group: 'g', steps: ['a', 'b'] }, 'c']);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.fail('c', definiteError());
    h.undoFailed('a', definiteError());
    h.resolve('a');
    expect(h.state.status).toBe('COMPENSATING');
    h.undone('b');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('re-dispatches every failed compensation of a group on retry', () => {
    const h = harness([{ group: 'g', steps: ['a', 'b'] }, 'c']);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.fail('c', definiteError());
    h.undoFailed('a', definiteError());
    h.undoFailed('b', definiteError());
    h.retry();
    expect(h.commands).toEqual(['undo a#2', 'undo b#2']);
  });
});

describe('cancel', () => {
  it('waits for a step in flight, undoes it and the earlier ones, and ends CANCELLED', () => {
    const h = harness(['a', 'b', 'c']);
    h.start();
    h.succeed('a');
    h.started('b');
    h.cancel('customer changed their mind');
    expect(h.recorded).toEqual(['CancelRequested', 'SagaCompensating']);
    expect(h.last!.history[0].data).toEqual({ by: 'ops@example.com', reason: 'customer changed their mind' });
    expect(h.commands).toEqual([]);
    expect(h.state).toMatchObject({
      status: 'COMPENSATING',
      cancelRequested: true,
      error: { step: null, code: 'CANCELLED', message: 'customer changed their mind', transient: false },
    });
    h.succeed('b');
    expect(h.commands).toEqual(['undo b#1']);
    h.undone('b');
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.recorded).toEqual(['CompensationSucceeded a#1', 'SagaCancelled']);
    expect(h.state.status).toBe('CANCELLED');
    expect(h.step('c').status).toBe('PENDING');
  });

  it('gives up a step waiting for its retry and undoes it at once', () => {
    const h = harness(['a', 'b']);
    h.start();
    h.succeed('a');
    h.fail('b', transientError());
    h.cancel();
    expect(h.recorded).toEqual(['CancelRequested', 'SagaCompensating', 'StepFailed b#2', 'CompensationScheduled b#1']);
    expect(h.commands).toEqual(['undo b#1']);
  });

  it('during compensation only changes the end to CANCELLED, once', () => {
    const h = harness(['a', 'b']);
    h.start();
    h.succeed('a');
    h.fail('b', definiteError());
    h.cancel();
    expect(h.recorded).toEqual(['CancelRequested']);
    expect(h.commands).toEqual([]);
    expect(h.cancel().ignored).toBe('cancel already requested');
    h.undone('a');
    expect(h.state.status).toBe('CANCELLED');
    expect(h.state.error?.code).toBe('DECLINED');
  });

  it('before the saga started ends it CANCELLED at once', () => {
    const h = harness(['a']);
    h.cancel();
    expect(h.recorded).toEqual(['CancelRequested', 'SagaCompensating', 'SagaCancelled']);
    expect(h.start().ignored).toBe('saga is CANCELLED');
  });
});

describe('conditions', () => {
  it('skips a step whose `when` the agent finds false, moves on in the same transition, and never undoes it', () => {
    const seen: unknown[] = [];
    const h = harness(
      [
        'a',
        {
          name: 'insure-package',
          when: (ctx) => {
            seen.push(ctx);
            return (ctx.input as { insured: boolean }).insured;
          },
        },
        'c',
      ],
      { insured: false },
    );
    h.start();
    h.succeed('a', { weight: 3 });
    // Dispatched like any step: the agent has the code and evaluates the condition before running it.
    expect(h.commands).toEqual(['run insure-package#1']);
    h.evaluate('insure-package');
    expect(seen).toEqual([{ input: { insured: false }, steps: { a: { weight: 3 } } }]);
    expect(h.recorded).toEqual(['StepSkipped insure-package#1', 'StepScheduled c#1']);
    expect(h.commands).toEqual(['run c#1']);
    h.fail('c', definiteError());
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(h.step('insure-package')).toMatchObject({ status: 'SKIPPED', attempt: 1, compensation: null });
  });

  it('runs a step whose `when` is true, reading earlier outputs by key', () => {
    const h = harness(['quote-price', { name: 'b', when: ({ steps }) => steps.quotePrice.total > 100 }]);
    h.start();
    h.succeed('quote-price', { total: 150 });
    expect(h.commands).toEqual(['run b#1']);
    expect(h.evaluate('b')).toBe(true);
    h.succeed('b');
    expect(h.state.status).toBe('COMPLETED');
  });

  it('completes when every step is skipped', () => {
    const h = harness([
      {
        group: 'g',
        steps: [
          { name: 'a', when: () => false },
          { name: 'b', when: () => false },
        ],
      },
    ]);
    h.start();
    expect(h.commands).toEqual(['run a#1', 'run b#1']);
    h.evaluate('a');
    expect(h.state.status).toBe('RUNNING');
    h.evaluate('b');
    expect(h.recorded).toEqual(['StepSkipped b#1', 'SagaCompleted']);
    expect(h.state).toMatchObject({ status: 'COMPLETED', output: {} });
  });

  it('completes at once a saga without steps', () => {
    const h = harness([]);
    h.start();
    expect(h.recorded).toEqual(['SagaStarted', 'SagaCompleted']);
  });

  it('fails a step whose `when` throws, definitely; a sibling in flight is awaited, then undone', () => {
    const h = harness([
      'a',
      {
        group: 'g',
        steps: [
          'b',
          {
            name: 'c',
            when: () => {
              throw new Error('boom');
            },
          },
        ],
      },
    ]);
    h.start();
    h.succeed('a');
    expect(h.commands).toEqual(['run b#1', 'run c#1']);
    h.evaluate('c');
    expect(h.recorded).toEqual(['StepFailed c#1', 'SagaCompensating']);
    const error = {
      name: 'ConditionError',
      code: 'CONDITION_ERROR',
      message: 'the condition of step "c" threw: boom',
      retryable: false,
    };
    expect(h.step('c')).toMatchObject({ status: 'FAILED', outcomeUnknown: false, error, attempt: 1 });
    expect(h.state.error).toEqual({ step: 'c', code: 'CONDITION_ERROR', message: error.message, transient: false });
    h.succeed('b');
    expect(h.commands).toEqual(['undo b#1']);
    h.undone('b');
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('after the pivot, fails the saga on a throwing `when`; a retry evaluates it again', () => {
    let broken = true;
    const h = harness([
      { name: 'pivot', pivot: true, compensate: false },
      {
        name: 'b',
        when: () => {
          if (broken) throw new Error('boom');
          return true;
        },
      },
    ]);
    h.start();
    h.succeed('pivot');
    h.evaluate('b');
    expect(h.state.status).toBe('FAILED');
    expect(h.commands).toEqual(['alert CONDITION_ERROR']);
    broken = false;
    h.retry();
    expect(h.recorded).toEqual(['RetryRequested', 'StepScheduled b#2']);
    expect(h.commands).toEqual(['run b#2']);
    expect(h.step('b')).toMatchObject({ status: 'SCHEDULED', attempt: 2, attemptBase: 1, error: null });
    expect(h.evaluate('b')).toBe(true);
  });

  it('starts a conditional wait when its `when` is true, and skips it when false', () => {
    const stages = [
      'a',
      { name: 'w', signal: 'go', when: (c: { input: unknown }) => (c.input as { wait: boolean }).wait },
    ];
    const waits = harness(stages, { wait: true });
    waits.start();
    waits.succeed('a');
    expect(waits.commands).toEqual(['run w#1']);
    waits.evaluate('w');
    expect(waits.recorded).toEqual(['StepWaiting w#1']);
    expect(waits.commands).toEqual(['await w#1 go']);
    waits.signal('go', { ok: 1 });
    expect(waits.state).toMatchObject({ status: 'COMPLETED', output: { a: { from: 'a' }, w: { ok: 1 } } });

    const skips = harness(stages, { wait: false });
    skips.start();
    skips.succeed('a');
    skips.evaluate('w');
    expect(skips.recorded).toEqual(['StepSkipped w#1', 'SagaCompleted']);
  });

  it("buffers a signal that comes while a wait's condition is evaluated, and consumes it as the wait starts", () => {
    const h = harness([{ name: 'w', signal: 'go', when: () => true }, 'b']);
    h.start();
    expect(h.step('w').status).toBe('SCHEDULED');
    h.signal('go', { early: true });
    expect(h.recorded).toEqual(['SignalBuffered']);
    h.evaluate('w');
    expect(h.recorded).toEqual(['SignalReceived w#1', 'StepScheduled b#1']);
    expect(h.step('w')).toMatchObject({ status: 'SUCCEEDED', output: { early: true } });
  });

  it('gives up a conditional wait whose condition passed after the saga began compensating', () => {
    const h = harness([{ group: 'g', steps: ['a', { name: 'w', signal: 'go', when: () => true, compensate: false }] }]);
    h.start();
    h.fail('a', definiteError());
    expect(h.state.status).toBe('COMPENSATING');
    h.evaluate('w');
    expect(h.step('w')).toMatchObject({ status: 'FAILED', error: { code: 'WAIT_ABANDONED' } });
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('ignores StepSkipped and WaitStarted for steps without a condition', () => {
    const h = harness(['a', { name: 'w', signal: 'go' }]);
    h.start();
    expect(h.skipped('a').ignored).toBe('step "a" has no condition');
    h.succeed('a');
    expect(h.waitStarted('w').ignored).toBe('step "w" is WAITING: only its signal or deadline ends it');
  });
});

describe('stale, duplicate and unknown events', () => {
  const running = () => {
    const h = harness(['a', 'b']);
    h.start();
    return h;
  };

  it('ignores a duplicate outcome', () => {
    const h = running();
    h.succeed('a', 1);
    expect(h.succeed('a', 2, 1).ignored).toBe('step "a" is SUCCEEDED');
    expect(h.fail('a', transientError(), 1).ignored).toBe('step "a" is SUCCEEDED');
    expect(h.step('a').output).toBe(1);
  });

  it('ignores an outcome of an earlier attempt', () => {
    const h = running();
    h.fail('a', transientError());
    expect(h.succeed('a', 'stale', 1).ignored).toBe('stale attempt 1 of step "a" (current is 2)');
    expect(h.fail('a', transientError(), 1).ignored).toBe('stale attempt 1 of step "a" (current is 2)');
    expect(h.started('a', 1).ignored).toBe('stale attempt 1 of step "a" (current is 2)');
    expect(h.succeed('a', 'future', 3).ignored).toBe('stale attempt 3 of step "a" (current is 2)');
  });

  it('ignores a second StepStarted', () => {
    const h = running();
    h.started('a');
    expect(h.started('a').ignored).toBe('step "a" is RUNNING');
    h.succeed('a');
    expect(h.step('a').status).toBe('SUCCEEDED');
  });

  it('ignores stale and duplicate compensation outcomes', () => {
    const h = running();
    h.succeed('a');
    h.fail('b', definiteError());
    h.undoFailed('a', transientError());
    expect(h.undone('a', 1).ignored).toBe('stale attempt 1 of step "a" (current is 2)');
    expect(h.undoStarted('a', 1).ignored).toBe('stale attempt 1 of step "a" (current is 2)');
    h.undoStarted('a');
    expect(h.undoStarted('a').ignored).toBe('compensation of step "a" is RUNNING');
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('ignores an outcome of a compensation never dispatched, and a resolve of one that did not fail', () => {
    const h = running();
    h.succeed('a');
    h.fail('b', definiteError());
    expect(h.undone('b', 1).ignored).toBe('compensation of step "b" is not dispatched');
    expect(h.resolve('a').ignored).toBe('compensation of step "a" is SCHEDULED');
  });

  it.each(['nope', 'constructor', '__proto__', 'toString'])('ignores the unknown step "%s"', (step) => {
    const h = running();
    expect(h.succeed(step, 1, 1).ignored).toBe(`unknown step "${step}"`);
    expect(h.fail(step, transientError(), 1).ignored).toBe(`unknown step "${step}"`);
    expect(h.started(step, 1).ignored).toBe(`unknown step "${step}"`);
    expect(h.undone(step, 1).ignored).toBe(`unknown step "${step}"`);
    expect(h.resolve(step).ignored).toBe(`unknown step "${step}"`);
  });

  it('ignores an unknown event type', () => {
    const h = running();
    expect(h.send({ type: 'StepExploded' } as unknown as SagaEvent).ignored).toBe('unknown event type "StepExploded"');
  });

  it('ignores a second SagaStarted', () => {
    const h = running();
    expect(h.start().ignored).toBe('saga already started');
  });

  it('ignores a retry of a RUNNING saga, and of a FAILED one where nothing FAILED', () => {
    const h = running();
    expect(h.retry().ignored).toBe('saga is RUNNING');
    const odd = deepFreeze({ ...h.state, status: SagaStatus.FAILED });
    const result = transition(h.def, odd, { type: 'RetryRequested', by: 'op', reason: 'r' });
    expect(result).toEqual({ state: odd, commands: [], history: [], ignored: 'nothing has FAILED' });
    expect(result.state).toBe(odd);
  });
});

describe('purity', () => {
  it('keeps the identity of steps it did not change, and copies those it did', () => {
    const h = harness(['a', 'b', 'c']);
    h.start();
    const before = h.state;
    h.succeed('a');
    expect(h.state.steps).not.toBe(before.steps);
    expect(h.state.steps.c).toBe(before.steps.c);
    expect(h.state.steps.a).not.toBe(before.steps.a);
    expect(h.state.steps.b).not.toBe(before.steps.b);
    expect(before.steps.a.status).toBe('SCHEDULED');
  });

  it('never mutates a deep-frozen state along a whole saga (the harness checks every call)', () => {
    const h = harness(['a', { group: 'g', steps: ['b', 'c'] }, 'd']);
    h.start();
    h.succeed('a');
    h.fail('b', transientError());
    h.succeed('b');
    h.succeed('c');
    h.fail('d', definiteError());
    h.undoFailed('b', transientError());
    h.undone('b');
    h.undone('c');
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(describeHistory(h.history).length).toBe(h.state.eventCount);
    expect(h.history.map((e) => e.seq)).toEqual(h.history.map((_, i) => i + 1));
  });

  it('defaults env to Math.random', () => {
    const def = makeDefinition(['a']);
    const started = transition(def, initialState(def, {}), { type: 'SagaStarted' });
    const result = transition(def, started.state, {
      type: 'StepFailed',
      step: 'a',
      attempt: 1,
      error: transientError(),
    });
    expect(result.commands).toEqual([expect.objectContaining({ type: 'DispatchStep', attempt: 2, delayMs: 1_000 })]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Wait steps: a signal or its deadline ends them.
// ---------------------------------------------------------------------------------------------------------------

describe('a wait step', () => {
  const wait = { name: 'wait', signal: 'DeliveryCompleted', timeoutMs: 60_000, compensate: false };

  it('goes WAITING with a deadline and no job, and completes with the payload as its output', () => {
    const h = harness(['a', wait, 'c']);
    h.start();
    h.succeed('a');
    expect(h.last!.commands).toEqual([
      { type: 'AwaitSignal', step: 'wait', signal: 'DeliveryCompleted', attempt: 1, timeoutMs: 60_000 },
    ]);
    expect(h.recorded).toEqual(['StepSucceeded a#1', 'StepWaiting wait#1']);
    expect(h.last!.history[1].data).toEqual({ signal: 'DeliveryCompleted', timeoutMs: 60_000 });
    expect(h.step('wait')).toMatchObject({ status: 'WAITING', attempt: 1 });

    h.signal('DeliveryCompleted', { droneId: 'd-7' });
    expect(h.recorded).toEqual(['SignalReceived wait#1', 'StepScheduled c#1']);
    expect(h.commands).toEqual(['run c#1']);
    expect(h.step('wait')).toMatchObject({ status: 'SUCCEEDED', output: { droneId: 'd-7' }, error: null });
    h.succeed('c');
    expect(h.state.status).toBe('COMPLETED');
    expect(h.state.output).toEqual({ a: { from: 'a' }, wait: { droneId: 'd-7' }, c: { from: 'c' } });
  });

  it('ignores a signal nothing waits for nor will: another name, another step, a second one', () => {
    const h = harness(['a', wait]);
    h.start();
    h.succeed('a');
    expect(h.signal('Other').ignored).toBe('nothing waits for signal "Other"');
    expect(h.signal('DeliveryCompleted', {}, 'a').ignored).toBe(
      'nothing waits for signal "DeliveryCompleted" at step "a"',
    );
    expect(h.signal('DeliveryCompleted', {}, 'nope').ignored).toBe('unknown step "nope"');
    expect(h.signal('DeliveryCompleted', { n: 1 }, 'wait').ignored).toBeNull();
    expect(h.state.status).toBe('COMPLETED');
    expect(h.signal('DeliveryCompleted').ignored).toBe('saga is COMPLETED');
  });

  it('buffers a signal that comes before its wait started; the wait consumes it as it starts, in the same commit', () => {
    const h = harness(['a', wait, 'c']);
    h.start();
    const early = h.signal('DeliveryCompleted', { droneId: 'd-1' });
    expect(early.ignored).toBeNull();
    expect(early.commands).toEqual([]);
    expect(h.recorded).toEqual(['SignalBuffered']);
    expect(early.history[0].data).toEqual({ signal: 'DeliveryCompleted' });
    expect(h.state.pendingSignals).toEqual([{ signal: 'DeliveryCompleted', payload: { droneId: 'd-1' } }]);
    expect(h.step('wait').status).toBe('PENDING');
    // A second one while the first is buffered: the first wins.
    expect(h.signal('DeliveryCompleted', { droneId: 'd-2' }).ignored).toBe(
      'signal "DeliveryCompleted" is already buffered',
    );

    const started = h.succeed('a');
    // No AwaitSignal: the wait is over as it starts, and c is dispatched in the same transition.
    expect(started.commands.map((c) => c.type)).toEqual(['DispatchStep']);
    expect(h.recorded).toEqual(['StepSucceeded a#1', 'SignalReceived wait#1', 'StepScheduled c#1']);
    expect(started.history[1].data).toEqual({ signal: 'DeliveryCompleted', buffered: true });
    expect(h.step('wait')).toMatchObject({ status: 'SUCCEEDED', attempt: 1, output: { droneId: 'd-1' } });
    expect(h.state.pendingSignals).toEqual([]);
    h.succeed('c');
    expect(h.state.output).toEqual({ a: { from: 'a' }, wait: { droneId: 'd-1' }, c: { from: 'c' } });
  });

  it('keeps a buffered signal for the step it was sent to, and buffers nothing once compensating', () => {
    const other = { ...wait, name: 'other' };
    const h = harness(['a', { group: 'g', steps: [wait, other] }, 'c']);
    h.start();
    expect(h.signal('DeliveryCompleted', { to: 'other' }, 'other').ignored).toBeNull();
    expect(h.state.pendingSignals).toEqual([{ signal: 'DeliveryCompleted', step: 'other', payload: { to: 'other' } }]);
    h.succeed('a');
    expect(h.commands).toEqual(['await wait#1 DeliveryCompleted']);
    expect(h.step('other')).toMatchObject({ status: 'SUCCEEDED', output: { to: 'other' } });
    expect(h.step('wait').status).toBe('WAITING');

    const k = harness(['a', 'b', wait]);
    k.start();
    k.succeed('a');
    k.fail('b', definiteError());
    expect(k.state.status).toBe('COMPENSATING');
    expect(k.signal('DeliveryCompleted').ignored).toBe('nothing waits for signal "DeliveryCompleted"');
    const c = harness(['a', wait]);
    c.start();
    c.cancel();
    expect(c.signal('DeliveryCompleted').ignored).toBe('nothing waits for signal "DeliveryCompleted"');
  });

  it("ignores agents' outcomes for it: only the signal or the deadline ends it", () => {
    const h = harness([wait]);
    h.start();
    expect(h.succeed('wait').ignored).toBe('step "wait" is WAITING: only its signal or deadline ends it');
    expect(h.fail('wait', transientError()).ignored).toBe(
      'step "wait" is WAITING: only its signal or deadline ends it',
    );
    expect(h.started('wait').ignored).toBe('step "wait" is WAITING');
  });

  it('fails for good when its deadline passes (never retried) and the earlier steps are compensated', () => {
    const h = harness(['a', wait, 'c']);
    h.start();
    h.succeed('a');
    expect(h.signalTimedOut('wait', 2).ignored).toBe('stale attempt 2 of step "wait" (current is 1)');
    h.signalTimedOut('wait');
    const error = {
      name: 'SignalTimeout',
      code: 'SIGNAL_TIMEOUT',
      message: 'no signal "DeliveryCompleted" within 60000 ms',
      retryable: false,
    };
    expect(h.step('wait')).toMatchObject({ status: 'FAILED', error, outcomeUnknown: false, compensation: null });
    expect(h.state.status).toBe('COMPENSATING');
    expect(h.state.error).toEqual({ step: 'wait', code: 'SIGNAL_TIMEOUT', message: error.message, transient: false });
    expect(h.commands).toEqual(['undo a#1']);
    expect(h.signal('DeliveryCompleted').ignored).toBe('nothing waits for signal "DeliveryCompleted"');
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(h.step('c').status).toBe('PENDING');
  });

  it('ignores its deadline once the signal came', () => {
    const h = harness([wait]);
    h.start();
    h.signal('DeliveryCompleted');
    expect(h.signalTimedOut('wait', 1).ignored).toBe('saga is COMPLETED');
  });

  it('gives up waiting, with nothing to undo, when a sibling fails for good', () => {
    const h = harness(['a', { group: 'g', steps: ['b', wait] }]);
    h.start();
    h.succeed('a');
    expect(h.commands).toEqual(['run b#1', 'await wait#1 DeliveryCompleted']);
    h.fail('b', definiteError());
    expect(h.step('wait')).toMatchObject({ status: 'FAILED', outcomeUnknown: false });
    expect(h.step('wait').error?.code).toBe('WAIT_ABANDONED');
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('gives up waiting on cancel, and the saga ends CANCELLED', () => {
    const h = harness(['a', wait]);
    h.start();
    h.succeed('a');
    h.cancel();
    expect(h.step('wait').status).toBe('FAILED');
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('CANCELLED');
  });

  it('undoes a wait that succeeded, when it has a compensation and a later step fails', () => {
    const h = harness(['a', { ...wait, compensate: true }, 'c']);
    h.start();
    h.succeed('a');
    h.signal('DeliveryCompleted');
    h.fail('c', definiteError());
    expect(h.commands).toEqual(['undo wait#1']);
  });

  it('after the pivot, a timeout leaves the saga FAILED; an operator retry waits again', () => {
    const h = harness([{ name: 'pivot', pivot: true, compensate: false }, wait]);
    h.start();
    h.succeed('pivot');
    h.signalTimedOut('wait');
    expect(h.state.status).toBe('FAILED');
    expect(h.commands).toEqual(['alert SIGNAL_TIMEOUT']);
    h.retry();
    expect(h.commands).toEqual(['await wait#2 DeliveryCompleted']);
    expect(h.step('wait')).toMatchObject({ status: 'WAITING', attempt: 2, error: null });
    h.signal('DeliveryCompleted');
    expect(h.state.status).toBe('COMPLETED');
  });

  it('completes every step that waits for the same signal at once', () => {
    const h = harness([{ group: 'g', steps: [wait, { ...wait, name: 'also' }] }]);
    h.start();
    h.signal('DeliveryCompleted', { x: 1 });
    expect(h.recorded).toEqual(['SignalReceived wait#1', 'SignalReceived also#1', 'SagaCompleted']);
    expect(h.state.status).toBe('COMPLETED');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A wait that continues at its timeout.
// ---------------------------------------------------------------------------------------------------------------

describe("a wait with onTimeout: 'continue'", () => {
  const wait = { name: 'approval', signal: 'Approved', timeoutMs: 60_000, onTimeout: 'continue' as const };

  it('succeeds at its timeout with { timedOut: true } and goes on to the next stage', () => {
    const h = harness(['a', wait, 'c']);
    h.start();
    h.succeed('a');
    h.signalTimedOut('approval');
    expect(h.recorded).toEqual(['WaitTimedOut approval#1', 'StepScheduled c#1']);
    expect(h.last!.history[0].data).toEqual({ signal: 'Approved', timeoutMs: 60_000, continued: true });
    expect(h.step('approval')).toMatchObject({ status: 'SUCCEEDED', output: { timedOut: true }, error: null });
    expect(h.commands).toEqual(['run c#1']);
    h.succeed('c');
    expect(h.state.output).toEqual({ a: { from: 'a' }, approval: { timedOut: true }, c: { from: 'c' } });
    // The signal after the timeout finds nothing waiting.
    expect(h.signal('Approved').ignored).toBe('saga is COMPLETED');
  });

  it('still takes the signal when it comes in time, and undoes a timed-out wait like a success', () => {
    const h = harness([wait]);
    h.start();
    h.signal('Approved', { by: 'ops' });
    expect(h.state.output).toEqual({ approval: { by: 'ops' } });

    const k = harness(['a', { ...wait, compensate: true }, 'c']);
    k.start();
    k.succeed('a');
    k.signalTimedOut('approval');
    k.fail('c', definiteError());
    // Its compensate runs with ctx.output = { timedOut: true } (the type says so): it decides there is nothing to do.
    expect(k.commands).toEqual(['undo approval#1']);
  });

  it('ignores a stale deadline', () => {
    const h = harness([wait]);
    h.start();
    expect(h.signalTimedOut('approval', 2).ignored).toBe('stale attempt 2 of step "approval" (current is 1)');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Sleep steps: a timer on the step row ends them.
// ---------------------------------------------------------------------------------------------------------------

describe('a sleep step', () => {
  const nap = { name: 'cool-off', sleep: { durationMs: 3_600_000 }, compensate: false };
  const slot = {
    name: 'until-slot',
    sleep: { until: (c: { steps: Record<string, any> }) => c.steps.book.slotStart as string },
    compensate: false,
  };

  it('sleeps for a duration with a timer and no job, then succeeds with { wokeAt, dueAt }', () => {
    const h = harness(['a', nap, 'c']);
    h.start();
    h.succeed('a');
    expect(h.recorded).toEqual(['StepSucceeded a#1', 'StepSleeping cool-off#1']);
    expect(h.last!.commands).toEqual([{ type: 'StartTimer', step: 'cool-off', attempt: 1, delayMs: 3_600_000 }]);
    expect(h.last!.history[1].data).toEqual({ delayMs: 3_600_000 });
    expect(h.step('cool-off')).toMatchObject({ status: 'SLEEPING', attempt: 1 });

    h.timerFired('cool-off', '2026-12-01T11:00:00.700Z', '2026-12-01T11:00:00.000Z');
    expect(h.recorded).toEqual(['TimerFired cool-off#1', 'StepScheduled c#1']);
    expect(h.last!.history[0].data).toEqual({ dueAt: '2026-12-01T11:00:00.000Z', wokeAt: '2026-12-01T11:00:00.700Z' });
    expect(h.step('cool-off')).toMatchObject({
      status: 'SUCCEEDED',
      output: { wokeAt: '2026-12-01T11:00:00.700Z', dueAt: '2026-12-01T11:00:00.000Z' },
    });
    expect(h.commands).toEqual(['run c#1']);
  });

  it('fires once: a second TimerFired, a stale one and agents’ outcomes are ignored', () => {
    const h = harness([nap, 'c']);
    h.start();
    expect(h.timerFired('cool-off', undefined, undefined, 2).ignored).toBe(
      'stale attempt 2 of step "cool-off" (current is 1)',
    );
    expect(h.succeed('cool-off').ignored).toBe('step "cool-off" is SLEEPING: only its timer ends it');
    expect(h.fail('cool-off', transientError()).ignored).toBe('step "cool-off" is SLEEPING: only its timer ends it');
    expect(h.sleepStarted('cool-off').ignored).toBe('step "cool-off" is SLEEPING: only its timer ends it');
    h.timerFired('cool-off');
    expect(h.timerFired('cool-off', undefined, undefined, 1).ignored).toBe('step "cool-off" is SUCCEEDED');
  });

  it('has the agent compute `until` from earlier outputs, then sleeps until that time', () => {
    const h = harness(['book', slot, 'c']);
    h.start();
    h.succeed('book', { slotStart: '2026-12-24T18:00:00+01:00' });
    // Code: dispatched to an agent, which evaluates `until` and reports the time as data.
    expect(h.commands).toEqual(['run until-slot#1']);
    expect(h.step('until-slot').status).toBe('SCHEDULED');
    expect(h.succeed('until-slot').ignored).toBe('step "until-slot" is a sleep: its timer ends it');
    h.evaluate('until-slot');
    expect(h.last!.commands).toEqual([
      { type: 'StartTimer', step: 'until-slot', attempt: 1, until: '2026-12-24T17:00:00.000Z' },
    ]);
    expect(h.recorded).toEqual(['StepSleeping until-slot#1']);
    h.timerFired('until-slot');
    expect(h.commands).toEqual(['run c#1']);
  });

  it('needs a time from the agent for a sleep that computes it', () => {
    const h = harness([slot]);
    h.start();
    expect(h.sleepStarted('until-slot').ignored).toBe(
      'step "until-slot" computes its wake-up time: SleepStarted needs `until`',
    );
    expect(h.sleepStarted('until-slot', '2026-12-24T17:00:00.000Z').ignored).toBeNull();
    const k = harness(['a']);
    k.start();
    expect(k.sleepStarted('a', '2026-12-24T17:00:00.000Z').ignored).toBe('step "a" is not a sleep');
  });

  it('fails for good when `until` threw (a definite "no"), and the earlier steps are compensated', () => {
    const h = harness(['a', slot]);
    h.start();
    h.succeed('a');
    h.fail('until-slot', { name: 'SleepUntilError', code: 'SLEEP_UNTIL_ERROR', message: 'bad', retryable: false });
    expect(h.commands).toEqual(['undo a#1']);
  });

  it('abandons its timer on cancel: FAILED TIMER_ABANDONED, nothing to undo for it', () => {
    const h = harness(['a', nap, 'c']);
    h.start();
    h.succeed('a');
    h.cancel();
    expect(h.recorded).toEqual([
      'CancelRequested',
      'SagaCompensating',
      'StepFailed cool-off#1',
      'CompensationScheduled a#1',
    ]);
    expect(h.step('cool-off')).toMatchObject({
      status: 'FAILED',
      outcomeUnknown: false,
      compensation: null,
      error: { code: 'TIMER_ABANDONED' },
    });
    expect(h.timerFired('cool-off').ignored).toBe('step "cool-off" is FAILED');
    h.undone('a');
    expect(h.state.status).toBe('CANCELLED');
  });

  it('gives up a sleep whose `until` was computed after the saga began compensating', () => {
    const h = harness(['a', slot]);
    h.start();
    h.succeed('a');
    h.cancel();
    // The dispatched evaluation is awaited like any attempt in flight.
    expect(h.commands).toEqual([]);
    h.sleepStarted('until-slot', '2026-12-24T17:00:00.000Z');
    expect(h.step('until-slot')).toMatchObject({ status: 'FAILED', error: { code: 'TIMER_ABANDONED' } });
    expect(h.commands).toEqual(['undo a#1']);
  });

  it('is skipped when its `when` is false, and sleeps when true (a conditional duration sleep)', () => {
    const stages = (sleep: boolean) => ['a', { ...nap, when: () => sleep }, 'c'];
    const skips = harness(stages(false));
    skips.start();
    skips.succeed('a');
    expect(skips.commands).toEqual(['run cool-off#1']);
    skips.evaluate('cool-off');
    expect(skips.recorded).toEqual(['StepSkipped cool-off#1', 'StepScheduled c#1']);

    const sleeps = harness(stages(true));
    sleeps.start();
    sleeps.succeed('a');
    sleeps.evaluate('cool-off');
    expect(sleeps.commands).toEqual(['timer cool-off#1 +3600000ms']);
  });

  it('starts a saga whose first stage is a sleep with its timer', () => {
    const h = harness([nap]);
    h.start();
    expect(h.recorded).toEqual(['SagaStarted', 'StepSleeping cool-off#1']);
    expect(h.commands).toEqual(['timer cool-off#1 +3600000ms']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Delayed starts.
// ---------------------------------------------------------------------------------------------------------------

describe('a delayed start', () => {
  it('is DELAYED with nothing dispatched, then starts like any saga', () => {
    const h = harness(['a', 'b']);
    h.delay({ startAt: '2026-12-24T18:00:00.000Z' });
    expect(h.state.status).toBe('DELAYED');
    expect(h.recorded).toEqual(['SagaDelayed']);
    expect(h.last!.history[0].data).toEqual({ startAt: '2026-12-24T18:00:00.000Z' });
    expect(h.last!.commands).toEqual([{ type: 'DelayStart', startAt: '2026-12-24T18:00:00.000Z' }]);
    expect(h.step('a').status).toBe('PENDING');
    expect(h.delay().ignored).toBe('saga already started');
    h.start();
    expect(h.recorded).toEqual(['SagaStarted', 'StepScheduled a#1']);
    expect(h.state.status).toBe('RUNNING');
    expect(h.start().ignored).toBe('saga already started');
  });

  it('needs exactly one start time', () => {
    const h = harness(['a']);
    expect(h.send({ type: 'SagaDelayed' }).ignored).toBe('SagaDelayed needs exactly one of startAt and startInMs');
    expect(h.send({ type: 'SagaDelayed', startAt: '2026-12-24T18:00:00Z', startInMs: 5 }).ignored).toBe(
      'SagaDelayed needs exactly one of startAt and startInMs',
    );
  });

  it('ends CANCELLED at once when cancelled before it starts; its start then changes nothing', () => {
    const h = harness(['a']);
    h.delay();
    h.cancel('not needed');
    expect(h.recorded).toEqual(['CancelRequested', 'SagaCancelled']);
    expect(h.state).toMatchObject({ status: 'CANCELLED', cancelRequested: true });
    expect(h.start().ignored).toBe('saga is CANCELLED');
  });

  it('buffers a signal for a wait it will reach, and nothing else', () => {
    const h = harness([{ name: 'w', signal: 'go' }]);
    h.delay();
    expect(h.signal('go', { early: 1 }).ignored).toBeNull();
    expect(h.signal('other').ignored).toBe('nothing waits for signal "other"');
    h.start();
    expect(h.state).toMatchObject({ status: 'COMPLETED', output: { w: { early: 1 } } });
  });
});
