/*
 * The typed overloads. `npx tsc --noEmit` enforces the types: each `@ts-expect-error` fails the typecheck if the
 * line below it compiles. Jest runs the typed calls against the fake engine, to prove they work at run time too.
 */
import { IsString } from 'class-validator';
import { defineSaga } from '@saga-engine/sdk';
import { SagaClient, type InputOf, type OutputOf, type SagaView, type StartedSaga } from './';
import { FakeEngine } from './testing/fake-engine';

class OrderInput {
  @IsString()
  orderId!: string;
}

const orderSaga = defineSaga('order', { version: 1, input: OrderInput })
  .step('reserve-stock', { run: async () => ({ reservationId: 'r-1' }) })
  .step('charge-card', { run: async () => ({ chargeId: 'ch-1', amountCents: 1999 }) })
  .build();

// Exact type equality, so that `any` or a wider type does not pass for the expected one.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function assertType<T extends true>(): T | undefined {
  return undefined;
}

type OrderOutput = OutputOf<typeof orderSaga>;

describe('SagaClient types', () => {
  let engine: FakeEngine;
  let client: SagaClient;

  beforeAll(async () => {
    engine = await FakeEngine.start();
    client = new SagaClient({ url: engine.url, apiKey: engine.apiKey });
  });
  afterAll(() => engine.close());

  it('types start, get and waitFor by the definition, and sends only its name', async () => {
    const started = await client.start(orderSaga, { orderId: 'o-1' }, { key: 'o-1' });
    assertType<Equals<typeof started, StartedSaga<OrderOutput, OrderInput>>>();
    assertType<Equals<typeof started.input, OrderInput>>();
    assertType<Equals<typeof started.input, InputOf<typeof orderSaga>>>();
    assertType<Equals<typeof started.created, boolean>>();
    expect(engine.requests.at(-1)?.body).toEqual({ type: 'order', input: { orderId: 'o-1' }, idempotencyKey: 'o-1' });

    const fetched = await client.get(orderSaga, started.id);
    assertType<Equals<typeof fetched, SagaView<OrderOutput, OrderInput>>>();
    expect(fetched.id).toBe(started.id);

    engine.script(started.id, ['COMPLETED'], {
      reserveStock: { reservationId: 'r-1' },
      chargeCard: { chargeId: 'ch-1', amountCents: 1999 },
    });
    const done = await client.waitFor(started, { timeout: '5s' });
    assertType<Equals<typeof done, SagaView<OrderOutput, OrderInput>>>();
    // The output, when there is one, holds each step's output by its camelCase key.
    const chargeId: string | undefined = done.output?.chargeCard.chargeId;
    const reservationId: string | undefined = done.output?.reserveStock.reservationId;
    expect([done.status, chargeId, reservationId]).toEqual(['COMPLETED', 'ch-1', 'r-1']);
  });

  it('leaves calls by name untyped (plain JSON objects)', async () => {
    const started = await client.start('order', { orderId: 'o-2', anything: [1, 2] });
    assertType<Equals<typeof started, StartedSaga>>();
    assertType<Equals<typeof started.input, Record<string, unknown>>>();
    const fetched = await client.get(started.id);
    assertType<Equals<typeof fetched, SagaView>>();
    assertType<Equals<Awaited<ReturnType<typeof client.waitFor<unknown, unknown>>>, SagaView<unknown, unknown>>>();
    expect(fetched.id).toBe(started.id);
  });

  it('refuses, by type, what the definition does not allow', () => {
    // Never called: these lines only have to (not) compile.
    const compileOnly = async () => {
      // @ts-expect-error orderId must be a string
      await client.start(orderSaga, { orderId: 42 });
      // @ts-expect-error orderId is required
      await client.start(orderSaga, {});
      // @ts-expect-error no such input field
      await client.start(orderSaga, { orderId: 'o-1', orderID: 'o-1' });
      // @ts-expect-error the key is a string
      await client.start(orderSaga, { orderId: 'o-1' }, { key: 42 });
      const view = await client.get(orderSaga, 'id');
      // @ts-expect-error a misspelt step output does not compile
      void view.output?.chargeCrd;
      // @ts-expect-error the statuses are the API's
      await client.waitFor(view, { timeout: '1s', until: ['DONE'] });
      // @ts-expect-error a timeout is a Duration
      await client.waitFor(view, { timeout: '1 minute' });
      // @ts-expect-error a cancel needs a reason
      await client.cancel(view.id, {});
      // @ts-expect-error by name, the input is still a JSON object
      await client.start('order', 'o-1');
    };
    expect(typeof compileOnly).toBe('function');
  });
});
