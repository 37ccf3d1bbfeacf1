import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  type ClientProxy,
  ClientProxyFactory,
  MessagePattern,
  type MicroserviceOptions,
  Payload,
  RpcException,
  Transport,
} from '@nestjs/microservices';
import { createServer } from 'node:net';
import { toErrorInfo } from '@saga-engine/sdk';
import { type MicroserviceRequest, microservice } from './microservice-invoker';
import { ParticipantPolicies } from './participant-policies';

const received: MicroserviceRequest<{ accountId: string; amountCents: number }>[] = [];

@Controller()
class AccountController {
  @MessagePattern('account.charge')
  charge(@Payload() request: MicroserviceRequest<{ accountId: string; amountCents: number }>) {
    received.push(request);
    const { accountId, amountCents } = request.payload;
    if (accountId === 'closed') {
      throw new RpcException({ retryable: false, code: 'ACCOUNT_CLOSED', message: 'account closed' });
    }
    if (accountId === 'busy') throw new RpcException({ retryable: true, code: 'BUSY', message: 'busy' });
    if (accountId === 'bug') throw new Error('a bug in the participant');
    if (accountId === 'slow') return new Promise((resolve) => setTimeout(() => resolve({ late: true }), 2_000).unref());
    return { chargeId: `c-${request.idempotencyKey}`, amountCents };
  }
}

@Module({ controllers: [AccountController] })
class AccountModule {}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function startParticipant(port: number): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(AccountModule, {
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port },
    logger: false,
  });
  await app.listen();
  return app;
}

async function failure(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return toErrorInfo(error);
  }
  throw new Error('the call did not fail');
}

describe('microservice invoker (a real Nest microservice over TCP on 127.0.0.1)', () => {
  let port: number;
  let server: INestMicroservice | null;
  let client: ClientProxy;
  let policies: ParticipantPolicies;

  beforeAll(async () => {
    port = await freePort();
    server = await startParticipant(port);
    client = ClientProxyFactory.create({ transport: Transport.TCP, options: { host: '127.0.0.1', port } });
  });
  afterAll(async () => {
    await client.close();
    await server?.close();
  });
  beforeEach(() => {
    policies = new ParticipantPolicies({ consecutiveFailures: 2, halfOpenAfterMs: 200 });
    received.length = 0;
  });

  const charge = (accountId: string, signal: AbortSignal = AbortSignal.timeout(5_000)) =>
    microservice<{ accountId: string; amountCents: number }, { chargeId: string }>(client, 'account.charge', {
      participant: 'account',
      policies,
    }).call({ accountId, amountCents: 1999 }, { idempotencyKey: `saga-1:charge-${accountId}`, signal });

  it('sends { idempotencyKey, payload } and resolves with the reply', async () => {
    await expect(charge('acc-7')).resolves.toEqual({ chargeId: 'c-saga-1:charge-acc-7', amountCents: 1999 });
    expect(received).toEqual([
      { idempotencyKey: 'saga-1:charge-acc-7', payload: { accountId: 'acc-7', amountCents: 1999 } },
    ]);
  });

  it('sends the trace context in the message metadata: the given traceparent, else the active span’s', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await microservice(client, 'account.charge', { participant: 'account', policies }).call(
      { accountId: 'acc-8', amountCents: 1 },
      { idempotencyKey: 'k-8', traceparent },
    );
    expect(received[0].metadata).toEqual({ traceparent });
    // No span active and none given (tracing off): no metadata at all.
    await charge('acc-9');
    expect(received[1]).not.toHaveProperty('metadata');
  });

  it('turns RpcException({ retryable: false, code }) into a NonRetryableError with that code', async () => {
    const error = await failure(charge('closed'));
    expect(error).toMatchObject({ name: 'NonRetryableError', code: 'ACCOUNT_CLOSED', retryable: false });
    expect(error.message).toBe('participant "account": account.charge failed: account closed');
    expect(policies.states()).toEqual([{ participant: 'account', state: 'closed' }]);
  });

  it('treats retryable and unexpected errors as transient', async () => {
    expect(await failure(charge('busy'))).toMatchObject({ code: 'BUSY', retryable: true });
    expect(await failure(charge('bug'))).toMatchObject({ code: 'RPC_ERROR', retryable: true });
  });

  it('gives up when the step’s signal aborts: a transient TIMEOUT', async () => {
    expect(await failure(charge('slow', AbortSignal.timeout(100)))).toMatchObject({
      code: 'TIMEOUT',
      retryable: true,
    });
  });

  it('with the participant down: transient connection errors, then CIRCUIT_OPEN; it closes when it is back', async () => {
    await server!.close();
    server = null;
    const first = await failure(charge('acc-1'));
    expect(first).toMatchObject({ retryable: true });
    expect(first.code).not.toBe('CIRCUIT_OPEN');
    await failure(charge('acc-2'));
    expect(policies.states()).toEqual([{ participant: 'account', state: 'open' }]);
    expect(await failure(charge('acc-3'))).toMatchObject({ code: 'CIRCUIT_OPEN', retryable: true });

    server = await startParticipant(port);
    await new Promise((resolve) => setTimeout(resolve, 250)); // halfOpenAfterMs
    await expect(charge('acc-4')).resolves.toEqual({ chargeId: 'c-saga-1:charge-acc-4', amountCents: 1999 });
    expect(policies.states()).toEqual([{ participant: 'account', state: 'closed' }]);
  });
});
