import { makeDefinition, type StageSpec } from './testing/make-definition';
import { SagaHarness, definiteError } from './testing/saga-harness';

const harness = (stages: readonly StageSpec[], input: unknown = {}) => new SagaHarness(makeDefinition(stages), input);

describe('a child step (the parent)', () => {
  const stages: StageSpec[] = ['reserve', { name: 'deliver', child: { type: 'delivery', version: 2 } }, 'notify'];

  function toChild(): SagaHarness {
    const h = harness(stages);
    h.start();
    h.succeed('reserve');
    // The agent computes the child's input (code): a job like any step's.
    expect(h.commands).toEqual(['run deliver#1']);
    h.childRequested('deliver', { parcel: 'p-1' });
    return h;
  }

  it('starts the child in the commit that puts the step WAITING, and takes its output when it completes', () => {
    const h = toChild();
    expect(h.step('deliver').status).toBe('WAITING');
    expect(h.last!.commands).toEqual([
      {
        type: 'StartChild',
        step: 'deliver',
        attempt: 1,
        childType: 'delivery',
        childVersion: 2,
        input: { parcel: 'p-1' },
        round: 0,
      },
    ]);
    expect(h.recorded).toEqual(['ChildStarted deliver#1']);
    // Only the child's end ends the step: no agent outcome, no signal timeout.
    expect(h.succeed('deliver').ignored).toMatch(/WAITING/);
    expect(h.signalTimedOut('deliver').ignored).toBe(
      'step "deliver" waits for its child saga: only the child\'s end ends it',
    );
    h.childEnded('deliver', 'COMPLETED', { droneId: 'd-7' });
    expect(h.step('deliver')).toMatchObject({ status: 'SUCCEEDED', output: { droneId: 'd-7' } });
    expect(h.recorded).toEqual(['ChildEnded deliver#1', 'StepSucceeded deliver#1', 'StepScheduled notify#1']);
    // Delivered again (the supervisor after a crash): ignored.
    expect(h.childEnded('deliver', 'COMPLETED').ignored).toBe(
      'step "deliver" is SUCCEEDED: it does not wait for its child',
    );
    h.succeed('notify');
    expect(h.state).toMatchObject({ status: 'COMPLETED', output: { deliver: { droneId: 'd-7' } } });
  });

  it.each([
    ['COMPENSATED', 'CHILD_COMPENSATED'],
    ['CANCELLED', 'CHILD_CANCELLED'],
  ] as const)('a child that ends %s is a definite failure of the step: the parent compensates', (status, code) => {
    const h = toChild();
    h.childEnded('deliver', status);
    expect(h.step('deliver')).toMatchObject({
      status: 'FAILED',
      outcomeUnknown: false,
      error: { code, retryable: false, message: `child saga child-of-deliver ended ${status}: child said no` },
    });
    expect(h.state).toMatchObject({ status: 'COMPENSATING', error: { step: 'deliver', code } });
    // Nothing to undo for the step (its child undid itself): the earlier steps only.
    expect(h.commands).toEqual(['undo reserve#1']);
    h.undone('reserve');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it('compensating a step whose child completed undoes the child, and waits for it to end COMPENSATED', () => {
    const h = toChild();
    h.childEnded('deliver', 'COMPLETED');
    h.fail('notify', definiteError());
    expect(h.last!.commands).toEqual([
      {
        type: 'UndoChild',
        step: 'deliver',
        attempt: 1,
        compensationAttempt: 1,
        reason: 'definite DECLINED',
      },
    ]);
    expect(h.step('deliver')).toMatchObject({ status: 'COMPENSATING', compensation: { status: 'SCHEDULED' } });
    expect(h.childEnded('deliver', 'COMPLETED').ignored).toBe('the child of step "deliver" is still being undone');
    h.childEnded('deliver', 'COMPENSATED');
    expect(h.step('deliver')).toMatchObject({ status: 'COMPENSATED', compensation: { status: 'SUCCEEDED' } });
    expect(h.commands).toEqual(['undo reserve#1']);
    h.undone('reserve');
    expect(h.state.status).toBe('COMPENSATED');
  });

  it("a child that refuses its undo (past its pivot) fails the parent's compensation for good: FAILED, alerted", () => {
    const h = toChild();
    h.childEnded('deliver', 'COMPLETED');
    h.fail('notify', definiteError());
    const refused = { ...definiteError('CHILD_PAST_PIVOT'), retryable: true };
    h.undoFailed('deliver', refused);
    // Never retried here (the child retries its own undos): a definite failure whatever its flag.
    expect(h.step('deliver')).toMatchObject({ status: 'COMPENSATION_FAILED' });
    expect(h.state).toMatchObject({ status: 'FAILED', error: { code: 'CHILD_PAST_PIVOT' } });
    h.retry();
    expect(h.commands).toEqual(['undo-child deliver#1 (2)']);
  });

  it("an operator's cancel reaches the running child; its end ends the step", () => {
    const h = toChild();
    h.cancel('not needed');
    expect(h.last!.commands).toEqual([
      { type: 'CancelChild', step: 'deliver', attempt: 1, reason: expect.any(String) },
    ]);
    expect(h.recorded).toEqual(['CancelRequested', 'SagaCompensating', 'ChildCancelRequested deliver#1']);
    expect(h.step('deliver').status).toBe('WAITING');
    h.childEnded('deliver', 'CANCELLED');
    expect(h.step('deliver')).toMatchObject({ status: 'FAILED', error: { code: 'CHILD_CANCELLED' } });
    expect(h.commands).toEqual(['undo reserve#1']);
    h.undone('reserve');
    expect(h.state.status).toBe('CANCELLED');
  });

  it('a child that completes anyway (past its pivot, or a race) is undone like any late success', () => {
    const h = toChild();
    h.cancel();
    h.childEnded('deliver', 'COMPLETED');
    expect(h.commands).toEqual(['undo-child deliver#1 (1)']);
  });

  it('no child starts when the saga began compensating while the agent computed its input', () => {
    const h = harness(stages);
    h.start();
    h.succeed('reserve');
    h.cancel();
    h.childRequested('deliver');
    expect(h.step('deliver')).toMatchObject({ status: 'FAILED', error: { code: 'CHILD_ABANDONED' } });
    expect(h.commands).toEqual(['undo reserve#1']);
  });

  it("ignores a child's end from another attempt, and a step that starts no child", () => {
    const h = toChild();
    expect(h.childEnded('deliver', 'COMPLETED', {}, 2).ignored).toBe(
      'stale attempt 2 of step "deliver" (current is 1)',
    );
    expect(h.childEnded('reserve', 'COMPLETED').ignored).toBe('step "reserve" does not start a child saga');
    expect(h.childRequested('reserve', {}, 1).ignored).toMatch(/reserve/);
  });

  it('an operator retry after the pivot starts a new child, in a new round (another key)', () => {
    const h = harness([
      { name: 'charge', pivot: true, compensate: false },
      { name: 'deliver', child: { type: 'delivery' } },
    ]);
    h.start();
    h.succeed('charge');
    h.childRequested('deliver');
    h.childEnded('deliver', 'COMPENSATED');
    expect(h.state.status).toBe('FAILED');
    h.retry();
    expect(h.commands).toEqual(['run deliver#2']);
    h.childRequested('deliver');
    expect(h.commands).toEqual(['child deliver#2 delivery@1 round 1']);
  });
});

describe('a saga undone by its parent (the child)', () => {
  it('goes from COMPLETED to COMPENSATING, undoes its completed steps backwards, ends COMPENSATED with the cause', () => {
    const h = harness(['a', { name: 'b', compensate: false }, 'c']);
    h.start();
    h.succeed('a');
    h.succeed('b');
    h.succeed('c');
    expect(h.state.status).toBe('COMPLETED');
    h.undoRequested('saga p-1 compensates step "deliver": payment declined');
    expect(h.state).toMatchObject({
      status: 'COMPENSATING',
      output: null,
      error: { step: null, code: 'UNDO_REQUESTED', message: 'saga p-1 compensates step "deliver": payment declined' },
    });
    expect(h.recorded).toEqual(['UndoRequested', 'SagaCompensating', 'CompensationScheduled c#1']);
    expect(h.undoRequested().ignored).toBe('saga is COMPENSATING, not COMPLETED');
    h.undone('c');
    expect(h.commands).toEqual(['undo a#1']);
    h.undone('a');
    expect(h.state.status).toBe('COMPENSATED');
    expect(h.undoRequested().ignored).toBe('saga is COMPENSATED');
  });

  it('refuses past its pivot: a point of no return cannot be undone', () => {
    const h = harness(['a', { name: 'p', pivot: true }]);
    h.start();
    h.succeed('a');
    h.succeed('p');
    expect(h.undoRequested().ignored).toBe('past the pivot step "p": its effects cannot be undone');
  });

  it('is refused while it runs (its parent cancels it instead)', () => {
    const h = harness(['a']);
    h.start();
    expect(h.undoRequested().ignored).toBe('saga is RUNNING, not COMPLETED');
  });
});
