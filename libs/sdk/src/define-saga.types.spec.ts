/*
 * Compile-time tests of the DSL's types. `npx tsc --noEmit` enforces them: each `@ts-expect-error` fails the
 * typecheck if the line below it compiles. Jest only runs the builders, to prove the file stays valid code.
 */
import { IsNumber, IsString } from 'class-validator';
import { defineSaga, dep, type CamelCase, type DepsOf, type InputOf, type OutputOf, type StepContext } from './';

class DeliveryInput {
  @IsString()
  accountId!: string;

  @IsNumber()
  weightKg!: number;
}

// Exact type equality, so that `any` or a wider type does not pass for the expected one.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

const delivery = defineSaga('drone-delivery', { version: 1, input: DeliveryInput })
  .step('verify-account', {
    run: async (ctx) => {
      assertType<Equals<typeof ctx.input, DeliveryInput>>();
      return { accountId: ctx.input.accountId, ok: true };
    },
  })
  .step('create-delivery', {
    run: async (ctx) => {
      assertType<Equals<typeof ctx.steps.verifyAccount, { accountId: string; ok: boolean }>>();
      // @ts-expect-error a misspelt step output does not compile
      void ctx.steps.verifyAcount;
      // @ts-expect-error a later step's output is not available yet
      void ctx.steps.chargeAccount;
      return { id: 'd1' };
    },
    compensate: async (ctx) => {
      assertType<Equals<typeof ctx.output, { id: string } | undefined>>();
      // @ts-expect-error the output is undefined when the outcome is unknown
      void ctx.output.id;
      void ctx.output?.id;
    },
    retry: { maximumAttempts: 5, initialInterval: '100ms' },
    timeout: '2s',
  })
  .parallel('reserve', (g) =>
    g
      .step('register-package', {
        run: async (ctx) => ({ packageId: `p-${ctx.steps.createDelivery.id}` }),
        compensate: async (ctx) => ctx.output?.packageId,
      })
      .step('schedule-drone', {
        run: async (ctx) => {
          // @ts-expect-error a sibling in the same parallel group runs concurrently: its output is not available
          void ctx.steps.registerPackage;
          return { droneId: 7 };
        },
        when: (c) => c.input.weightKg <= 20,
        whenLabel: 'weightKg <= 20',
      }),
  )
  .step('charge-account', {
    run: async (ctx) => {
      assertType<Equals<typeof ctx.steps.registerPackage, { packageId: string }>>();
      // A step with `when` may have been skipped.
      assertType<Equals<typeof ctx.steps.scheduleDrone, { droneId: number } | undefined>>();
      // @ts-expect-error possibly undefined
      void ctx.steps.scheduleDrone.droneId;
      return { chargeId: `c-${ctx.steps.createDelivery.id}-${ctx.steps.scheduleDrone?.droneId ?? 0}` };
    },
    pivot: true,
  })
  .step('notify', {
    // A step without a return has a void output.
    run: (ctx: StepContext<DeliveryInput, { chargeAccount: { chargeId: string } }>) => {
      void ctx.steps.chargeAccount.chargeId;
    },
  })
  .build();

assertType<Equals<InputOf<typeof delivery>, DeliveryInput>>();
assertType<Equals<CamelCase<'a-long-step-name'>, 'aLongStepName'>>();
assertType<Equals<CamelCase<'single'>, 'single'>>();

// Without an input class, the input is any JSON object.
const untyped = defineSaga('untyped', { version: 1 })
  .step('one', {
    run: (ctx) => {
      assertType<Equals<typeof ctx.input, Record<string, unknown>>>();
      return Object.keys(ctx.input).length;
    },
  })
  .step('two', {
    run: (ctx) => {
      assertType<Equals<typeof ctx.steps.one, number>>();
      return ctx.steps.one + 1;
    },
  })
  .build();

// Sleeps and waits that continue: their outputs are typed for later steps.
const composed = defineSaga('composed', { version: 1, input: DeliveryInput })
  .step('book', { run: () => ({ slotStart: '2026-12-24T18:00:00Z' }) })
  .sleep('cool-off', '1h')
  .sleep('until-slot', {
    until: (ctx) => {
      assertType<Equals<typeof ctx.steps.book, { slotStart: string }>>();
      return ctx.steps.book.slotStart;
    },
  })
  .sleep('maybe-nap', { duration: '5m', when: (c) => c.input.weightKg > 20 })
  .waitFor<'await-approval', { approver: string }>('await-approval', {
    signal: 'Approved',
    timeout: '2d',
    onTimeout: 'continue',
    compensate: (ctx) => {
      assertType<Equals<typeof ctx.output, { approver: string } | { readonly timedOut: true } | undefined>>();
      return ctx.output;
    },
  })
  .waitFor<'await-pickup', { by: string }>('await-pickup', { signal: 'PickedUp', timeout: '1h' })
  .step('notify', {
    run: (ctx) => {
      assertType<Equals<typeof ctx.steps.coolOff, { readonly wokeAt: string; readonly dueAt: string }>>();
      assertType<Equals<typeof ctx.steps.untilSlot.wokeAt, string>>();
      // @ts-expect-error a conditional sleep may have been skipped
      void ctx.steps.maybeNap.wokeAt;
      // @ts-expect-error a misspelt sleep output does not compile
      void ctx.steps.coolOf;
      const approval = ctx.steps.awaitApproval;
      // @ts-expect-error the wait may have timed out: narrow first
      void approval.approver;
      const approver = 'timedOut' in approval ? null : approval.approver;
      assertType<Equals<typeof approver, string | null>>();
      assertType<Equals<typeof ctx.steps.awaitPickup, { by: string }>>();
      return approver;
    },
  })
  .build();

// Children and fan-outs: the child's input is checked against its input type, its output and the items' outputs
// are typed for later steps.
class ParcelInput {
  @IsString()
  parcelId!: string;
}
const parcelDelivery = defineSaga('parcel-delivery', { version: 1, input: ParcelInput })
  .step('fly', { run: () => ({ droneId: 7 }) })
  .build();
const multiParcel = defineSaga('multi-parcel', { version: 1, input: DeliveryInput })
  .step('plan', { run: () => ({ parcels: [{ id: 'p-1', kg: 2 }] }) })
  .forEach('label', {
    items: (ctx) => ctx.steps.plan.parcels,
    itemKey: (parcel) => {
      assertType<Equals<typeof parcel, { id: string; kg: number }>>();
      return parcel.id;
    },
    concurrency: 5,
    run: (ctx) => {
      assertType<Equals<typeof ctx.item, { id: string; kg: number }>>();
      assertType<Equals<typeof ctx.index, number>>();
      assertType<Equals<typeof ctx.input, DeliveryInput>>();
      return { label: `L-${ctx.item.id}` };
    },
    compensate: (ctx) => {
      assertType<Equals<typeof ctx.output, { label: string } | undefined>>();
      return ctx.item.id;
    },
  })
  .forEach('maybe-insure', { items: () => [1, 2], when: () => false, run: (ctx) => ctx.item * 2 })
  .child('deliver', {
    saga: parcelDelivery,
    input: (ctx) => {
      assertType<Equals<typeof ctx.steps.label, { label: string }[]>>();
      return { parcelId: ctx.steps.label[0].label };
    },
  })
  .child('maybe-return', {
    saga: parcelDelivery,
    input: () => ({ parcelId: 'r' }),
    when: (c) => c.input.weightKg > 10,
  })
  .step('notify', {
    run: (ctx) => {
      assertType<Equals<typeof ctx.steps.deliver, { readonly fly: { droneId: number } }>>();
      assertType<Equals<typeof ctx.steps.maybeReturn, { readonly fly: { droneId: number } } | undefined>>();
      assertType<Equals<typeof ctx.steps.maybeInsure, number[] | undefined>>();
      // @ts-expect-error a child's output holds its steps' outputs only
      void ctx.steps.deliver.land;
      return ctx.steps.deliver.fly.droneId;
    },
  })
  .build();
assertType<
  Equals<
    OutputOf<typeof multiParcel>['label'],
    {
      label: string;
    }[]
  >
>();

// Invalid on purpose: only compiled, never run (the builder would throw at once).
function _compileOnly(): void {
  defineSaga('rules', { version: 1 })
    .step('a', {
      run: () => 1,
      // @ts-expect-error an unknown option does not compile
      retries: 3,
    })
    .step('b', {
      run: () => 1,
      // @ts-expect-error a duration needs a unit
      timeout: '5',
    })
    // @ts-expect-error when must return a boolean
    .step('c', { run: () => 1, when: () => 'yes' })
    .parallel('g', (g) =>
      g.step('d', {
        run: () => 1,
        // @ts-expect-error a parallel group cannot hold the pivot
        pivot: true,
      }),
    );

  // @ts-expect-error `run` is required
  defineSaga('no-run', { version: 1 }).step('a', {});

  // @ts-expect-error a duration needs a unit
  defineSaga('bad-sleep', { version: 1 }).sleep('a', '5');
  // @ts-expect-error a sleep has no compensation
  defineSaga('bad-sleep', { version: 1 }).sleep('a', { duration: '1h', compensate: () => undefined });
  // @ts-expect-error onTimeout is 'fail' or 'continue'
  defineSaga('bad-wait', { version: 1 }).waitFor('a', { signal: 'Go', timeout: '1s', onTimeout: 'retry' });

  // @ts-expect-error `version` is required
  defineSaga('no-version', {});

  // @ts-expect-error the child's input must match its input class
  defineSaga('bad-child', { version: 1 }).child('c', { saga: parcelDelivery, input: () => ({ parcel: 1 }) });
  defineSaga('bad-child', { version: 1 }).child('c', {
    saga: parcelDelivery,
    input: () => ({ parcelId: 'p' }),
    // @ts-expect-error a child step has no compensate of its own (the child undoes itself)
    compensate: () => undefined,
  });
  // @ts-expect-error items must be a list
  defineSaga('bad-fan-out', { version: 1 }).forEach('f', { items: () => 5, run: () => 1 });
  // @ts-expect-error a parallel group holds no fan-out
  defineSaga('bad-fan-out', { version: 1 }).parallel('g', (g) => g.forEach('f', { items: () => [1], run: () => 1 }));
}

describe('DSL types', () => {
  it('builds sleeps and waits that continue (the assertions are checked by tsc)', () => {
    expect(composed.steps.map((step) => [step.name, step.sleep?.durationMs ?? null, step.onTimeout ?? null])).toEqual([
      ['book', null, null],
      ['cool-off', 3_600_000, null],
      ['until-slot', null, null],
      ['maybe-nap', 300_000, null],
      ['await-approval', null, 'continue'],
      ['await-pickup', null, null],
      ['notify', null, null],
    ]);
  });

  it('builds children and fan-outs (the assertions are checked by tsc)', () => {
    expect(
      multiParcel.steps.map((step) => [step.name, step.child?.type ?? null, step.fanOut?.concurrency ?? null]),
    ).toEqual([
      ['plan', null, null],
      ['label', null, 5],
      ['maybe-insure', null, 10],
      ['deliver', 'parcel-delivery', null],
      ['maybe-return', 'parcel-delivery', null],
      ['notify', null, null],
    ]);
  });

  it('builds the typed definitions (the assertions are checked by tsc)', () => {
    expect(delivery.stages.map((stage) => stage.steps)).toEqual([
      ['verify-account'],
      ['create-delivery'],
      ['register-package', 'schedule-drone'],
      ['charge-account'],
      ['notify'],
    ]);
    expect(untyped.steps.map((step) => step.key)).toEqual(['one', 'two']);
  });
});

// Wait steps: the payload type is the output; `when` makes it possibly undefined.
export const waiting = defineSaga('waiting', { version: 1 })
  .waitFor<'await-delivery', { droneId: string }>('await-delivery', { signal: 'DeliveryCompleted', timeout: '1m' })
  .waitFor<'maybe', { n: number }>('maybe', { signal: 'Maybe', timeout: '1m', when: () => true })
  .step('notify', {
    run: (ctx) => {
      assertType<Equals<typeof ctx.steps.awaitDelivery, { droneId: string }>>();
      assertType<Equals<typeof ctx.steps.maybe, { n: number } | undefined>>();
      // @ts-expect-error misspelt output key
      return ctx.steps.awaitDelivry;
    },
  })
  .build();

// Never called: it would throw at run time too.
export function waitWithoutTimeout(): void {
  // @ts-expect-error a wait step needs a timeout
  defineSaga('no-timeout', { version: 1 }).waitFor('w', { signal: 'S' });
}

// deps: the handlers' second argument, typed from the tokens (a class gives its instance; dep<T>() gives T).
class PaymentsService {
  charge(cents: number): Promise<{ chargeId: string }> {
    return Promise.resolve({ chargeId: `c-${cents}` });
  }
  refund(chargeId: string): Promise<void> {
    return Promise.resolve(void chargeId);
  }
}
interface Repository<T> {
  save(row: T): Promise<T>;
}
interface Order {
  id: string;
}
export const withDeps = defineSaga('with-deps', {
  version: 1,
  deps: { payments: PaymentsService, orders: dep<Repository<Order>>('OrderRepository') },
})
  .step('save-order', {
    run: (_ctx, { orders }) => {
      assertType<Equals<typeof orders, Repository<Order>>>();
      return orders.save({ id: 'o-1' });
    },
  })
  .step('charge', {
    run: (ctx, deps) => {
      assertType<Equals<typeof deps.payments, PaymentsService>>();
      // @ts-expect-error only declared deps exist
      void deps.shipping;
      return deps.payments.charge(ctx.steps.saveOrder.id.length);
    },
    compensate: (ctx, { payments }) => (ctx.output ? payments.refund(ctx.output.chargeId) : undefined),
  })
  .build();

// The definition's type carries the input and the output for typed clients.
assertType<Equals<InputOf<typeof withDeps>, Record<string, unknown>>>();
assertType<Equals<OutputOf<typeof withDeps>, { readonly saveOrder: Order; readonly charge: { chargeId: string } }>>();
// ... and the deps the handlers receive, for test kits that hand them fakes.
assertType<
  Equals<DepsOf<typeof withDeps>, { readonly payments: PaymentsService; readonly orders: Repository<Order> }>
>();
assertType<Equals<DepsOf<typeof delivery>, Record<never, never>>>();

// Never called: a dep token must be a class or dep().
export function badDeps(): void {
  // @ts-expect-error a plain value is not a token
  defineSaga('bad-deps', { version: 1, deps: { port: 3000 } });
}

// A step's `output` class types its output for later steps, and `run` must return something assignable to it.
class Shipment {
  @IsString()
  trackingId!: string;

  @IsNumber()
  parcels!: number;
}
export const typedOutput = defineSaga('typed-output', { version: 1 })
  .step('ship', {
    output: Shipment,
    // The literal is checked against the class (no widening to a union with what run returns).
    run: async () => ({ trackingId: 't-1', parcels: 2 }),
  })
  .step('maybe-ship', { output: Shipment, when: () => true, run: () => ({ trackingId: 't-2', parcels: 1 }) })
  .forEach('ship-each', {
    items: () => [1, 2],
    output: Shipment,
    run: (ctx) => ({ trackingId: `t-${ctx.item}`, parcels: 1 }),
  })
  .parallel('both', (g) => g.step('ship-more', { output: Shipment, run: () => ({ trackingId: 't-3', parcels: 3 }) }))
  .step('notify', {
    run: (ctx) => {
      assertType<Equals<typeof ctx.steps.ship, Shipment>>();
      assertType<Equals<typeof ctx.steps.maybeShip, Shipment | undefined>>();
      assertType<Equals<typeof ctx.steps.shipEach, Shipment[]>>();
      assertType<Equals<typeof ctx.steps.shipMore, Shipment>>();
      return ctx.steps.ship.trackingId;
    },
  })
  .build();
assertType<Equals<OutputOf<typeof typedOutput>['ship'], Shipment>>();

// Never called: run must return what the output class declares.
export function badOutputs(): void {
  defineSaga('bad-output', { version: 1 })
    // @ts-expect-error trackingId must be a string, as Shipment declares
    .step('ship', { output: Shipment, run: () => ({ trackingId: 42, parcels: 1 }) });
  defineSaga('bad-output', { version: 1 })
    // @ts-expect-error a field the class requires is missing
    .step('ship', { output: Shipment, run: async () => ({ trackingId: 't-1' }) });
  defineSaga('bad-output', { version: 1 })
    // @ts-expect-error an item's output must fit the class too
    .forEach('ship', { items: () => [1], output: Shipment, run: () => ({ parcels: 'one' }) });
  // @ts-expect-error output must be a class
  defineSaga('bad-output', { version: 1 }).step('ship', { output: { trackingId: 'x' }, run: () => 1 });
}
