import { initialState } from './initial-state';
import { stepOutputs } from './outputs';
import { makeDefinition } from './testing/make-definition';
import type { SagaState, StepState } from './types';

describe('stepOutputs', () => {
  const def = makeDefinition(['reserve-drone', { group: 'g', steps: ['charge-card', 'load-package'] }, 'notify']);
  const withSteps = (steps: Record<string, Partial<StepState>>): SagaState => {
    const state = initialState(def, {});
    for (const [name, patch] of Object.entries(steps)) state.steps[name] = { ...state.steps[name], ...patch };
    return state;
  };

  it('is empty before any step succeeded', () => {
    expect(stepOutputs(def, initialState(def, {}))).toEqual({});
  });

  it('keys the outputs of SUCCEEDED steps by camelCase key, in declaration order', () => {
    const state = withSteps({
      'reserve-drone': { status: 'SUCCEEDED', output: { droneId: 'd-7' } },
      'load-package': { status: 'SUCCEEDED', output: null },
      'charge-card': { status: 'RUNNING', output: null },
    });
    const outputs = stepOutputs(def, state);
    expect(outputs).toEqual({ reserveDrone: { droneId: 'd-7' }, loadPackage: null });
    expect(Object.keys(outputs)).toEqual(['reserveDrone', 'loadPackage']);
  });

  it('leaves out skipped, failed and compensated steps', () => {
    const state = withSteps({
      'reserve-drone': { status: 'COMPENSATED', output: { droneId: 'd-7' } },
      'charge-card': { status: 'FAILED' },
      'load-package': { status: 'SKIPPED' },
    });
    expect(stepOutputs(def, state)).toEqual({});
  });

  it('returns a fresh object each time', () => {
    const state = initialState(def, {});
    expect(stepOutputs(def, state)).not.toBe(stepOutputs(def, state));
  });
});
