import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { droneInput } from './support/drone-input';
import { KEYS, freePort, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

const ROOT = resolve(__dirname, '..');
/** The bin as built (the global setup builds what changed): what `npx saga` runs. */
const BIN = join(ROOT, 'libs', 'cli', 'dist', 'main.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * `saga` (the built `@saga-engine/cli` bin) as a child process against a real engine (REST API, scheduler, agent,
 * PostgreSQL, Redis, the demo services): its exit codes and outputs are what a script sees.
 */
describe('the saga CLI (e2e)', () => {
  let engine: TestEngine;
  let cwd = '';

  /** Runs `saga ...args` in an empty directory, with SAGA_URL and SAGA_API_KEY (operator) unless `env` says else. */
  function saga(args: string[], env: Record<string, string> = {}): Promise<Result> {
    const started = Date.now();
    return new Promise((resolveRun) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        {
          cwd,
          env: { PATH: process.env.PATH ?? '', SAGA_URL: engine.url, SAGA_API_KEY: KEYS.operator, ...env },
          timeout: 60_000,
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolveRun({ code, stdout, stderr, ms: Date.now() - started });
        },
      );
    });
  }

  /** The saga's step `name` as the API shows it. */
  async function step(id: string, name: string): Promise<{ status: string }> {
    const res = await engine.as('viewer').get(`/v1/sagas/${id}`).expect(200);
    return (res.body as { steps: { name: string; status: string }[] }).steps.find((s) => s.name === name)!;
  }

  beforeAll(async () => {
    expect(existsSync(BIN)).toBe(true);
    engine = await startTestEngine({ demo: true });
    cwd = mkdtempSync(join(tmpdir(), 'saga-cli-e2e-'));
  });
  afterAll(async () => {
    await engine?.close();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('starts a drone delivery and waits until it COMPLETED (exit 0), then gets it', async () => {
    const started = await saga([
      'start',
      'drone-delivery',
      '--input',
      JSON.stringify(droneInput()),
      '--wait',
      '60s',
      '--json',
    ]);

    expect(started).toMatchObject({ code: 0, stderr: '' });
    const saga1 = JSON.parse(started.stdout);
    expect(saga1).toMatchObject({ type: 'drone-delivery', status: 'COMPLETED', created: true, error: null });
    expect(saga1.output.scheduleDrone.droneId).toMatch(/^drn_/);

    const shown = await saga(['get', saga1.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^${saga1.id} {2}drone-delivery v1 {2}COMPLETED\\n`));
    expect(shown.stdout).toMatch(/\ncharge-account +SUCCEEDED +1\n/);
    expect(shown.stdout).toMatch(/\nbook-ground-transport +SKIPPED +\d+\n/);

    const json = await saga(['get', saga1.id, '--json']);
    const viaApi = await engine.as('viewer').get(`/v1/sagas/${saga1.id}`).expect(200);
    expect(JSON.parse(json.stdout)).toEqual(viaApi.body);
  });

  it('reads the input from stdin, and exits 4 when --wait ends COMPENSATED', async () => {
    const input = JSON.stringify(droneInput({ faults: { 'charge-account': { fatal: true } } }));
    const result = await new Promise<Result>((resolveRun) => {
      const started = Date.now();
      const child = execFile(
        process.execPath,
        [BIN, 'start', 'drone-delivery', '--input', '-', '--wait', '60s'],
        { cwd, env: { PATH: process.env.PATH ?? '', SAGA_URL: engine.url, SAGA_API_KEY: KEYS.operator } },
        (error, stdout, stderr) =>
          resolveRun({ code: error ? Number(error.code) : 0, stdout, stderr, ms: Date.now() - started }),
      );
      child.stdin!.end(input);
    });

    expect(result.code).toBe(4);
    expect(result.stdout).toMatch(/ drone-delivery v1 {2}COMPENSATED\n/);
    expect(result.stdout).toContain('error    charge-account FAULT_FATAL');
    expect(result.stderr).toMatch(/^saga [0-9a-f-]{36} ended COMPENSATED, not COMPLETED\n$/);
  });

  it('lists with filters, a page at a time or --all, as a table or JSON', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await saga(['start', 'drone-delivery', '--input', JSON.stringify(droneInput()), '--json']);
      expect(res.code).toBe(0);
      ids.push(JSON.parse(res.stdout).id);
    }
    for (const id of ids) await engine.waitForStatus(id, ['COMPLETED'], 30_000);

    const completed = await saga(['list', '--type', 'drone-delivery', '--status', 'completed', '--json']);
    expect(completed.code).toBe(0);
    const page = JSON.parse(completed.stdout) as { items: { id: string; status: string }[]; nextCursor: null };
    expect(page.items.map((s) => s.id)).toEqual(expect.arrayContaining(ids));
    expect(page.items.every((s) => s.status === 'COMPLETED')).toBe(true);

    const compensated = await saga(['list', '--status', 'COMPENSATED', '--json']);
    expect(JSON.parse(compensated.stdout).items.map((s: { id: string }) => s.id)).not.toContain(ids[0]);

    const firstPage = await saga(['list', '--limit', '2']);
    expect(firstPage.code).toBe(0);
    expect(firstPage.stdout.split('\n')[0]).toMatch(/^ID +TYPE +STATUS +CREATED +ENDED +ERROR$/);
    expect(firstPage.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(firstPage.stdout).toContain(ids[2]); // newest first
    const cursor = /^more: add --cursor (\S+) \(or --all\)$/m.exec(firstPage.stderr)?.[1];
    expect(cursor).toBeDefined();
    const secondPage = await saga(['list', '--limit', '2', '--cursor', cursor!, '--json']);
    expect(JSON.parse(secondPage.stdout).items[0].id).toBe(ids[0]);

    const all = await saga(['list', '--limit', '2', '--all', '--json']);
    const everything = JSON.parse(all.stdout) as { items: { id: string }[]; nextCursor: null };
    expect(everything.nextCursor).toBeNull();
    expect(everything.items.map((s) => s.id)).toEqual(expect.arrayContaining(ids));
    expect(everything.items.length).toBeGreaterThanOrEqual(5);

    const later = await saga(['list', '--created-after', new Date(Date.now() + 60_000).toISOString(), '--json']);
    expect(JSON.parse(later.stdout)).toEqual({ items: [], nextCursor: null });
  });

  it('follows the events of a running saga until it ends', async () => {
    const started = await saga(['start', 'drone-delivery', '--input', JSON.stringify(droneInput()), '--json']);
    const { id } = JSON.parse(started.stdout) as { id: string };

    const followed = await saga(['events', id, '--follow', '--interval', '100ms', '--json']);

    expect(followed).toMatchObject({ code: 0, stderr: '' });
    const events = followed.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number; type: string; step: string | null });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1)); // each once, in order
    expect(events[0].type).toBe('SagaStarted');
    expect(events.at(-1)!.type).toBe('SagaCompleted');
    expect(events.some((e) => e.type === 'StepSucceeded' && e.step === 'charge-account')).toBe(true);
    const history = await engine.as('viewer').get(`/v1/sagas/${id}/events`).expect(200);
    expect(events).toEqual(history.body.items);

    const table = await saga(['events', id]);
    expect(table.stdout.split('\n')[0]).toMatch(/^ SEQ {2}AT +TYPE +STEP +DATA$/);
    expect(table.stdout).toMatch(/\n +1 {2}\S+ {2}SagaStarted/);
  });

  it('signals a saga that waits for DeliveryCompleted, which then completes', async () => {
    const input = droneInput({ faults: { 'await-delivery': { never: true } } });
    const started = await saga(['start', 'drone-delivery', '--input', JSON.stringify(input), '--json']);
    const { id } = JSON.parse(started.stdout) as { id: string };
    // The wait lasts 5 s: signal as soon as it waits.
    await waitFor(async () => (await step(id, 'await-delivery')).status === 'WAITING', {
      timeoutMs: 10_000,
      what: 'await-delivery WAITING',
    });

    const signalled = await saga(['signal', id, 'DeliveryCompleted', '--payload', '{"droneId":"drn_cli"}']);

    expect(signalled.code).toBe(0);
    expect(signalled.stdout).toContain('signal   DeliveryCompleted delivered\n');
    expect(signalled.stdout).toMatch(/\nawait-delivery +SUCCEEDED/);
    const done = await engine.waitForStatus(id, ['COMPLETED', 'COMPENSATED'], 30_000);
    expect(done.status).toBe('COMPLETED');
    expect(done.steps.find((s: { name: string }) => s.name === 'await-delivery').output).toEqual({
      droneId: 'drn_cli',
    });

    // Nothing waits for it any more: the API refuses (409), exit 1 with the code.
    const again = await saga(['signal', id, 'DeliveryCompleted']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^saga: NOT_WAITING \(409\): /);
  });

  it('cancels a running saga with a reason; a second cancel is refused with exit 1, naming the code', async () => {
    const input = droneInput({ faults: { 'await-delivery': { never: true } } });
    const { id } = JSON.parse(
      (await saga(['start', 'drone-delivery', '--input', JSON.stringify(input), '--json'])).stdout,
    );

    const cancelled = await saga(['cancel', id, '--reason', 'customer asked, ticket 4711', '--json']);

    expect(cancelled.code).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ id });
    expect((await engine.waitForStatus(id, ['CANCELLED'], 30_000)).status).toBe('CANCELLED');
    const events = JSON.parse((await saga(['events', id, '--json'])).stdout).items as { type: string; data: any }[];
    expect(events.find((e) => e.type === 'CancelRequested')?.data).toMatchObject({
      reason: 'customer asked, ticket 4711',
    });

    const again = await saga(['cancel', id, '--reason', 'again']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^saga: INVALID_STATE \(409\): /);
    expect(again.stdout).toBe('');
  });

  it('retries a FAILED saga (operator) and resolves its compensation by hand (admin)', async () => {
    const faults = { 'charge-account': { fatal: true }, 'register-package': { compensationFatal: true } };
    const { id } = JSON.parse(
      (await saga(['start', 'drone-delivery', '--input', JSON.stringify(droneInput({ faults })), '--json'])).stdout,
    );
    await engine.waitForStatus(id, ['FAILED'], 60_000);

    const retried = await saga(['retry', id, '--reason', 'the package service is back', '--json']);
    expect(retried.code).toBe(0);
    // Its undo fails for good again.
    await waitFor(
      async () => {
        const events = (await engine.as('viewer').get(`/v1/sagas/${id}/events`).expect(200)).body.items;
        return events.filter((e: { type: string }) => e.type === 'SagaFailed').length === 2;
      },
      { timeoutMs: 60_000, what: 'the second SagaFailed' },
    );

    const asOperator = await saga(['resolve', id, 'register-package', '--reason', 'deleted by hand']);
    expect(asOperator.code).toBe(1);
    expect(asOperator.stderr).toContain('saga: FORBIDDEN (403)');

    const resolved = await saga(['resolve', id, 'register-package', '--reason', 'deleted by hand'], {
      SAGA_API_KEY: KEYS.admin,
    });
    expect(resolved.code).toBe(0);
    expect((await engine.waitForStatus(id, ['COMPENSATED'], 30_000)).status).toBe('COMPENSATED');
  });

  it('re-runs a COMPLETED saga from a step (new idempotency key) and skips a FAILED step with an output (admin)', async () => {
    const { id } = JSON.parse(
      (await saga(['start', 'drone-delivery', '--input', JSON.stringify(droneInput()), '--json'])).stdout,
    );
    await engine.waitForStatus(id, ['COMPLETED'], 60_000);

    const before = await saga(['retry', id, '--from-step', 'charge-account', '--reason', 'again']);
    expect(before.code).toBe(1);
    expect(before.stderr).toMatch(/^saga: INVALID_STATE \(409\): .*not after the pivot step "charge-account"/);

    const rerun = await saga(['retry', id, '--from-step', 'notify-customer', '--reason', 'mail bounced', '--json']);
    expect(rerun.code).toBe(0);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ id });
    const done = await engine.waitForStatus(id, ['COMPLETED'], 30_000);
    expect(done.steps.find((s: { name: string }) => s.name === 'notify-customer')).toMatchObject({ run: 1 });
    await waitFor(
      async () => (await engine.ledger(id)).filter((e) => e.operation === 'notify').length === 2 || undefined,
      { timeoutMs: 30_000, what: 'the second notification' },
    );
    const notified = (await engine.ledger(id)).filter((e) => e.operation === 'notify');
    expect(notified.map((e) => e.idempotencyKey).sort()).toEqual([
      `${id}:notify-customer`,
      `${id}:notify-customer:rerun-1`,
    ]);
    expect(notified.every((e) => e.count === 1)).toBe(true);
    // The steps before it ran once.
    expect((await engine.ledger(id)).filter((e) => e.operation !== 'notify').every((e) => e.count === 1)).toBe(true);

    const faults = { 'notify-customer': { fatal: true } };
    const failed = JSON.parse(
      (await saga(['start', 'drone-delivery', '--input', JSON.stringify(droneInput({ faults })), '--json'])).stdout,
    ).id as string;
    expect((await engine.waitForStatus(failed, ['FAILED', 'COMPLETED'], 60_000)).status).toBe('FAILED');

    const badJson = await saga(['skip', failed, 'notify-customer', '--output', '{nope', '--reason', 'r']);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('--output must be a JSON value: it is not valid JSON');
    const noOutput = await saga(['skip', failed, 'notify-customer', '--reason', 'r']);
    expect(noOutput.code).toBe(2);
    expect(noOutput.stderr).toContain('--output is required');
    const asOperator = await saga(['skip', failed, 'notify-customer', '--output', 'null', '--reason', 'r']);
    expect(asOperator.code).toBe(1);
    expect(asOperator.stderr).toContain('saga: FORBIDDEN (403)');

    const skipped = await saga(
      ['skip', failed, 'notify-customer', '--output', '{"sent":"by phone"}', '--reason', 'called them, ticket 9'],
      { SAGA_API_KEY: KEYS.admin },
    );
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toContain(failed);
    const completed = await engine.waitForStatus(failed, ['COMPLETED'], 30_000);
    expect(completed.output.notifyCustomer).toEqual({ sent: 'by phone' });
    expect(completed.steps.find((s: { name: string }) => s.name === 'notify-customer')).toMatchObject({
      skipped: true,
      status: 'SUCCEEDED',
    });
  });

  it('lists the saga types and the agents', async () => {
    const types = await saga(['types', '--json']);
    expect(types.code).toBe(0);
    expect(JSON.parse(types.stdout).map((t: { name: string }) => t.name)).toContain('drone-delivery');
    expect((await saga(['types'])).stdout).toMatch(/\ndrone-delivery +1 +1 +\d+ +\d+ +Schedules a parcel/);

    const agents = await saga(['agents', '--json'], { SAGA_API_KEY: KEYS.viewer });
    expect(agents.code).toBe(0);
    const items = JSON.parse(agents.stdout).items as { sagaTypes: string[] }[];
    expect(items.some((a) => a.sagaTypes.includes('drone-delivery@1'))).toBe(true);
  });

  it('exit 1 for a saga that does not exist, or a wrong key (AUTH_REQUIRED), never printing the key', async () => {
    const missing = await saga(['get', '00000000-0000-4000-8000-000000000000']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('saga: SAGA_NOT_FOUND (404): saga 00000000-0000-4000-8000-000000000000 not found\n');

    const wrongKey = 'wrong-key-that-is-long-enough-4711';
    const refused = await saga(['list'], { SAGA_API_KEY: wrongKey });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^saga: AUTH_REQUIRED \(401\): /);
    expect(`${refused.stdout}${refused.stderr}`).not.toContain(wrongKey);

    const verbose = await saga(['list', '--verbose'], { SAGA_API_KEY: wrongKey });
    expect(verbose.stderr).toContain('API key from SAGA_API_KEY');
    expect(verbose.stderr).not.toContain(wrongKey);
  });

  it('exit 3, fast, when nothing answers at the URL', async () => {
    const port = await freePort();
    const result = await saga(['get', '00000000-0000-4000-8000-000000000000', '--url', `http://127.0.0.1:${port}`]);

    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^saga: UNAVAILABLE: GET \/v1\/sagas\/[0-9a-f-]+: no answer \(.*ECONNREFUSED.*\)/);
    expect(result.ms).toBeLessThan(5_000);
  });

  it('exit 2 for bad --input JSON or a missing --reason, naming the flag, before sending anything', async () => {
    const count = async () => (await engine.db.query<{ n: string }>('SELECT count(*) AS n FROM saga_instance'))[0].n;
    const before = await count();

    const badJson = await saga(['start', 'drone-delivery', '--input', '{"accountId": acc-42}']);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/^saga: --input must be a JSON object: it is not valid JSON/);
    expect(badJson.stderr).not.toContain('acc-42');

    const noReason = await saga(['cancel', '00000000-0000-4000-8000-000000000000']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain("required option '--reason <text>' not specified");

    expect(await count()).toBe(before);
  });
});
