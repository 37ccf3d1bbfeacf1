import type { SagaDefinition } from '@saga-engine/core';
import { IsString } from 'class-validator';
import { defineSaga, type SagaOptions } from './define-saga';
import { SagaDefinitionError } from './errors';
import { DEFAULT_RETRY_POLICY } from './retry-policy';

const run = async () => ({ ok: true });
const compensate = async () => undefined;
const KEBAB =
  'must be kebab-case, lowercase letters and digits in words joined by single dashes, starting with a letter';

// The checks exist for what the types cannot stop: plain JavaScript, casts, options built at run time.
function loose(value: unknown): any {
  return value;
}

function saga(name = 'x', options: SagaOptions<object> = { version: 1 }) {
  return defineSaga(name, options);
}

function expectDefinitionError(fn: () => unknown, message: string): void {
  expect(fn).toThrow(SagaDefinitionError);
  expect(fn).toThrow(new SagaDefinitionError(message));
}

class OrderInput {
  orderId!: string;
}

describe('defineSaga(...).build()', () => {
  const definition = defineSaga('drone-delivery', { version: 3, input: OrderInput, description: 'Deliver a parcel' })
    .step('verify-account', { run })
    .step('create-delivery', { run, compensate, retry: { maximumAttempts: 3 }, timeout: '2s', description: 'Book' })
    .parallel('reserve', (g) =>
      g
        .step('register-package', { run, compensate })
        .step('schedule-drone', { run, when: () => true, whenLabel: 'weightKg <= 20' }),
    )
    .step('charge-account', { run, compensate, pivot: true })
    .step('notify-customer', { run })
    .build();

  it('describes the saga', () => {
    expect(definition.name).toBe('drone-delivery');
    expect(definition.version).toBe(3);
    expect(definition.description).toBe('Deliver a parcel');
    expect(definition.inputClass).toBe(OrderInput);
  });

  it('numbers stages and positions in declaration order, with camelCase keys', () => {
    expect(definition.stages).toEqual([
      { index: 0, group: null, steps: ['verify-account'] },
      { index: 1, group: null, steps: ['create-delivery'] },
      { index: 2, group: 'reserve', steps: ['register-package', 'schedule-drone'] },
      { index: 3, group: null, steps: ['charge-account'] },
      { index: 4, group: null, steps: ['notify-customer'] },
    ]);
    expect(
      definition.steps.map(({ name, key, stage, position, group }) => ({ name, key, stage, position, group })),
    ).toEqual([
      { name: 'verify-account', key: 'verifyAccount', stage: 0, position: 0, group: null },
      { name: 'create-delivery', key: 'createDelivery', stage: 1, position: 1, group: null },
      { name: 'register-package', key: 'registerPackage', stage: 2, position: 2, group: 'reserve' },
      { name: 'schedule-drone', key: 'scheduleDrone', stage: 2, position: 3, group: 'reserve' },
      { name: 'charge-account', key: 'chargeAccount', stage: 3, position: 4, group: null },
      { name: 'notify-customer', key: 'notifyCustomer', stage: 4, position: 5, group: null },
    ]);
  });

  it('keeps the functions, labels, pivot and descriptions', () => {
    const { stepsByName } = definition;
    expect(stepsByName['verify-account'].run).toBe(run);
    expect(stepsByName['verify-account'].compensate).toBeNull();
    expect(stepsByName['create-delivery'].compensate).toBe(compensate);
    expect(stepsByName['create-delivery'].description).toBe('Book');
    expect(stepsByName['verify-account'].description).toBeNull();
    expect(stepsByName['schedule-drone'].when).toEqual(expect.any(Function));
    expect(stepsByName['schedule-drone'].whenLabel).toBe('weightKg <= 20');
    expect(stepsByName['register-package'].when).toBeNull();
    expect(stepsByName['register-package'].whenLabel).toBeNull();
    expect(definition.steps.filter((step) => step.pivot).map((step) => step.name)).toEqual(['charge-account']);
  });

  it('resolves policies and timeouts, defaults included', () => {
    const { stepsByName } = definition;
    expect(stepsByName['verify-account']).toMatchObject({
      retry: DEFAULT_RETRY_POLICY,
      compensationRetry: DEFAULT_RETRY_POLICY,
      timeoutMs: 30_000,
      compensationTimeoutMs: 30_000,
    });
    expect(stepsByName['create-delivery']).toMatchObject({
      retry: { ...DEFAULT_RETRY_POLICY, maximumAttempts: 3 },
      compensationRetry: DEFAULT_RETRY_POLICY,
      timeoutMs: 2_000,
      compensationTimeoutMs: 30_000,
    });
  });

  it('indexes steps by name, without a prototype', () => {
    expect(Object.keys(definition.stepsByName)).toEqual(definition.steps.map((step) => step.name));
    expect(definition.stepsByName['charge-account']).toBe(definition.steps[4]);
    // "constructor" is a valid step name: a lookup must not find Object's.
    expect(definition.stepsByName['constructor']).toBeUndefined();
    expect('toString' in definition.stepsByName).toBe(false);
  });

  it('is deeply frozen, except for the functions and the input class', () => {
    const step = definition.stepsByName['create-delivery'];
    for (const value of [
      definition,
      definition.stages,
      definition.stages[2],
      definition.stages[2].steps,
      definition.steps,
      definition.stepsByName,
      step,
      step.retry,
      step.retry.nonRetryableCodes,
      step.compensationRetry,
    ]) {
      expect(Object.isFrozen(value)).toBe(true);
    }
    expect(Object.isFrozen(step.run)).toBe(false);
    expect(Object.isFrozen(OrderInput)).toBe(false);
    expect(() => {
      (definition.steps as unknown[]).push('more');
    }).toThrow(TypeError);
  });

  it('defaults description and input class to null', () => {
    const minimal = defineSaga('minimal', { version: 1 }).step('only', { run }).build();
    expect(minimal.description).toBeNull();
    expect(minimal.inputClass).toBeNull();
  });

  it('keeps builders immutable: a shared prefix builds independent definitions', () => {
    const base = saga().step('a', { run });
    const one = base.step('b', { run }).build();
    const two = base.step('c', { run, retry: { nonRetryableCodes: ['X'] } }).build();
    expect(base.build().steps.map((step) => step.name)).toEqual(['a']);
    expect(one.steps.map((step) => step.name)).toEqual(['a', 'b']);
    expect(two.steps.map((step) => step.name)).toEqual(['a', 'c']);
    expect(one.steps[0]).not.toBe(two.steps[0]);
    expect(base.build()).toEqual(base.build());
  });
});

describe('saga defaults', () => {
  it('apply to every step, field by field under the step', () => {
    const definition = saga('x', {
      version: 1,
      defaults: {
        retry: { maximumAttempts: 10, jitter: 0 },
        compensationRetry: { maximumAttempts: 0, initialInterval: '5s' },
        timeout: '10s',
        compensationTimeout: '1m',
      },
    })
      .step('a', { run })
      .step('b', { run, retry: { jitter: 0.5 }, compensationRetry: { maximumInterval: '10m' }, timeout: 100 })
      .build();
    const [a, b] = definition.steps;
    expect(a.retry).toEqual({ ...DEFAULT_RETRY_POLICY, maximumAttempts: 10, jitter: 0 });
    expect(a.compensationRetry).toEqual({ ...DEFAULT_RETRY_POLICY, maximumAttempts: 0, initialIntervalMs: 5_000 });
    expect(a.timeoutMs).toBe(10_000);
    expect(a.compensationTimeoutMs).toBe(60_000);
    expect(b.retry).toEqual({ ...DEFAULT_RETRY_POLICY, maximumAttempts: 10, jitter: 0.5 });
    expect(b.compensationRetry).toEqual({
      ...DEFAULT_RETRY_POLICY,
      maximumAttempts: 0,
      initialIntervalMs: 5_000,
      maximumIntervalMs: 600_000,
    });
    expect(b.timeoutMs).toBe(100);
    expect(b.compensationTimeoutMs).toBe(60_000);
  });

  it('do not let the compensation inherit the action retry policy', () => {
    const [a] = saga('x', { version: 1, defaults: { retry: { maximumAttempts: 1 } } })
      .step('a', { run, retry: { maximumAttempts: 2 } })
      .build().steps;
    expect(a.compensationRetry.maximumAttempts).toBe(5);
  });
});

describe('validation messages', () => {
  describe('saga', () => {
    it.each([
      ['Drone_Delivery', `Saga "Drone_Delivery": name ${KEBAB} (got "Drone_Delivery")`],
      ['drone--delivery', `Saga "drone--delivery": name ${KEBAB} (got "drone--delivery")`],
      ['-drone', `Saga "-drone": name ${KEBAB} (got "-drone")`],
      ['drone-', `Saga "drone-": name ${KEBAB} (got "drone-")`],
      ['1drone', `Saga "1drone": name ${KEBAB} (got "1drone")`],
      ['', `Saga "": name ${KEBAB} (got "")`],
      [42, `Saga 42: name ${KEBAB} (got 42)`],
      ['a'.repeat(65), `Saga "${'a'.repeat(65)}": name must be at most 64 characters (got 65)`],
    ])('rejects the name %p', (name, message) => {
      expectDefinitionError(() => defineSaga(loose(name), { version: 1 }), message);
    });

    it('accepts a 64-character kebab-case name', () => {
      expect(() => defineSaga('a'.repeat(64), { version: 1 })).not.toThrow();
      expect(() => defineSaga('a1-b2-c3', { version: 1 })).not.toThrow();
    });

    it.each([
      [0, '0'],
      [-1, '-1'],
      [1.5, '1.5'],
      ['1', '"1"'],
      [undefined, 'undefined'],
      [NaN, 'NaN'],
    ])('rejects the version %p', (version, shown) => {
      expectDefinitionError(
        () => defineSaga('x', loose({ version })),
        `Saga "x": version must be a positive integer (got ${shown})`,
      );
    });

    it('rejects bad options', () => {
      expectDefinitionError(
        () => defineSaga('x', loose(undefined)),
        'Saga "x": options must be an object (got undefined)',
      );
      expectDefinitionError(
        () => defineSaga('x', loose({ version: 1, versoin: 2 })),
        'Saga "x": options has an unknown field "versoin" (known: version, input, description, defaults, sensitive, deps, businessKey, searchAttributes)',
      );
      expectDefinitionError(
        () => defineSaga('x', loose({ version: 1, input: {} })),
        'Saga "x": input must be a class (got an object)',
      );
      expectDefinitionError(
        () => defineSaga('x', loose({ version: 1, description: 5 })),
        'Saga "x": description must be a string (got 5)',
      );
    });

    it('rejects bad defaults', () => {
      const withDefaults = (defaults: unknown) => () => defineSaga('x', loose({ version: 1, defaults }));
      expectDefinitionError(withDefaults(null), 'Saga "x": defaults must be an object (got null)');
      expectDefinitionError(
        withDefaults({ retries: {} }),
        'Saga "x": defaults has an unknown field "retries" (known: retry, compensationRetry, timeout, compensationTimeout)',
      );
      expectDefinitionError(
        withDefaults({ retry: { jitter: 2 } }),
        'Saga "x": defaults.retry.jitter must be a number between 0 and 1 (got 2)',
      );
      expectDefinitionError(
        withDefaults({ compensationRetry: { maximumAttempts: -1 } }),
        'Saga "x": defaults.compensationRetry.maximumAttempts must be an integer >= 0, 0 for unlimited (got -1)',
      );
      expectDefinitionError(withDefaults({ timeout: 0 }), 'Saga "x": defaults.timeout must be > 0 (got 0)');
      expectDefinitionError(
        withDefaults({ compensationTimeout: '-1s' }),
        'Saga "x": defaults.compensationTimeout must be > 0 (got "-1s")',
      );
    });

    it('rejects a saga without steps', () => {
      expectDefinitionError(() => saga().build(), 'Saga "x": the saga has no steps; add one with .step()');
    });
  });

  describe('step', () => {
    it.each([
      ['Verify', `Saga "x", step "Verify": name ${KEBAB} (got "Verify")`],
      ['verify_account', `Saga "x", step "verify_account": name ${KEBAB} (got "verify_account")`],
      ['verify account', `Saga "x", step "verify account": name ${KEBAB} (got "verify account")`],
      [undefined, `Saga "x", step undefined: name ${KEBAB} (got undefined)`],
      ['s'.repeat(65), `Saga "x", step "${'s'.repeat(65)}": name must be at most 64 characters (got 65)`],
    ])('rejects the name %p', (name, message) => {
      expectDefinitionError(() => saga().step(loose(name), { run }), message);
    });

    it('rejects a duplicate name, groups included', () => {
      const message = 'Saga "x", step "a": duplicate step name (names are unique across the saga, groups included)';
      expectDefinitionError(() => saga().step('a', { run }).step('a', { run }), message);
      expectDefinitionError(
        () =>
          saga()
            .step('a', { run })
            .parallel('g', (g) => g.step('a', { run })),
        message,
      );
      expectDefinitionError(() => saga().parallel('g', (g) => g.step('a', { run }).step('a', { run })), message);
      expectDefinitionError(
        () =>
          saga()
            .parallel('g', (g) => g.step('a', { run }))
            .step('a', { run }),
        message,
      );
      expectDefinitionError(
        () =>
          saga()
            .parallel('g', (g) => g.step('a', { run }))
            .parallel('h', (g) => g.step('a', { run })),
        message,
      );
    });

    it('rejects two names with the same output key', () => {
      expectDefinitionError(
        () => saga().step('step-2', { run }).step('step2', { run }),
        'Saga "x", step "step2": its output key "step2" is already the key of step "step-2"',
      );
    });

    it.each<[string, unknown, string]>([
      ['run', undefined, 'run must be a function (got undefined)'],
      ['run', 'go', 'run must be a function (got "go")'],
      ['compensate', 'undo', 'compensate must be a function (got "undo")'],
      ['compensate', null, 'compensate must be a function (got null)'],
      ['when', true, 'when must be a function (got true)'],
      ['whenLabel', 7, 'whenLabel must be a string (got 7)'],
      ['description', ['d'], 'description must be a string (got an array)'],
      ['pivot', 'yes', 'pivot must be a boolean (got "yes")'],
      ['timeout', 0, 'timeout must be > 0 (got 0)'],
      ['timeout', -5, 'timeout must be > 0 (got -5)'],
      ['timeout', '0s', 'timeout must be > 0 (got "0s")'],
      ['timeout', 0.4, 'timeout must be > 0 (got 0.4)'],
      ['timeout', NaN, 'timeout must be a finite number of milliseconds (got NaN)'],
      ['timeout', Infinity, 'timeout must be a finite number of milliseconds (got Infinity)'],
      ['timeout', '5', 'timeout must be a duration such as 500, "500ms", "2s", "5m", "1h" or "2d" (got "5")'],
      ['timeout', '1000h', 'timeout must be <= 2147483647ms, the longest a Node.js timer can wait (got "1000h")'],
      ['compensationTimeout', -1, 'compensationTimeout must be > 0 (got -1)'],
      ['retry', { maximumAttempts: 1.5 }, 'retry.maximumAttempts must be an integer >= 0, 0 for unlimited (got 1.5)'],
      ['retry', { initialInterval: -1 }, 'retry.initialInterval must be >= 0 (got -1)'],
      ['retry', { backoffCoefficient: 0.9 }, 'retry.backoffCoefficient must be a number >= 1 (got 0.9)'],
      [
        'retry',
        { initialInterval: '2s', maximumInterval: '1s' },
        'retry.maximumInterval must be >= initialInterval (got 1000ms < 2000ms)',
      ],
      ['retry', { jitter: 1.01 }, 'retry.jitter must be a number between 0 and 1 (got 1.01)'],
      [
        'retry',
        { nonRetryableCodes: [null] },
        'retry.nonRetryableCodes must be an array of strings (got an array holding null)',
      ],
      ['retry', 3, 'retry must be an object (got 3)'],
      ['compensationRetry', { jitter: -1 }, 'compensationRetry.jitter must be a number between 0 and 1 (got -1)'],
    ])('rejects %s = %p', (field, value, message) => {
      expectDefinitionError(() => saga().step('y', loose({ run, [field]: value })), `Saga "x", step "y": ${message}`);
    });

    it('rejects options that are not an object, or have an unknown field', () => {
      expectDefinitionError(
        () => saga().step('y', loose(run)),
        'Saga "x", step "y": options must be an object (got a function)',
      );
      expectDefinitionError(
        () => saga().step('y', loose({ run, retries: 3 })),
        'Saga "x", step "y": options has an unknown field "retries" (known: run, compensate, when, whenLabel, ' +
          'retry, compensationRetry, timeout, compensationTimeout, pivot, description, output)',
      );
    });

    it('rejects a whenLabel without when', () => {
      expectDefinitionError(
        () => saga().step('y', { run, whenLabel: 'always' }),
        'Saga "x", step "y": whenLabel is set but when is not',
      );
    });

    it('rejects a second pivot', () => {
      expectDefinitionError(
        () => saga().step('a', { run, pivot: true }).step('b', { run }).step('c', { run, pivot: true }),
        'Saga "x", step "c": only one step can be the pivot, and step "a" already is',
      );
      expect(() => saga().step('a', { run, pivot: true }).step('b', { run, pivot: false }).build()).not.toThrow();
    });

    it('rejects a pivot inside a parallel group', () => {
      expectDefinitionError(
        () => saga().parallel('g', (g) => g.step('a', { run }).step('b', loose({ run, pivot: true }))),
        'Saga "x", step "b": pivot is not allowed inside parallel group "g"; the point of no return must be one step',
      );
    });
  });

  describe('parallel group', () => {
    it.each([
      ['Reserve', `Saga "x": parallel group name ${KEBAB} (got "Reserve")`],
      [undefined, `Saga "x": parallel group name ${KEBAB} (got undefined)`],
      ['g'.repeat(65), 'Saga "x": parallel group name must be at most 64 characters (got 65)'],
    ])('rejects the name %p', (name, message) => {
      expectDefinitionError(() => saga().parallel(loose(name), (g) => g.step('a', { run })), message);
    });

    it('rejects a duplicate group name', () => {
      expectDefinitionError(
        () =>
          saga()
            .parallel('g', (g) => g.step('a', { run }))
            .parallel('g', (g) => g.step('b', { run })),
        'Saga "x": parallel group "g" is declared twice',
      );
    });

    it('rejects an empty group', () => {
      expectDefinitionError(() => saga().parallel('g', (g) => g), 'Saga "x": parallel group "g" has no steps');
    });

    it('rejects a missing function, or one that does not return the group builder', () => {
      expectDefinitionError(
        () => saga().parallel('g', loose(undefined)),
        'Saga "x": parallel group "g" needs a function as second argument (got undefined)',
      );
      expectDefinitionError(
        () =>
          saga().parallel(
            'g',
            loose((g: any) => {
              g.step('a', { run });
            }),
          ),
        'Saga "x": parallel group "g": the function must return the group builder with its steps (got undefined)',
      );
      expectDefinitionError(
        () =>
          saga().parallel(
            'g',
            loose(() => saga().step('a', { run })),
          ),
        'Saga "x": parallel group "g": the function must return the group builder with its steps (got an object)',
      );
    });

    it('accepts a group of one step, and a step named like a group', () => {
      const definition = saga()
        .parallel('g', (g) => g.step('g', { run }))
        .build();
      expect(definition.stages).toEqual([{ index: 0, group: 'g', steps: ['g'] }]);
    });
  });
});

describe('waitFor', () => {
  const base = () => defineSaga('w', { version: 1 }).step('a', { run: () => ({ id: 'x' }) });

  it('builds a wait step: its signal, its timeout, no retry of its own', () => {
    const def = base()
      .waitFor('await-delivery', { signal: 'DeliveryCompleted', timeout: '2m', compensate: () => undefined })
      .build();
    const step = def.stepsByName['await-delivery'];
    expect(step).toMatchObject({
      name: 'await-delivery',
      key: 'awaitDelivery',
      stage: 1,
      signal: 'DeliveryCompleted',
      timeoutMs: 120_000,
      pivot: false,
      when: null,
    });
    expect(step.compensate).toEqual(expect.any(Function));
    expect(() => step.run({} as never, {})).toThrow('a wait step has no action to run');
    expect(def.stepsByName.a.signal).toBeNull();
  });

  it.each([
    [
      { timeout: '1s' },
      "Saga \"w\", step \"b\": signal must be 1 to 100 letters, digits, '.', '_' or '-' (got undefined)",
    ],
    [
      { signal: 'no spaces', timeout: '1s' },
      'Saga "w", step "b": signal must be 1 to 100 letters, digits, \'.\', \'_\' or \'-\' (got "no spaces")',
    ],
    [{ signal: 'Go' }, 'Saga "w", step "b": timeout is required for a wait step (how long to wait for "Go")'],
    [{ signal: 'Go', timeout: 0 }, 'Saga "w", step "b": timeout must be > 0 (got 0)'],
    [{ signal: 'Go', timeout: '1s', retry: {} }, 'Saga "w", step "b": options'],
    [{ signal: 'Go', timeout: '1s', run: () => 1 }, 'Saga "w", step "b": options'],
  ])('rejects %p', (options, message) => {
    expect(() => base().waitFor('b', loose(options))).toThrow(message);
  });

  it('rejects a duplicate name like any step', () => {
    expect(() => base().waitFor('a', { signal: 'Go', timeout: '1s' })).toThrow('duplicate step name');
  });
});

describe("waitFor with onTimeout: 'continue'", () => {
  const base = () => defineSaga('w', { version: 1 }).step('a', { run: () => ({ id: 'x' }) });

  it('records the policy as data, only when it continues', () => {
    const def = base()
      .waitFor('approval', { signal: 'Approved', timeout: '2d', onTimeout: 'continue' })
      .waitFor('pickup', { signal: 'PickedUp', timeout: '1h', onTimeout: 'fail' })
      .build();
    expect(def.stepsByName.approval).toMatchObject({
      signal: 'Approved',
      timeoutMs: 172_800_000,
      onTimeout: 'continue',
    });
    expect(def.stepsByName.pickup.onTimeout).toBeUndefined();
  });

  it('rejects another policy, naming the step', () => {
    expect(() => base().waitFor('b', loose({ signal: 'Go', timeout: '1s', onTimeout: 'retry' }))).toThrow(
      `Saga "w", step "b": onTimeout must be 'fail' or 'continue' (got "retry")`,
    );
  });
});

describe('sleep', () => {
  const base = () =>
    defineSaga('s', { version: 1 }).step('book', { run: () => ({ slotStart: '2026-12-24T18:00:00Z' }) });

  it('builds a sleep for a duration: a timer, no action, no compensation', () => {
    const def = base().sleep('cool-off', '1h').build();
    const step = def.stepsByName['cool-off'];
    expect(step).toMatchObject({
      name: 'cool-off',
      key: 'coolOff',
      stage: 1,
      signal: null,
      sleep: { durationMs: 3_600_000, until: false },
      until: null,
      compensable: false,
      conditional: false,
      pivot: false,
    });
    expect(() => step.run({} as never, {})).toThrow('a sleep step has no action to run');
    expect(Object.isFrozen(step.sleep)).toBe(true);
    expect(def.stepsByName.book.sleep).toBeUndefined();
  });

  it('builds a sleep until a computed time, and a conditional one', () => {
    const until = (ctx: { steps: { book: { slotStart: string } } }) => ctx.steps.book.slotStart;
    const def = base()
      .sleep('until-slot', { until, description: 'until the slot opens' })
      .sleep('maybe', { duration: 500, when: () => true, whenLabel: 'always' })
      .build();
    expect(def.stepsByName['until-slot']).toMatchObject({
      sleep: { durationMs: null, until: true },
      until,
      description: 'until the slot opens',
    });
    expect(def.stepsByName.maybe).toMatchObject({ sleep: { durationMs: 500, until: false }, conditional: true });
  });

  it.each([
    [
      undefined,
      'Saga "s", step "nap": the second argument (a duration such as \'1h\', or { duration } or { until }) must be an object (got undefined)',
    ],
    [
      'soon',
      'Saga "s", step "nap": duration must be a duration such as 500, "500ms", "2s", "5m", "1h" or "2d" (got "soon")',
    ],
    [0, 'Saga "s", step "nap": duration must be > 0 (got 0)'],
    ['-1s', 'Saga "s", step "nap": duration must be > 0 (got "-1s")'],
    ['3651d', 'Saga "s", step "nap": duration must be at most 3650d (got "3651d")'],
    [
      {},
      'Saga "s", step "nap": a sleep needs exactly one of a duration (\'1h\', { duration: \'1h\' }) and { until: (ctx) => ... }',
    ],
    [
      { duration: '1h', until: () => 0 },
      'Saga "s", step "nap": a sleep needs exactly one of a duration (\'1h\', { duration: \'1h\' }) and { until: (ctx) => ... }',
    ],
    [{ until: '2026-12-24' }, 'Saga "s", step "nap": until must be a function (got "2026-12-24")'],
    [{ duration: '1h', timeout: '1s' }, 'Saga "s", step "nap": options'],
    [{ duration: '1h', compensate: () => 1 }, 'Saga "s", step "nap": options'],
    [{ duration: '1h', pivot: true }, 'Saga "s", step "nap": options'],
    [{ duration: '1h', whenLabel: 'x' }, 'Saga "s", step "nap": whenLabel is set but when is not'],
    [{ duration: '1h', when: 'yes' }, 'Saga "s", step "nap": when must be a function (got "yes")'],
  ])('rejects %p with a message naming the step', (options, message) => {
    expect(() => base().sleep('nap', loose(options))).toThrow(message);
  });

  it('rejects a duplicate or malformed name like any step', () => {
    expect(() => base().sleep('book', '1s')).toThrow('Saga "s", step "book": duplicate step name');
    expect(() => base().sleep('Nap', '1s')).toThrow('Saga "s", step "Nap": name must be kebab-case');
  });
});

describe('child', () => {
  class ParcelInput {
    parcelId!: string;
  }
  const delivery = defineSaga('delivery', { version: 4, input: ParcelInput })
    .step('fly', { run: () => ({ droneId: 'd-1' }), compensate })
    .build();
  const base = () => defineSaga('order', { version: 1 }).step('reserve', { run: () => ({ parcelId: 'p-1' }) });

  it('builds a child step: the child pinned by type and version, its input as code, undone by the engine', () => {
    const input = (ctx: { steps: { reserve: { parcelId: string } } }) => ({ parcelId: ctx.steps.reserve.parcelId });
    const def = base().child('deliver', { saga: delivery, input, description: 'one delivery' }).build();
    const step = def.stepsByName.deliver;
    expect(step).toMatchObject({
      name: 'deliver',
      key: 'deliver',
      stage: 1,
      child: { type: 'delivery', version: 4 },
      childInput: input,
      childDefinition: delivery,
      compensable: true,
      compensate: null,
      signal: null,
      description: 'one delivery',
    });
    expect(() => step.run({} as never, {})).toThrow('a child step has no action to run');
    expect(Object.isFrozen(step.child)).toBe(true);
    expect(def.stepsByName.reserve.child).toBeUndefined();
  });

  it.each([
    [{ saga: delivery }, 'Saga "order", step "deliver": input must be a function of the context (got undefined)'],
    [
      { saga: { name: 'delivery', version: 1 }, input: () => ({}) },
      'Saga "order", step "deliver": saga must be a built saga definition (defineSaga(...).build())',
    ],
    [{ saga: delivery, input: () => ({}), compensate }, 'Saga "order", step "deliver": options'],
    [{ saga: delivery, input: () => ({}), retry: {} }, 'Saga "order", step "deliver": options'],
    [
      { saga: delivery, input: () => ({}), whenLabel: 'x' },
      'Saga "order", step "deliver": whenLabel is set but when is not',
    ],
  ])('rejects %p with a message naming the step', (options, message) => {
    expect(() => base().child('deliver', loose(options))).toThrow(message);
  });

  it('refuses a child with a pivot unless the step is the pivot', () => {
    const pivoted = defineSaga('charged', { version: 1 }).step('charge', { run, pivot: true }).build();
    expectDefinitionError(
      () => base().child('pay', { saga: pivoted, input: () => ({}) }),
      'Saga "order", step "pay": child saga "charged" has a pivot (step "charge"), so it cannot be undone once past ' +
        'it; make this step the pivot of "order" (pivot: true)',
    );
    expect(
      base()
        .child('pay', { saga: pivoted, input: () => ({}), pivot: true })
        .build().stepsByName.pay.pivot,
    ).toBe(true);
  });

  it('refuses a saga that would be its own descendant', () => {
    const inner = defineSaga('order', { version: 1 }).step('a', { run }).build();
    const middle = defineSaga('middle', { version: 1 })
      .child('inner', { saga: inner, input: () => ({}) })
      .build();
    expectDefinitionError(
      () => base().child('loop', { saga: middle, input: () => ({}) }),
      'Saga "order", step "loop": saga "order" would be its own descendant (order -> middle -> order)',
    );
  });

  it('refuses children nested deeper than 8 sagas', () => {
    let def: SagaDefinition<any, any, any> = defineSaga('level-1', { version: 1 }).step('a', { run }).build();
    for (let level = 2; level <= 8; level++) {
      def = defineSaga(`level-${level}`, { version: 1 })
        .child('below', { saga: def, input: () => ({}) })
        .build();
    }
    expect(def.name).toBe('level-8');
    expectDefinitionError(
      () => defineSaga('level-9', { version: 1 }).child('below', { saga: def, input: () => ({}) }),
      'Saga "level-9", step "below": children would nest 9 sagas deep (at most 8, counting this one)',
    );
  });
});

describe('forEach', () => {
  const base = () => defineSaga('batch', { version: 1 }).step('plan', { run: () => ({ parcels: ['a', 'b'] }) });
  const items = (ctx: { steps: { plan: { parcels: string[] } } }) => ctx.steps.plan.parcels;

  it('builds a fan-out: the list and keys as code, the concurrency as data, the step policies for each item', () => {
    const itemKey = (parcel: string) => parcel;
    const def = base()
      .forEach('ship', {
        items,
        itemKey,
        concurrency: 20,
        run,
        compensate,
        retry: { maximumAttempts: 7 },
        timeout: '5s',
      })
      .forEach('label', { items, run })
      .build();
    expect(def.stepsByName.ship).toMatchObject({
      fanOut: { concurrency: 20, keyed: true },
      items,
      itemKey,
      run,
      compensate,
      compensable: true,
      timeoutMs: 5_000,
      retry: { maximumAttempts: 7 },
    });
    expect(def.stepsByName.label).toMatchObject({ fanOut: { concurrency: 10, keyed: false }, itemKey: null });
    expect(Object.isFrozen(def.stepsByName.ship.fanOut)).toBe(true);
  });

  it.each([
    [
      { run },
      'Saga "batch", step "ship": items must be a function of the context that returns the list (got undefined)',
    ],
    [{ items: ['a'], run }, 'Saga "batch", step "ship": items must be a function of the context that returns the list'],
    [{ items, run, itemKey: 'id' }, 'Saga "batch", step "ship": itemKey must be a function (item, index) => string'],
    [
      { items, run, concurrency: 0 },
      'Saga "batch", step "ship": concurrency must be an integer from 1 to 1000 (got 0)',
    ],
    [{ items, run, concurrency: 2.5 }, 'Saga "batch", step "ship": concurrency must be an integer from 1 to 1000'],
    [{ items, run, concurrency: 1001 }, 'Saga "batch", step "ship": concurrency must be an integer from 1 to 1000'],
    [{ items, run, concurency: 5 }, 'Saga "batch", step "ship": options'],
    [{ items }, 'Saga "batch", step "ship": run must be a function (got undefined)'],
    [{ items, run, timeout: '5' }, 'Saga "batch", step "ship": timeout'],
  ])('rejects %p with a message naming the step', (options, message) => {
    expect(() => base().forEach('ship', loose(options))).toThrow(message);
  });

  it('rejects a duplicate name like any step', () => {
    expect(() => base().forEach('plan', { items, run })).toThrow('Saga "batch", step "plan": duplicate step name');
  });
});

describe('output', () => {
  class Shipment {
    @IsString()
    trackingId!: string;
  }
  class Undecorated {
    trackingId!: string;
  }

  it('keeps the class of a step, a parallel step and a fan-out item, not frozen; none without it', () => {
    const def = saga()
      .step('ship', { output: Shipment, run: () => ({ trackingId: 't' }) })
      .parallel('g', (g) => g.step('also', { output: Shipment, run: () => ({ trackingId: 't' }) }))
      .forEach('each', { items: () => [1], output: Shipment, run: () => ({ trackingId: 't' }) })
      .step('plain', { run })
      .build();
    expect(def.stepsByName.ship.outputClass).toBe(Shipment);
    expect(def.stepsByName.also.outputClass).toBe(Shipment);
    expect(def.stepsByName.each.outputClass).toBe(Shipment);
    expect(def.stepsByName.plain).not.toHaveProperty('outputClass');
    expect(Object.isFrozen(Shipment)).toBe(false);
  });

  it.each([
    [{ trackingId: 'x' }, 'Saga "x", step "ship": output must be a class (got an object)'],
    ['Shipment', 'Saga "x", step "ship": output must be a class (got "Shipment")'],
    [null, 'Saga "x", step "ship": output must be a class (got null)'],
    [
      Undecorated,
      'Saga "x", step "ship": output: class Undecorated has no class-validator decorator (@IsString(), ...): ' +
        'decorate the properties of the output',
    ],
  ])('rejects the output %p, naming the step', (output, message) => {
    expect(() => saga().step('ship', loose({ output, run }))).toThrow(message);
  });

  it('is refused on steps that run no action of the author (wait, sleep, child)', () => {
    expect(() => saga().waitFor('wait', loose({ signal: 'Done', timeout: '1h', output: Shipment }))).toThrow(
      'Saga "x", step "wait": options',
    );
    expect(() => saga().sleep('nap', loose({ duration: '1h', output: Shipment }))).toThrow('Saga "x", step "nap"');
  });
});
