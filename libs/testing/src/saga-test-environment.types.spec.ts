/*
 * Compile-time tests of the kit's types. `npm run typecheck` enforces them: each `@ts-expect-error` fails the
 * typecheck if the line below it compiles. Jest only runs the file, to prove it stays valid code.
 */
import { dep, defineSaga, type DepToken } from '@saga-engine/sdk';
import { SagaTestEnvironment, fail, type SagaTestResult, type StepName, type StepOutput } from './';

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

class Payments {
  // A private member makes the class nominal: a fake of it need not (cannot) have it.
  private readonly apiKey = 'secret';
  charge(cents: number): Promise<{ chargeId: string }> {
    return Promise.resolve({ chargeId: `c-${cents}-${this.apiKey.length}` });
  }
  refund(_chargeId: string): Promise<void> {
    return Promise.resolve();
  }
}
interface Mailer {
  send(to: string): Promise<void>;
}

const saga = defineSaga<{ orderId: string }, { payments: typeof Payments; mailer: DepToken<Mailer> }>('typed', {
  version: 1,
  deps: { payments: Payments, mailer: dep<Mailer>('MAILER') },
})
  .step('reserve-stock', { run: () => ({ reservationId: 'r-1' }) })
  .step('charge-card', {
    run: (_ctx, { payments }) => payments.charge(100),
    compensate: (ctx, { payments }) => payments.refund(ctx.output?.chargeId ?? ''),
  })
  .step('step-2', { run: () => 2 })
  .build();

// Step names come from the definition's type; a digit after a dash may be written either way.
assertType<Equals<StepName<typeof saga>, 'reserve-stock' | 'charge-card' | 'step-2' | 'step2'>>();
assertType<Equals<StepOutput<typeof saga, 'charge-card'>, { chargeId: string }>>();

export function typedOptions(env: SagaTestEnvironment): void {
  const run = env.start(
    saga,
    { orderId: 'o-1' },
    {
      // A fake needs only the members the steps use.
      deps: { payments: { charge: async () => ({ chargeId: 'c-1' }) } },
      stubs: {
        'charge-card': (ctx, _deps) => {
          assertType<Equals<typeof ctx.input, { orderId: string }>>();
          assertType<Equals<typeof _deps.payments, Payments>>();
          assertType<Equals<typeof _deps.mailer, Mailer>>();
          return { chargeId: `stub-${ctx.steps.reserveStock?.reservationId ?? ''}` };
        },
      },
      compensationStubs: {
        'charge-card': (_ctx) => {
          assertType<Equals<typeof _ctx.output, { chargeId: string } | undefined>>();
        },
      },
      faults: { 'reserve-stock': [fail.transient(), null, (ctx) => ({ reservationId: `f-${ctx.attempt}` })] },
    },
  );
  void run.result().then((_result) => {
    assertType<Equals<typeof _result, SagaTestResult<typeof saga>>>();
    assertType<
      Equals<
        typeof _result.output,
        {
          readonly reserveStock: { reservationId: string };
          readonly chargeCard: { chargeId: string };
          readonly step2: number;
        } | null
      >
    >();
  });

  // @ts-expect-error the input is typed by the definition
  env.start(saga, { order: 1 });
  // @ts-expect-error a misspelt step does not compile
  env.start(saga, { orderId: 'o' }, { stubs: { 'charge-crad': () => ({ chargeId: 'c' }) } });
  // @ts-expect-error a stub returns the step's output type
  env.start(saga, { orderId: 'o' }, { stubs: { 'charge-card': () => ({ chargeId: 1 }) } });
  // @ts-expect-error only declared deps
  env.start(saga, { orderId: 'o' }, { deps: { shipping: {} } });
  // @ts-expect-error a fake's members keep their types
  env.start(saga, { orderId: 'o' }, { deps: { payments: { charge: () => 'no' } } });
}

it('is valid code', () => {
  expect(typeof typedOptions).toBe('function');
});
