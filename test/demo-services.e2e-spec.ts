import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineSaga } from '@saga-engine/sdk';
import { DroneDeliveryParticipants } from '@demo/sagas';
import { EngineProcess, ROOT, poll } from '../scripts/support/cluster';
import { freePort, KEYS, startTestEngine, type TestEngine } from './support/test-engine';
import { TEST_QUEUE_KIND, TEST_REDIS_URL } from './support/urls';
import { droneInput } from './support/drone-input';

/**
 * Issue 4's done-when, with the demo services as a SEPARATE PROCESS (the built `npm run start:demo`, spawned
 * here and killed by pid): the engine (in this process) reaches the five message services over the Redis
 * transport (TCP when the run has no Redis) and the ground carrier over HTTP, with a circuit breaker each; the
 * drone reports DeliveryCompleted back over the REST API. The ledger proves every effect once.
 */
const ENDED = ['COMPLETED', 'COMPENSATED', 'CANCELLED', 'FAILED'];
const stepOf = (saga: any, name: string) => saga.steps.find((s: any) => s.name === name);
const effects = (ledger: any[]) => ledger.map((e) => `${e.service}.${e.operation}`);

describe('demo services as their own process (e2e)', () => {
  let engine: TestEngine;
  let demo: EngineProcess | null = null;
  let demoPort: number;
  let tcpPort: number;
  const logDir = mkdtempSync(join(tmpdir(), 'saga-demo-'));
  const useRedis = TEST_QUEUE_KIND === 'redis';
  let starts = 0;

  /** `npm run start:demo`, as built, against the engine's database and Redis prefix. */
  async function startDemo(): Promise<EngineProcess> {
    const script = join(ROOT, 'dist', 'apps/demo-services/main.js');
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      NODE_PATH: join(ROOT, 'node_modules'),
      DATABASE_URL: engine.db.url,
      ...(useRedis ? { REDIS_URL: TEST_REDIS_URL } : {}),
      SAGA_REDIS_PREFIX: engine.prefix,
      DEMO_PORT: String(demoPort),
      DEMO_TCP_PORT: String(tcpPort),
      SAGA_URL: engine.url,
      SAGA_SIGNAL_KEY: KEYS.operator,
      LOG_LEVEL: 'log',
      NO_COLOR: '1',
    };
    const proc = new EngineProcess(`demo-${++starts}`, script, [], env, join(logDir, `demo-${starts}.log`));
    await proc.waitForOutput(/demo services are ready/, 30_000).catch((error: Error) => {
      throw new Error(`${error.message}\n${proc.log.slice(-3000)}`);
    });
    return proc;
  }

  beforeAll(async () => {
    demoPort = await freePort();
    tcpPort = await freePort();
    engine = await startTestEngine({
      demo: { url: `http://127.0.0.1:${demoPort}`, ...(useRedis ? {} : { tcpPort }) },
      // A circuit opens after 2 consecutive transient failures and lets a trial through 1 s later.
      env: { PARTICIPANT_FAILURES_TO_OPEN: '2', PARTICIPANT_HALF_OPEN_MS: '1000', SUPERVISOR_INTERVAL_MS: '200' },
      // The drone-delivery saga, and one that verifies an account patiently (the participant-down test: the
      // demo saga gives up after 5 attempts within 2 s, less than a process takes to come back).
      sagas: [
        defineSaga('patient-verify', { version: 1, deps: { p: DroneDeliveryParticipants } })
          .step('verify-account', {
            retry: { maximumAttempts: 60, initialInterval: '200ms', backoffCoefficient: 1.5, maximumInterval: '500ms' },
            timeout: '1s',
            run: (ctx, { p }) =>
              p.account.verify({
                sagaId: ctx.sagaId,
                idempotencyKey: ctx.key,
                attempt: ctx.attempt,
                signal: ctx.signal,
                payload: { accountId: 'acc-patient' },
              }),
          })
          .build(),
      ],
    });
    demo = await startDemo();
  });
  afterAll(async () => {
    await demo?.kill('SIGKILL');
    await engine?.close();
    rmSync(logDir, { recursive: true, force: true });
  });

  async function run(input: Record<string, unknown>, type = 'drone-delivery') {
    const res = await engine.as('operator').post('/v1/sagas').send({ type, input });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  /** Each effect the participants applied for the saga, applied exactly once. */
  async function ledgerOnce(sagaId: string) {
    const ledger = await engine.ledger(sagaId);
    expect(ledger.filter((e) => e.count !== 1)).toEqual([]);
    return ledger;
  }

  it('happy path: the saga completes through the services, the drone reports the delivery', async () => {
    const saga = await engine.waitForStatus(await run(droneInput()), ENDED);
    expect(saga.status).toBe('COMPLETED');
    expect(stepOf(saga, 'await-delivery')).toMatchObject({
      status: 'SUCCEEDED',
      output: { by: 'drone', droneId: saga.output.scheduleDrone.droneId },
    });
    expect(effects(await ledgerOnce(saga.id))).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'drone.schedule',
      'account.charge',
      'notification.notify',
    ]);
    const events = (await engine.as('viewer').get(`/v1/sagas/${saga.id}/events`)).body.items as any[];
    const received = events.find((e) => e.type === 'SignalReceived');
    expect(received.data).toMatchObject({ signal: 'DeliveryCompleted', by: expect.stringMatching(/\(operator\)$/) });
  });

  it('a heavy parcel takes the ground branch: schedule-drone SKIPPED, book-ground-transport SUCCEEDED (HTTP)', async () => {
    const saga = await engine.waitForStatus(await run(droneInput({ weightKg: 35 })), ENDED);
    expect(saga.status).toBe('COMPLETED');
    expect(stepOf(saga, 'schedule-drone').status).toBe('SKIPPED');
    expect(stepOf(saga, 'book-ground-transport')).toMatchObject({ status: 'SUCCEEDED', attempts: 1 });
    expect(saga.output.bookGroundTransport.bookingId).toMatch(/^trk_/);
    expect(stepOf(saga, 'await-delivery').output).toMatchObject({ by: 'transport' });
    expect(effects(await ledgerOnce(saga.id))).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'transport.book',
      'account.charge',
      'notification.notify',
    ]);
  });

  it('a DeliveryCompleted that never comes times out and the saga compensates: nobody is charged', async () => {
    const id = await run(droneInput({ faults: { 'await-delivery': { never: true } } }));
    const saga = await engine.waitForStatus(id, ENDED, 30_000);
    expect(saga.status).toBe('COMPENSATED');
    expect(saga.error).toMatchObject({ step: 'await-delivery', code: 'SIGNAL_TIMEOUT', transient: false });
    expect(stepOf(saga, 'charge-account').status).toBe('PENDING');
    expect(effects(await ledgerOnce(id))).toEqual([
      'account.verify',
      'delivery.create',
      'package.register',
      'drone.schedule',
      'drone.release',
      'package.delete',
      'delivery.cancel',
    ]);
  });

  it('a participant down (its process killed) opens its circuit; the saga retries and completes once it is back', async () => {
    await demo!.kill('SIGKILL');
    demo = null;
    const id = await run({}, 'patient-verify');

    // The account circuit opens: in the step's error, in GET /v1/participants and in the metrics gauge.
    const retrying = await poll(
      async () => {
        const saga = (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
        return stepOf(saga, 'verify-account').error?.code === 'CIRCUIT_OPEN' ? saga : undefined;
      },
      { timeoutMs: 20_000, what: 'the step to fail fast with CIRCUIT_OPEN' },
    );
    expect(stepOf(retrying, 'verify-account').error).toMatchObject({
      code: 'CIRCUIT_OPEN',
      retryable: true,
      message: 'participant "account": circuit open, failing fast',
    });
    const participants = await poll(
      async () => {
        const res = await engine.as('viewer').get('/v1/participants');
        expect(res.status).toBe(200);
        const account = res.body.items.find((p: any) => p.name === 'account');
        return account && account.state !== 'closed' ? res.body : undefined;
      },
      { timeoutMs: 10_000, what: 'GET /v1/participants to show the account circuit not closed' },
    );
    const account = participants.items.find((p: any) => p.name === 'account');
    expect(['open', 'half-open']).toContain(account.state);
    expect(account).toMatchObject({ agents: 1, since: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) });
    expect((await engine.http().get('/v1/participants')).status).toBe(401);
    const metrics = await poll(
      async () => {
        const text = (await engine.as('viewer').get('/metrics')).text;
        return /saga_participant_circuit_state\{participant="account"\} [12]/.test(text) ? text : undefined;
      },
      { timeoutMs: 10_000, what: 'the circuit gauge to leave 0' },
    );
    expect(metrics).toContain('# TYPE saga_participant_circuit_state gauge');

    // Back: the next trial call closes the circuit and the saga completes.
    demo = await startDemo();
    const saga = await engine.waitForStatus(id, ENDED, 30_000);
    expect(saga.status).toBe('COMPLETED');
    expect(stepOf(saga, 'verify-account').attempts).toBeGreaterThan(2);
    expect(effects(await ledgerOnce(id))).toEqual(['account.verify']);
    await poll(
      async () => {
        const res = await engine.as('viewer').get('/v1/participants');
        return res.body.items.find((p: any) => p.name === 'account')?.state === 'closed';
      },
      { timeoutMs: 10_000, what: 'the account circuit to close' },
    );
    expect((await engine.as('viewer').get('/metrics')).text).toMatch(
      /saga_participant_circuit_state\{participant="account"\} 0/,
    );
  });

  it('the ledger shows every effect of these sagas once', async () => {
    const sagas = (await engine.as('viewer').get('/v1/sagas?limit=100')).body.items as any[];
    expect(sagas.length).toBe(4);
    for (const saga of sagas) await ledgerOnce(saga.id);
  });
});
