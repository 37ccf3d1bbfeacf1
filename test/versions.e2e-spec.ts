import { Writable } from 'node:stream';
import { defineSaga } from '@saga-engine/sdk';
import { VersionReport } from '../libs/nestjs/src/supervisor/version-report';
import { TestDatabase, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/** Two versions of one type side by side: v1 waits for a signal, v2 does not. */
const v1 = defineSaga('versioned', { version: 1 })
  .step('prepare', { run: () => ({ v: 1 }) })
  .waitFor('approval', { signal: 'Approve', timeout: '1h' })
  .step('finish', { run: () => ({ done: 1 }) })
  .build();
const v2 = defineSaga('versioned', { version: 2 })
  .step('prepare', { run: () => ({ v: 2 }) })
  .step('finish', { run: () => ({ done: 2 }) })
  .build();

/**
 * A deploy that drops v1's code while v1 sagas still run: the engine says so (log, /health degraded, metric,
 * GET /v1/saga-versions), actions that need v1's steps answer 409 VERSION_UNAVAILABLE (never 500), and the sagas
 * finish once v1's code is deployed again. Each engine is stopped before the next starts on the same database and
 * Redis prefix, as a rolling deploy of one process would.
 */
describe('saga versions side by side (e2e)', () => {
  const db = new TestDatabase();
  let engine: TestEngine | undefined;
  let prefix: string | undefined;
  const lines: Record<string, any>[] = [];
  const logs = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });

  const deploy = async (sagas: (typeof v1 | typeof v2)[]) => {
    await engine?.stop();
    engine = await startTestEngine({ sagas, db, prefix, logs, env: { SUPERVISOR_INTERVAL_MS: '200' } });
    prefix = engine.prefix;
    return engine;
  };

  beforeAll(async () => {
    await db.create();
  });
  afterAll(async () => {
    await engine?.close();
  });

  let waiting: string;
  let newest: string;

  it('lists every version, starts the newest by default and a given one on request', async () => {
    const e = await deploy([v1, v2]);
    const byDefault = await e.as('operator').post('/v1/sagas').send({ type: 'versioned', input: {} });
    expect(byDefault.status).toBe(201);
    expect(byDefault.body.version).toBe(2);
    newest = byDefault.body.id;
    const chosen = await e.as('operator').post('/v1/sagas').send({ type: 'versioned', input: {}, version: 1 });
    expect(chosen.status).toBe(201);
    expect(chosen.body.version).toBe(1);
    waiting = chosen.body.id;

    const one = await e.as('viewer').get('/v1/saga-types/versioned/versions/1');
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ name: 'versioned', version: 1, versions: [1, 2] });
    expect(one.body.steps.map((s: { name: string }) => s.name)).toEqual(['prepare', 'approval', 'finish']);

    for (const [path, status, message] of [
      ['/v1/saga-types/versioned/versions/3', 404, 'has no version 3 (known: 1, 2)'],
      ['/v1/saga-types/versioned/versions/0', 400, 'version must be a positive integer'],
      ['/v1/saga-types/versioned/versions/x', 400, 'version must be a positive integer'],
      ['/v1/saga-types/nope/versions/1', 404, 'no saga type by that name'],
      ['/v1/saga-versions?type=Bad%20Type', 400, 'type must be a kebab-case saga type name'],
    ] as const) {
      const res = await e.as('viewer').get(path);
      expect({ path, status: res.status, message: res.body.message }).toEqual({
        path,
        status,
        message: expect.stringContaining(message),
      });
    }
    for (const [version, message] of [
      [3, 'version: saga type versioned has no version 3 (known: 1, 2)'],
      ['2', 'version must be a positive integer'],
      [0, 'version must be a positive integer'],
    ] as const) {
      const res = await e.as('operator').post('/v1/sagas').send({ type: 'versioned', input: {}, version });
      expect({ version, status: res.status, message: res.body.message }).toEqual({
        version,
        status: 400,
        message: expect.stringContaining(message),
      });
    }

    await e.waitForStatus(newest, ['COMPLETED']);
    await waitFor(
      async () =>
        (await e.as('viewer').get(`/v1/sagas/${waiting}`)).body.steps.find((s: any) => s.name === 'approval')
          ?.status === 'WAITING',
      { what: 'the v1 saga to wait for its signal' },
    );
    const versions = (await e.as('viewer').get('/v1/saga-versions?type=versioned')).body.items;
    expect(versions).toEqual([
      { type: 'versioned', version: 1, instances: { RUNNING: 1 }, agents: 1, known: true, runnable: true },
      { type: 'versioned', version: 2, instances: {}, agents: 1, known: true, runnable: true },
    ]);
  });

  it('a deploy without v1 says so, refuses actions that need v1 with 409, and never answers 500', async () => {
    const e = await deploy([v2]);
    // The supervisor's first check comes once agents have had time to send a heartbeat (15 s).
    const health = await waitFor(
      async () => {
        const res = await e.as('viewer').get('/health');
        return res.body.status === 'degraded' ? res : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: '/health to say degraded' },
    );
    expect(health.status).toBe(200);
    expect(health.body.details.versions.stranded).toEqual([
      { type: 'versioned', version: 1, instances: { RUNNING: 1 } },
    ]);
    expect(
      lines.find((l) => /sagas wait on versions no live agent runs: versioned v1 \(1 RUNNING\)/.test(l.msg)),
    ).toBeDefined();
    const metrics = await e.as('viewer').get('/metrics');
    expect(metrics.text).toMatch(/saga_version_unavailable_sagas\{type="versioned",version="1"\} 1/);
    const versions = (await e.as('viewer').get('/v1/saga-versions')).body.items;
    expect(versions.find((v: any) => v.version === 1)).toMatchObject({ agents: 0, runnable: false, known: true });

    // A signal would move it to a step nobody can run; so would a retry. The saga and its page still answer.
    const signal = await e.as('operator').post(`/v1/sagas/${waiting}/signals/Approve`).send({ payload: {} });
    expect(signal.status).toBe(409);
    expect(signal.body).toMatchObject({ code: 'VERSION_UNAVAILABLE' });
    expect(signal.body.message).toContain('saga "versioned" version 1 is unavailable: no live agent runs it');
    for (const path of [`/v1/sagas/${waiting}`, `/v1/sagas/${waiting}/events`, '/v1/saga-types/versioned']) {
      expect((await e.as('viewer').get(path)).status).toBe(200);
    }
    expect((await e.as('viewer').get('/v1/saga-types/versioned/versions/1')).status).toBe(200);
    // A new start still gets the newest version, which runs.
    const fresh = await e.as('operator').post('/v1/sagas').send({ type: 'versioned', input: {} });
    expect(fresh.body.version).toBe(2);
    await e.waitForStatus(fresh.body.id, ['COMPLETED']);
  });

  it('with v1 deployed again, its saga takes its signal and finishes; the report clears', async () => {
    const e = await deploy([v1, v2]);
    const signal = await e.as('operator').post(`/v1/sagas/${waiting}/signals/Approve`).send({ payload: {} });
    expect(signal.status).toBe(202);
    const done = await e.waitForStatus(waiting, ['COMPLETED']);
    expect(done.output).toMatchObject({ prepare: { v: 1 }, finish: { done: 1 } });
    // Checked now rather than at the next tick: nothing is stranded any more.
    expect(await e.app.get(VersionReport).check()).toEqual([]);
    const health = await waitFor(
      async () => {
        const res = await e.as('viewer').get('/health');
        return res.body.status === 'ok' ? res : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: '/health to say ok again' },
    );
    expect(health.body.details.versions.stranded).toEqual([]);
  });
});
