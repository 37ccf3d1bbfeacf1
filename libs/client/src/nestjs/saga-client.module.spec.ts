import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { SagaClient } from '@saga-engine/client';
import { SagaClientModule } from '@saga-engine/client/nestjs';
import { FakeEngine } from '../testing/fake-engine';

/** Settings as an application would hold them (a ConfigService, say), to show `forRootAsync`'s `inject`. */
@Injectable()
class Settings {
  url = '';
  apiKey = '';
}

@Module({ providers: [Settings], exports: [Settings] })
class SettingsModule {}

/** A consumer in a module of its own that does not import SagaClientModule: it needs `isGlobal`. */
@Injectable()
class Orders {
  constructor(readonly sagas: SagaClient) {}
}

@Module({ providers: [Orders], exports: [Orders] })
class OrdersModule {}

describe('SagaClientModule', () => {
  let engine: FakeEngine;

  beforeAll(async () => {
    engine = await FakeEngine.start();
  });
  afterAll(() => engine.close());

  it('forRoot provides a SagaClient with the options given', async () => {
    const app = await Test.createTestingModule({
      imports: [SagaClientModule.forRoot({ url: engine.url, apiKey: engine.apiKey })],
    }).compile();

    const client = app.get(SagaClient);
    expect(client).toBeInstanceOf(SagaClient);
    const saga = await client.start('order', { orderId: 'o-1' });
    expect(saga.created).toBe(true);
    expect(engine.requests.at(-1)?.headers.authorization).toBe(`Bearer ${engine.apiKey}`);
    await app.close();
  });

  it('forRootAsync builds it from a factory with injected providers, and isGlobal reaches other modules', async () => {
    const app = await Test.createTestingModule({
      imports: [
        SagaClientModule.forRootAsync({
          imports: [SettingsModule],
          inject: [Settings],
          useFactory: (settings: Settings) => ({ url: settings.url, apiKey: settings.apiKey, timeoutMs: 2_000 }),
          isGlobal: true,
        }),
        OrdersModule,
      ],
    })
      .overrideProvider(Settings)
      .useValue({ url: engine.url, apiKey: engine.apiKey })
      .compile();

    const orders = app.get(Orders);
    expect(orders.sagas).toBe(app.get(SagaClient));
    const id = engine.add({ status: 'COMPLETED' });
    expect((await orders.sagas.get(id)).status).toBe('COMPLETED');
    await app.close();
  });

  it('is not global unless asked', async () => {
    const build = Test.createTestingModule({
      imports: [SagaClientModule.forRoot({ url: engine.url, apiKey: engine.apiKey }), OrdersModule],
    }).compile();
    await expect(build).rejects.toThrow(/SagaClient/);
  });

  it('checks its options when the application boots, without quoting the key', async () => {
    const build = Test.createTestingModule({
      imports: [SagaClientModule.forRoot({ url: engine.url, apiKey: 'has a space' })],
    }).compile();
    await expect(build).rejects.toThrow(
      'apiKey must be a non-empty string of printable ASCII characters without spaces',
    );
  });
});
