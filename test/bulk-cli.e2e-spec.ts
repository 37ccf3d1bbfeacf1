import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NonRetryableError, defineSaga } from '@saga-engine/sdk';
import { KEYS, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

const ROOT = resolve(__dirname, '..');
/** The bin as built (the global setup builds what changed): what `npx saga` runs. */
const BIN = join(ROOT, 'libs', 'cli', 'dist', 'main.js');

/** The participant behind the last step: down until the test fixes it. */
let down = true;
const flaky = defineSaga('cli-bulk', { version: 1 })
  .step('reserve', { run: () => ({ reserved: true }), pivot: true })
  .step('notify', {
    run: () => {
      if (down) throw new NonRetryableError('the mailer is down', { code: 'MAILER_DOWN' });
      return { sent: true };
    },
  })
  .build();

const COUNT = 30;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `saga bulk`, `saga bulk-job` and `saga bulk-stop` (the built CLI, as a child process) against a running engine:
 * the count first, nothing done without --yes, the exit codes a script branches on, table and JSON output.
 */
describe('the saga CLI: bulk actions (e2e)', () => {
  let engine: TestEngine;
  let cwd = '';

  function saga(args: string[], key: string = KEYS.operator): Promise<Result> {
    return new Promise((resolveRun) => {
      execFile(
        process.execPath,
        [BIN, ...args],
        { cwd, env: { PATH: process.env.PATH ?? '', SAGA_URL: engine.url, SAGA_API_KEY: key }, timeout: 90_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
          resolveRun({ code, stdout, stderr });
        },
      );
    });
  }

  const jobs = async () => (await engine.db.query<{ id: string }>(`SELECT id FROM saga_bulk_job`)).length;
  const FILTER = ['--type', 'cli-bulk', '--status', 'failed'];

  beforeAll(async () => {
    expect(existsSync(BIN)).toBe(true);
    engine = await startTestEngine({ sagas: [flaky], env: { SUPERVISOR_INTERVAL_MS: '200' } });
    cwd = mkdtempSync(join(tmpdir(), 'saga-bulk-cli-e2e-'));
    for (let i = 0; i < COUNT; i++) {
      await engine.as('operator').post('/v1/sagas').send({ type: 'cli-bulk', input: {} }).expect(201);
    }
    await waitFor(
      async () =>
        (
          await engine.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM saga_instance WHERE type = 'cli-bulk' AND status = 'FAILED'`,
          )
        )[0].n === COUNT,
      { timeoutMs: 60_000, what: `${COUNT} FAILED sagas` },
    );
  }, 90_000);
  afterAll(async () => {
    await engine?.close();
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('refuses bad usage with exit 2 before sending anything', async () => {
    const unknown = await saga(['bulk', 'restart', '--reason', 'x']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('<action> must be one of retry, cancel, resolve');
    const noStep = await saga(['bulk', 'resolve', ...FILTER, '--reason', 'x', '--yes']);
    expect(noStep.code).toBe(2);
    expect(noStep.stderr).toContain('bulk resolve needs --step');
    const noReason = await saga(['bulk', 'retry', ...FILTER]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason');
    const badStatus = await saga(['bulk', 'retry', '--status', 'broken', '--reason', 'x']);
    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toContain('--status must be one of');
    expect(await jobs()).toBe(0);
  });

  it('counts first: --dry-run exits 0 with the count; without --yes it shows the count, does nothing, exits 2', async () => {
    const dry = await saga(['bulk', 'retry', ...FILTER, '--reason', 'mailer fixed', '--dry-run']);
    expect(dry).toMatchObject({ code: 0, stdout: `${COUNT} sagas match: a bulk retry would act on them\n` });
    const json = await saga(['bulk', 'retry', ...FILTER, '--reason', 'mailer fixed', '--dry-run', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ dryRun: true, matched: COUNT });

    const unconfirmed = await saga(['bulk', 'retry', ...FILTER, '--reason', 'mailer fixed']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stdout).toContain(`${COUNT} sagas match`);
    expect(unconfirmed.stderr).toContain('nothing done: run again with --yes');
    expect(await jobs()).toBe(0);
  });

  it('exits 1 with the API code when refused: the role, the cap', async () => {
    const viewer = await saga(['bulk', 'retry', ...FILTER, '--reason', 'x', '--yes'], KEYS.viewer);
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toContain('FORBIDDEN');
    const capped = await saga(['bulk', 'retry', ...FILTER, '--reason', 'x', '--yes', '--cap', '10']);
    expect(capped.code).toBe(1);
    expect(capped.stderr).toContain('CAP_EXCEEDED');
    expect(capped.stderr).toContain(`cap: ${COUNT} sagas match, more than the cap of 10`);
    expect(await jobs()).toBe(0);
  });

  let jobId = '';

  it('retries them all with --yes --wait --json: the job as JSON, exit 0; every saga COMPLETED', async () => {
    down = false;
    const run = await saga([
      'bulk',
      'retry',
      ...FILTER,
      '--reason',
      'mailer fixed',
      '--yes',
      '--wait',
      '60s',
      '--json',
    ]);
    expect(run.code).toBe(0);
    const job = JSON.parse(run.stdout);
    // With --json, stderr says only which job (so that an interrupted wait can be followed with bulk-job).
    expect(run.stderr).toBe(`bulk job ${job.id}: retry of ${COUNT} sagas\n`);
    expect(job).toMatchObject({ action: 'retry', status: 'COMPLETED', matched: COUNT, done: COUNT, failed: 0 });
    jobId = job.id;
    const viaApi = await engine.as('viewer').get(`/v1/bulk-actions/${jobId}`).expect(200);
    expect(job).toEqual(viaApi.body);
    await waitFor(
      async () =>
        (
          await engine.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM saga_instance WHERE type = 'cli-bulk' AND status = 'COMPLETED'`,
          )
        )[0].n === COUNT,
      { timeoutMs: 30_000, what: 'every saga COMPLETED' },
    );

    const table = await saga(['bulk-job']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^JOB +ACTION +STATUS +MATCHED +DONE +SKIPPED +FAILED +CREATED\n/);
    expect(table.stdout).toMatch(new RegExp(`\\n${jobId} +retry +COMPLETED +${COUNT} +${COUNT} +0 +0 `));
    const followed = await saga(['bulk-job', jobId, '--wait', '10s']);
    expect(followed.code).toBe(0);
    expect(followed.stderr).toBe(`COMPLETED ${COUNT}/${COUNT} processed (${COUNT} done, 0 skipped, 0 failed)\n`);
    const one = await saga(['bulk-job', jobId]);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`progress  ${COUNT}/${COUNT} processed (${COUNT} done, 0 skipped, 0 failed)`);
    const stop = await saga(['bulk-stop', jobId, '--reason', 'too late']);
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain('INVALID_STATE');
  }, 120_000);

  it('exits 4 when sagas of the job failed, with the failures in the table', async () => {
    const run = await saga(
      ['bulk', 'resolve', '--type', 'cli-bulk', '--step', 'no-such-step', '--reason', 'x', '--yes', '--wait', '60s'],
      KEYS.admin,
    );
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(`${COUNT} sagas failed`);
    expect(run.stdout).toContain(`${COUNT}/${COUNT} processed (0 done, 0 skipped, ${COUNT} failed)`);
    expect(run.stdout).toMatch(/\nFAILED SAGA +STATUS +CODE +MESSAGE\n/);
    expect(run.stdout).toContain('404     STEP_NOT_FOUND');
  }, 120_000);
});
