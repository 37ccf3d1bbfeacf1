import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineProcess, ROOT, freePort, poll } from '../scripts/support/cluster';
import { TestDatabase, dropRedisPrefix } from './support/test-engine';
import { TEST_QUEUE_KIND, TEST_REDIS_URL } from './support/urls';

const KEY = 'many-services-admin-key-0123456789abcdef';

/**
 * Many services, one engine, as separate processes on one PostgreSQL (and the run's queue backend):
 *
 * - the engine's orchestrator (apps/orchestrator): the REST API and the supervisor, with no saga code at all;
 * - the order service (examples/order-service, roles: agent): the `order` saga's code and its own HTTP API;
 * - the shipping service (examples/shipping-service, roles: agent): the `shipment` saga's code, nothing else.
 *
 * Each saga's steps run only in the process that has its code (each agent consumes only its own saga's queue);
 * the orchestrator starts and shows both from the definitions they published; a saga whose service is down waits,
 * and runs when the service is back.
 */
describe('many services, one engine (e2e, separate processes)', () => {
  const db = new TestDatabase();
  const prefix = `many-${process.pid}`;
  const logDir = mkdtempSync(join(tmpdir(), 'saga-many-'));
  const processes: EngineProcess[] = [];
  let orchestratorUrl = '';
  let orderUrl = '';
  let env: Record<string, string> = {};

  const start = (name: string, script: string, extra: Record<string, string> = {}) => {
    const proc = new EngineProcess(name, join(ROOT, script), [], { ...env, ...extra }, join(logDir, `${name}.log`));
    processes.push(proc);
    return proc;
  };
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${orchestratorUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const startShipping = async () => {
    const proc = start(`shipping-${processes.length}`, 'examples/shipping-service/dist/main.js');
    await proc.waitForOutput(/shipping service ready/);
    // Its heartbeat: the orchestrator counts it among the agents of `shipment`.
    await poll(async () => (await api('GET', '/v1/saga-types/shipment')).body.agents === 1, {
      what: 'the shipping agent to report in',
    });
    return proc;
  };

  beforeAll(async () => {
    // The examples build like any TypeScript project, against the packages' declarations.
    for (const example of ['order-service', 'shipping-service']) {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
        cwd: join(ROOT, 'examples', example),
      });
    }
    await db.create();
    const port = await freePort();
    const orderPort = await freePort();
    orchestratorUrl = `http://127.0.0.1:${port}`;
    orderUrl = `http://127.0.0.1:${orderPort}`;
    env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: db.url,
      ...(TEST_QUEUE_KIND === 'redis' ? { REDIS_URL: TEST_REDIS_URL } : {}),
      SAGA_REDIS_PREFIX: prefix,
      SAGA_QUEUE_PREFIX: prefix,
      SAGA_API_KEYS: `admin:${KEY}:admin`,
      SUPERVISOR_INTERVAL_MS: '200',
      LOG_FORMAT: 'json',
    };
    const orchestrator = start('orchestrator', 'dist/apps/orchestrator/main.js', { PORT: String(port) });
    await poll(async () => (await fetch(`${orchestratorUrl}/health`).catch(() => null))?.status === 200, {
      what: 'the orchestrator to answer /health',
    }).catch((error: Error) => {
      throw new Error(`${error.message}\n${orchestrator.log.slice(-3000)}`);
    });
    start('order', 'examples/order-service/dist/main.js', { PORT: String(orderPort), SAGA_ROLES: 'agent' });
    await poll(async () => (await api('GET', '/v1/saga-types/order')).body.agents === 1, {
      what: 'the order service to publish its saga and report in',
    });
  });

  afterAll(async () => {
    for (const proc of processes) if (proc.alive) await proc.kill('SIGKILL');
    await db.drop();
    if (TEST_QUEUE_KIND === 'redis') await dropRedisPrefix(prefix);
    rmSync(logDir, { recursive: true, force: true });
  });

  it('runs each saga only where its code is, and a saga whose service is down waits until it is back', async () => {
    // The shipping service runs once (it publishes the shipment saga's definition), then stops.
    const first = await startShipping();
    await first.kill('SIGTERM');
    await poll(async () => (await api('GET', '/v1/saga-types/shipment')).body.agents === 0, {
      what: 'the stopped shipping agent to leave',
    });

    // The orchestrator, which has no saga code, starts a shipment from the published definition and schema.
    expect((await api('POST', '/v1/sagas', { type: 'shipment', input: { shipmentId: 's-1' } })).body).toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringContaining('input.country'),
    });
    const shipment = await api('POST', '/v1/sagas', { type: 'shipment', input: { shipmentId: 's-1', country: 'DE' } });
    expect(shipment.status).toBe(201);
    // Nobody runs shipment steps now: the saga waits, and the API says so.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const waiting = await api('GET', `/v1/sagas/${shipment.body.id}`);
    expect(waiting.body.status).toBe('RUNNING');
    expect(waiting.body.steps[0]).toMatchObject({ name: 'book-carrier', status: 'SCHEDULED' });
    expect((await api('GET', '/v1/saga-types/shipment')).body.agents).toBe(0);

    // An order, through the order service's own API (its client starts the saga in-process).
    const placed = await fetch(`${orderUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        orderId: 'o-1',
        customerId: 'cus_1',
        lines: [{ sku: 'BOOK-1', quantity: 1 }],
        totalCents: 990,
        country: 'DE',
      }),
    });
    expect(placed.status).toBe(201);
    const { sagaId: orderId } = (await placed.json()) as { sagaId: string };
    // The warehouse's pickup goes through the central API.
    expect(
      (await api('POST', `/v1/sagas/${orderId}/signals/ParcelPickedUp`, { payload: { by: 'warehouse' } })).status,
    ).toBe(202);
    await poll(async () => (await api('GET', `/v1/sagas/${orderId}`)).body.status === 'COMPLETED', {
      what: 'the order to complete',
    });

    // The shipping service comes back: the shipment that waited runs now.
    const second = await startShipping();
    await poll(async () => (await api('GET', `/v1/sagas/${shipment.body.id}`)).body.status === 'COMPLETED', {
      timeoutMs: 30_000,
      what: 'the shipment to complete once its service is back',
    });

    // Who ran what: each agent registers only its own saga; the shipment's effects were applied by the shipping
    // process that is running now, none by the first one nor by any other process.
    const agents = (await api('GET', '/v1/agents')).body.items as { pid: number; sagaTypes: string[] }[];
    expect(agents.map((a) => a.sagaTypes).sort()).toEqual([['order@1'], ['shipment@1']]);
    const effects = await db.query<{ what: string; pid: number }>(
      `SELECT what, pid FROM shipping.effect ORDER BY what`,
    );
    expect(effects).toEqual([
      { what: 'book s-1 to DE', pid: second.pid },
      { what: 'label bk-s-1', pid: second.pid },
    ]);
    // The order's effects are in the order service's tables; the orchestrator has no agent at all.
    expect(await db.query(`SELECT "orderId", refunded FROM order_payment`)).toEqual([
      { orderId: 'o-1', refunded: false },
    ]);
    expect(agents.some((a) => a.pid === processes[0].pid)).toBe(false);
  }, 120_000);
});
