import { initialState } from './initial-state';
import { makeDefinition } from './testing/make-definition';

describe('initialState', () => {
  it('is RUNNING with every step PENDING and no history', () => {
    const def = makeDefinition(['a', { group: 'g', steps: ['b', 'c'] }]);
    const input = { orderId: 'o-1' };
    expect(initialState(def, input)).toEqual({
      status: 'RUNNING',
      input,
      output: null,
      error: null,
      cancelRequested: false,
      eventCount: 0,
      pendingSignals: [],
      steps: Object.fromEntries(
        ['a', 'b', 'c'].map((name) => [
          name,
          {
            status: 'PENDING',
            attempt: 0,
            attemptBase: 0,
            output: null,
            error: null,
            outcomeUnknown: false,
            compensation: null,
          },
        ]),
      ),
    });
  });

  it('gives every step its own object', () => {
    const state = initialState(makeDefinition(['a', 'b']), {});
    expect(state.steps.a).not.toBe(state.steps.b);
  });
});
