import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpSagaTransport, createSagaApiError, type HttpSagaClientOptions } from '@saga-engine/client';
import { ExitCode, run, type CliIo } from './';
import { MemoryEngine } from './testing/memory-engine';

const KEY = 'cli-test-key-0123456789';

/** `saga` run in-process against a MemoryEngine: what it wrote, and how it connected. */
function cli(options: { env?: Record<string, string>; stdin?: string; isTTY?: boolean; signal?: AbortSignal } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const connects: HttpSagaClientOptions[] = [];
  const engine = new MemoryEngine();
  const io: CliIo = {
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
    env: options.env ?? { SAGA_API_KEY: KEY },
    cwd,
    isTTY: options.isTTY ?? false,
    readStdin: async () => options.stdin ?? '',
    signal: options.signal,
    connect: (o) => {
      connects.push(o);
      new HttpSagaTransport(o); // its checks of the URL and the key, without a request
      return engine;
    },
  };
  return {
    engine,
    connects,
    run: (...argv: string[]) => run(argv, io),
    stdout: () => out.join(''),
    stderr: () => err.join(''),
    json: () => JSON.parse(out.join('')),
  };
}

let cwd = '';
beforeEach(() => {
  cwd = mkdtempSync(join(tmpdir(), 'saga-cli-'));
});
afterEach(() => rmSync(cwd, { recursive: true, force: true }));

describe('saga: where the engine is, and the key', () => {
  it('takes SAGA_URL and SAGA_API_KEY from the environment, http://127.0.0.1:3000 by default', async () => {
    const byEnv = cli({ env: { SAGA_URL: 'https://sagas.internal/', SAGA_API_KEY: KEY } });
    const id = byEnv.engine.add();
    expect(await byEnv.run('get', id)).toBe(0);
    expect(byEnv.connects).toEqual([{ url: 'https://sagas.internal/', apiKey: KEY, timeoutMs: 10_000 }]);

    const byDefault = cli();
    await byDefault.run('types');
    expect(byDefault.connects[0].url).toBe('http://127.0.0.1:3000');
  });

  it('prefers the flags, before or after the command', async () => {
    const c = cli({ env: { SAGA_URL: 'http://env:3000', SAGA_API_KEY: 'env-key-0123456789' } });
    await c.run('--url', 'http://flag:3000', 'types', '--key', 'flag-key-0123456789', '--request-timeout', '2s');
    expect(c.connects).toEqual([{ url: 'http://flag:3000', apiKey: 'flag-key-0123456789', timeoutMs: 2_000 }]);
  });

  it('reads --key-file (relative to the working directory, first line, trimmed)', async () => {
    writeFileSync(join(cwd, 'ops.key'), '  file-key-0123456789  \nsecond line\n');
    const c = cli({ env: {} });
    expect(await c.run('types', '--key-file', 'ops.key')).toBe(0);
    expect(c.connects[0].apiKey).toBe('file-key-0123456789');
  });

  it('uses ./.saga-data/admin.key when no key is given, and says so only with --verbose, never the key', async () => {
    mkdirSync(join(cwd, '.saga-data'));
    writeFileSync(join(cwd, '.saga-data', 'admin.key'), 'sk_local-admin-key-0123456789\n');

    const quiet = cli({ env: {} });
    expect(await quiet.run('types')).toBe(0);
    expect(quiet.connects[0].apiKey).toBe('sk_local-admin-key-0123456789');
    expect(quiet.stderr()).toBe('');

    const verbose = cli({ env: {} });
    expect(await verbose.run('types', '--verbose')).toBe(0);
    expect(verbose.stderr()).toBe(
      'saga: engine http://127.0.0.1:3000 (from the default); API key from the local admin key .saga-data/admin.key\n',
    );

    const env = cli({ env: { SAGA_API_KEY: KEY } });
    await env.run('types', '-v');
    expect(env.connects[0].apiKey).toBe(KEY);
    expect(env.stderr()).toContain('API key from SAGA_API_KEY');
    expect(env.stderr()).not.toContain(KEY);
  });

  it('refuses a missing key, two keys, an unreadable key file, a bad URL or key: exit 2, nothing sent', async () => {
    const cases: [string[], Record<string, string>, string][] = [
      [['types'], {}, 'saga: no API key: pass --key-file <path> (or --key <key>), or set SAGA_API_KEY'],
      [['types', '--key', KEY, '--key-file', 'k'], {}, 'saga: --key and --key-file: pass one of them'],
      [['types', '--key-file', 'missing.key'], {}, 'saga: --key-file missing.key: cannot read the file (ENOENT)'],
      [
        ['types', '--url', 'sagas.internal'],
        { SAGA_API_KEY: KEY },
        'saga: --url: the url must be an absolute http(s) URL',
      ],
      [
        ['types'],
        { SAGA_URL: 'ftp://x', SAGA_API_KEY: KEY },
        'saga: SAGA_URL: the url must be an absolute http(s) URL',
      ],
      [['types', '--key', 'secret key with spaces'], {}, 'saga: the API key from --key must be printable ASCII'],
      [['types', '--request-timeout', '10'], { SAGA_API_KEY: KEY }, 'saga: --request-timeout needs a unit'],
    ];
    for (const [argv, env, message] of cases) {
      const c = cli({ env });
      expect(await c.run(...argv)).toBe(ExitCode.USAGE);
      expect(c.stderr()).toContain(message);
      expect(c.stderr()).not.toContain('secret key');
      expect(c.engine.calls).toEqual([]);
    }
  });
});

describe('saga: the command line', () => {
  it('shows the help and the version on stdout (exit 0); no command shows the help on stderr (exit 2)', async () => {
    const help = cli();
    expect(await help.run('--help')).toBe(0);
    expect(help.stdout()).toContain('Usage: saga [options] [command]');
    expect(help.stdout()).toContain('Exit codes: 0 ok; 1 the API refused');

    const commandHelp = cli();
    expect(await commandHelp.run('list', '--help')).toBe(0);
    expect(commandHelp.stdout()).toContain('--status <status...>');
    expect(commandHelp.stdout()).toContain('Examples:\n  saga list --status FAILED');

    const version = cli();
    expect(await version.run('--version')).toBe(0);
    expect(version.stdout()).toBe('0.1.0\n');

    const none = cli();
    expect(await none.run()).toBe(ExitCode.USAGE);
    expect(none.stderr()).toContain('Usage: saga');
    expect(none.stdout()).toBe('');
  });

  it('is a usage error (exit 2) for an unknown command or flag, a missing argument or --reason', async () => {
    const cases: [string[], string][] = [
      [['stop', 'x'], "error: unknown command 'stop'"],
      [['get', 'x', '--nope'], "error: unknown option '--nope'"],
      [['get'], "error: missing required argument 'id'"],
      [['cancel', 'x'], "error: required option '--reason <text>' not specified"],
      [['get', 'a', 'b'], "error: too many arguments for 'get'"],
    ];
    for (const [argv, message] of cases) {
      const c = cli();
      expect(await c.run(...argv)).toBe(ExitCode.USAGE);
      expect(c.stderr()).toContain(message);
      expect(c.engine.calls).toEqual([]);
    }
  });

  it('refuses bad flag values before sending anything, naming the flag and not the value', async () => {
    const cases: [string[], string][] = [
      [
        ['start', 'order', '--input', '{"phone": "+49 170'],
        'saga: --input must be a JSON object: it is not valid JSON',
      ],
      [['start', 'order', '--input', '[1,2]'], 'saga: --input must be a JSON object (got an array)'],
      [['start', 'order', '--input', '{}', '--input-file', 'x.json'], 'saga: --input and --input-file: pass one'],
      [['start', 'order', '--input-file', 'nope.json'], 'saga: --input-file: cannot read nope.json (ENOENT)'],
      [['start', 'order', '--wait', '30'], 'saga: --wait needs a unit: a duration such as 30s, 5m or 500ms'],
      [['start', 'order', '--wait', 'soon'], 'saga: --wait must be a duration such as 30s, 5m or 500ms'],
      [['start', 'order', '--start-at', 'tomorrow'], 'saga: --start-at must be an ISO-8601 date or date-time'],
      [['start', 'order', '--start-in', 'later'], 'saga: --start-in must be a duration such as 30s, 5m or 500ms'],
      [['start', 'order', '--start-in', '1h', '--start-at', '2027-01-01'], 'saga: --start-at and --start-in: pass one'],
      [['signal', 'x', 'go', '--payload', 'null'], 'saga: --payload must be a JSON object (got null)'],
      [['list', '--status', 'failed,done'], 'saga: --status must be one of RUNNING, COMPENSATING, COMPLETED'],
      [['list', '--limit', '0'], 'saga: --limit must be an integer between 1 and 200'],
      [['list', '--limit', '201'], 'saga: --limit must be an integer between 1 and 200'],
      [['list', '--created-after', 'yesterday'], 'saga: --created-after must be an ISO-8601 date or date-time'],
      [['list', '--created-before', '2026-13-45'], 'saga: --created-before must be an ISO-8601 date or date-time'],
      [['events', 'x', '--after-seq', '-1'], 'saga: --after-seq must be an integer between 0 and'],
      [['events', 'x', '--follow', '--interval', '0s'], 'saga: --interval must be at least 10 ms'],
    ];
    for (const [argv, message] of cases) {
      const c = cli();
      expect(await c.run(...argv)).toBe(ExitCode.USAGE);
      expect(c.stderr()).toContain(message);
      expect(c.stderr()).toContain(`(run saga ${argv[0]} --help for usage)`);
      expect(c.stderr()).not.toContain('+49');
      expect(c.engine.calls).toEqual([]);
    }
  });
});

describe('saga start', () => {
  it('starts with --input and prints the saga; --json prints it as the API does, with created', async () => {
    const c = cli();
    expect(await c.run('start', 'order', '--input', '{"orderId":"o-1"}', '--idempotency-key', 'order-o-1')).toBe(0);
    expect(c.engine.calls).toEqual(['start order {"orderId":"o-1"} order-o-1']);
    expect(c.stdout()).toMatch(/^[0-9a-f-]{36} {2}order v1 {2}RUNNING\ncreated {2}2026-12-01T08:00:01\.000Z\n/);
    expect(c.stdout()).toContain('input    {"orderId":"o-1"}\n');

    const again = cli();
    again.engine.add(); // another saga first
    expect(await again.run('start', 'order', '--json')).toBe(0);
    expect(again.json()).toMatchObject({ type: 'order', status: 'RUNNING', input: {}, created: true, steps: [] });
  });

  it('says when an idempotency key gave back an earlier saga', async () => {
    const c = cli();
    await c.run('start', 'order', '--idempotency-key', 'k-1');
    expect(c.stdout()).not.toContain('started  earlier');
    expect(await c.run('start', 'order', '--idempotency-key', 'k-1')).toBe(0);
    expect(c.stdout()).toContain('started  earlier, with this idempotency key\n');
  });

  it('reads the input from a file or from stdin (-)', async () => {
    writeFileSync(join(cwd, 'order.json'), '{"orderId":"o-2"}');
    const file = cli();
    expect(await file.run('start', 'order', '--input-file', 'order.json')).toBe(0);
    expect(file.engine.calls).toEqual(['start order {"orderId":"o-2"} null']);

    for (const argv of [
      ['--input', '-'],
      ['--input-file', '-'],
    ]) {
      const stdin = cli({ stdin: '{"orderId":"o-3"}\n' });
      expect(await stdin.run('start', 'order', ...argv)).toBe(0);
      expect(stdin.engine.calls).toEqual(['start order {"orderId":"o-3"} null']);
    }
  });

  it('--start-at and --start-in ask the engine to start it later', async () => {
    const at = cli();
    expect(await at.run('start', 'order', '--start-at', '2027-01-01T08:00:00+01:00')).toBe(0);
    expect(at.engine.calls).toEqual(['start order {} null {"startAt":"2027-01-01T07:00:00.000Z"}']);
    const inTwoHours = cli();
    expect(await inTwoHours.run('start', 'order', '--start-in', '2h', '--idempotency-key', 'k-2')).toBe(0);
    expect(inTwoHours.engine.calls).toEqual(['start order {} k-2 {"startIn":7200000}']);
  });

  it('--wait: exit 0 once COMPLETED, printing the saga as it ended', async () => {
    const c = cli();
    c.engine.nextStartScript = ['RUNNING', 'COMPLETED'];
    expect(await c.run('start', 'order', '--wait', '5s', '--json')).toBe(ExitCode.OK);
    expect(c.json()).toMatchObject({ status: 'COMPLETED', output: { done: true }, created: true });
    expect(c.engine.calls.filter((call) => call.startsWith('get '))).toHaveLength(2);
    expect(c.stderr()).toBe('');
  });

  it('--wait: exit 4 when it ends otherwise, or is still running when the wait runs out', async () => {
    const compensated = cli();
    compensated.engine.nextStartScript = ['COMPENSATED'];
    expect(await compensated.run('start', 'order', '--wait')).toBe(ExitCode.NOT_COMPLETED);
    expect(compensated.stdout()).toMatch(/ order v1 {2}COMPENSATED\n/);
    expect(compensated.stderr()).toMatch(/^saga [0-9a-f-]{36} ended COMPENSATED, not COMPLETED\n$/);

    const failed = cli();
    failed.engine.nextStartScript = ['FAILED'];
    expect(await failed.run('start', 'order', '--wait', '5s')).toBe(ExitCode.NOT_COMPLETED);

    const slow = cli();
    expect(await slow.run('start', 'order', '--wait', '200ms', '--json')).toBe(ExitCode.NOT_COMPLETED);
    expect(slow.json()).toMatchObject({ status: 'RUNNING', created: true });
    expect(slow.stderr()).toMatch(/^saga [0-9a-f-]{36} is still RUNNING after 200ms: it goes on\n$/);
  });

  it('--wait: exit 3 when the engine stops answering meanwhile', async () => {
    const c = cli();
    const start = c.engine.start.bind(c.engine);
    c.engine.start = async (...args) => {
      const started = await start(...args);
      for (let i = 0; i < 20; i++) c.engine.failNext.push(createSagaApiError(0, 'UNAVAILABLE', 'no answer'));
      return started;
    };
    expect(await c.run('start', 'order', '--wait', '300ms')).toBe(ExitCode.UNAVAILABLE);
    expect(c.stderr()).toBe(
      'saga: UNAVAILABLE: no answer\nIs the engine running there? Set the URL with --url or SAGA_URL.\n',
    );
  });
});

describe('saga: what the engine answers, as exit codes', () => {
  it('exit 1 for a 4xx, with its code and message', async () => {
    const missing = cli();
    expect(await missing.run('get', '00000000-0000-4000-8000-000000000000')).toBe(ExitCode.REFUSED);
    expect(missing.stderr()).toBe('saga: SAGA_NOT_FOUND (404): saga 00000000-0000-4000-8000-000000000000 not found\n');
    expect(missing.stdout()).toBe('');

    const conflict = cli();
    const done = conflict.engine.add({ status: 'COMPLETED' });
    expect(await conflict.run('cancel', done, '--reason', 'too late')).toBe(ExitCode.REFUSED);
    expect(conflict.stderr()).toBe('saga: INVALID_STATE (409): saga is COMPLETED\n');

    const unknown = cli();
    expect(await unknown.run('start', 'no-such-type')).toBe(ExitCode.REFUSED);
    expect(unknown.stderr()).toContain('SAGA_TYPE_UNKNOWN (400)');
  });

  it('exit 1 with a hint for a wrong key or a role too low', async () => {
    const auth = cli();
    auth.engine.failNext.push(createSagaApiError(401, 'AUTH_REQUIRED', 'unknown API key'));
    expect(await auth.run('types')).toBe(ExitCode.REFUSED);
    expect(auth.stderr()).toBe(
      'saga: AUTH_REQUIRED (401): unknown API key\n' +
        'Check the API key (--key-file, --key or SAGA_API_KEY; -v says which one is used).\n',
    );

    const forbidden = cli();
    forbidden.engine.failNext.push(createSagaApiError(403, 'FORBIDDEN', 'this action needs the admin role'));
    expect(await forbidden.run('resolve', forbidden.engine.add(), 'charge-card', '--reason', 'x')).toBe(1);
    expect(forbidden.stderr()).toContain("The key's role is too low");
  });

  it('exit 3 when the engine does not answer, answers 5xx, or answers not as the API does', async () => {
    const errors = [
      createSagaApiError(0, 'UNAVAILABLE', 'GET /v1/saga-types: no answer (connect ECONNREFUSED) from http://x'),
      createSagaApiError(500, 'INTERNAL', 'internal error'),
      createSagaApiError(503, 'UNEXPECTED_RESPONSE', "answered 503 without the API's error body"),
      createSagaApiError(301, 'UNEXPECTED_RESPONSE', 'answered 301, a redirect'),
    ];
    for (const error of errors) {
      const c = cli();
      c.engine.failNext.push(error);
      expect(await c.run('types')).toBe(ExitCode.UNAVAILABLE);
      expect(c.stderr()).toContain(`saga: ${error.code}`);
    }
  });
});

describe('saga get, and the operator actions', () => {
  it('prints the saga with its steps, or the API view with --json', async () => {
    const c = cli();
    const id = c.engine.add({ status: 'FAILED', input: { orderId: 'o-1' } });
    Object.assign(c.engine.saga(id), {
      error: { step: 'charge-card', code: 'CARD_DECLINED', message: 'declined', transient: false },
      steps: [
        {
          name: 'reserve-stock',
          status: 'COMPENSATED',
          attempts: 1,
          startedAt: null,
          finishedAt: null,
          output: null,
          error: null,
          compensation: { status: 'SUCCEEDED', attempts: 2, startedAt: null, finishedAt: null, error: null },
        },
        {
          name: 'charge-card',
          status: 'FAILED',
          attempts: 3,
          startedAt: null,
          finishedAt: null,
          output: null,
          error: { name: 'NonRetryableError', code: 'CARD_DECLINED', message: 'declined', retryable: false },
          compensation: null,
        },
      ],
    });

    expect(await c.run('get', id)).toBe(0);
    expect(c.stdout()).toBe(
      [
        `${id}  order v1  FAILED`,
        'created  2026-12-01T08:00:01.000Z',
        'updated  2026-12-01T08:00:01.000Z',
        'error    charge-card CARD_DECLINED: declined (definite)',
        'input    {"orderId":"o-1"}',
        '',
        'STEP           STATUS       ATTEMPTS  UNDO           ERROR',
        'reserve-stock  COMPENSATED  1         SUCCEEDED (2)',
        'charge-card    FAILED       3                        CARD_DECLINED: declined',
        '',
      ].join('\n'),
    );

    const json = cli();
    const other = json.engine.add();
    expect(await json.run('get', other, '--json')).toBe(0);
    expect(json.json()).toEqual(json.engine.saga(other));
  });

  it('colours statuses at a terminal, unless NO_COLOR', async () => {
    const tty = cli({ isTTY: true });
    await tty.run('get', tty.engine.add({ status: 'FAILED' }));
    expect(tty.stdout()).toContain('\x1b[31mFAILED\x1b[0m');

    const noColour = cli({ isTTY: true, env: { SAGA_API_KEY: KEY, NO_COLOR: '1' } });
    await noColour.run('get', noColour.engine.add({ status: 'FAILED' }));
    expect(noColour.stdout()).not.toContain('\x1b[');
  });

  it('cancels, retries and resolves with the reason, printing the saga as the engine answers', async () => {
    const c = cli();
    const running = c.engine.add();
    const failed = c.engine.add({ status: 'FAILED' });

    expect(await c.run('cancel', running, '--reason', 'customer asked', '--json')).toBe(0);
    expect(c.json()).toMatchObject({ id: running, status: 'COMPENSATING' });
    expect(await c.run('retry', failed, '--reason', 'ledger is back')).toBe(0);
    expect(await c.run('resolve', failed, 'charge-card', '--reason', 'refunded by hand')).toBe(0);
    expect(c.engine.calls).toEqual([
      `cancel ${running} customer asked`,
      `retry ${failed} ledger is back`,
      `resolve ${failed} charge-card refunded by hand`,
    ]);

    const missingStep = cli();
    expect(await missingStep.run('resolve', missingStep.engine.add(), 'nope', '--reason', 'x')).toBe(1);
    expect(missingStep.stderr()).toContain('saga: STEP_NOT_FOUND (404)');
  });

  it('retries from a step (--from-step) and skips a step with any JSON --output, or exits 2 naming the flag', async () => {
    const c = cli();
    const completed = c.engine.add({ status: 'COMPLETED' });
    const failed = c.engine.add({ status: 'FAILED' });
    expect(await c.run('retry', completed, '--from-step', 'ship', '--reason', 'mail bounced', '--json')).toBe(0);
    expect(c.json()).toMatchObject({ id: completed, status: 'RUNNING' });
    expect(await c.run('skip', failed, 'charge-card', '--output', '[1,"two"]', '--reason', 'by hand')).toBe(0);
    expect(await c.run('skip', failed, 'charge-card', '--output', 'null', '--reason', 'by hand')).toBe(0);
    expect(c.engine.calls).toEqual([
      `retryFrom ${completed} ship mail bounced`,
      `skip ${failed} charge-card [1,"two"] by hand`,
      `skip ${failed} charge-card null by hand`,
    ]);

    const bad = cli();
    const id = bad.engine.add({ status: 'FAILED' });
    expect(await bad.run('skip', id, 'charge-card', '--reason', 'x')).toBe(2);
    expect(bad.stderr()).toContain('--output is required');
    expect(await bad.run('skip', id, 'charge-card', '--output', '{"a":', '--reason', 'x')).toBe(2);
    expect(bad.stderr()).toContain('--output must be a JSON value: it is not valid JSON');
    expect(await bad.run('skip', id, 'charge-card', '--output', '1', '--output-file', 'o.json', '--reason', 'x')).toBe(
      2,
    );
    expect(await bad.run('retry', id, '--from-step', 'ship')).toBe(2);
    expect(bad.engine.calls).toEqual([]);
    expect(await bad.run('skip', id, 'nope', '--output', '{}', '--reason', 'x')).toBe(1);
    expect(bad.stderr()).toContain('saga: STEP_NOT_FOUND (404)');
  });

  it('signals with a payload, then prints the saga; a signal nothing waits for is exit 1', async () => {
    const c = cli();
    const id = c.engine.add({ waitingFor: 'approved' });
    expect(await c.run('signal', id, 'approved', '--payload', '{"by":"ops"}')).toBe(0);
    expect(c.engine.calls).toEqual([`signal ${id} approved {"by":"ops"}`, `get ${id}`]);
    expect(c.stdout()).toContain('signal   approved delivered\n');

    expect(await c.run('signal', id, 'approved')).toBe(ExitCode.REFUSED);
    expect(c.engine.calls[2]).toBe(`signal ${id} approved -`);
    expect(c.stderr()).toBe('saga: NOT_WAITING (409): no step waits for signal "approved"\n');
  });
});

describe('saga list', () => {
  it('sends the filters, normalized, and prints a table', async () => {
    const c = cli();
    const failed = c.engine.add({ status: 'FAILED' });
    c.engine.add({ status: 'COMPLETED' });

    const argv = [
      '--type',
      'order',
      '--status',
      'failed,running',
      '--status',
      'FAILED',
      '--created-after',
      '2026-12-01',
    ];
    expect(await c.run('list', ...argv, '--created-before', '2026-12-02T10:00:00+02:00', '--limit', '10')).toBe(0);
    expect(JSON.parse(c.engine.calls[0].slice('list '.length))).toEqual({
      type: 'order',
      status: ['FAILED', 'RUNNING'],
      createdAfter: '2026-12-01T00:00:00.000Z',
      createdBefore: '2026-12-02T08:00:00.000Z',
      limit: 10,
    });
    expect(c.stdout()).toBe(
      [
        'ID                                    TYPE      STATUS  CREATED                   ENDED  ERROR',
        `${failed}  order v1  FAILED  2026-12-01T08:00:01.000Z`,
        '',
      ].join('\n'),
    );
  });

  it('sends --business-key and --attr conditions as the API filters them', async () => {
    const c = cli();
    const argv = ['--type', 'order', '--business-key', 'ORD-42', '--attr', 'tier=gold', '--attr', 'amount>=100'];
    expect(await c.run('list', ...argv, '--attr', 'amount<500', '--attr', 'placedAt>2026-12-01')).toBe(0);
    expect(JSON.parse(c.engine.calls[0].slice('list '.length))).toEqual({
      type: 'order',
      businessKey: 'ORD-42',
      attributes: [
        ['attr.tier', 'gold'],
        ['attr.amount.gte', '100'],
        ['attr.amount.lt', '500'],
        ['attr.placedAt.gt', '2026-12-01'],
      ],
    });
    for (const [args, message] of [
      [['--attr', 'tier=gold'], 'saga: --attr needs --type: search attributes are declared per saga type'],
      [['--type', 'order', '--attr', 'tier'], 'saga: --attr must be name=value, or name>value'],
      [['--type', 'order', '--attr', 'tier='], 'saga: --attr must be name=value'],
      [['--type', 'order', '--attr', 'n=1', '--attr', 'n>2'], 'saga: --attr n: give one equality, or bounds, not both'],
    ] as const) {
      const bad = cli();
      expect(await bad.run('list', ...args)).toBe(ExitCode.USAGE);
      expect(bad.stderr()).toContain(message);
    }
  });

  it('prints the next cursor on stderr, takes --cursor, and --all follows every page', async () => {
    const c = cli();
    const ids = [1, 2, 3, 4, 5].map(() => c.engine.add());

    expect(await c.run('list', '--limit', '2')).toBe(0);
    expect(c.stderr()).toBe(`more: add --cursor ${ids[3]} (or --all)\n`);
    expect(await c.run('list', '--limit', '2', '--cursor', ids[3], '--json')).toBe(0);

    const all = cli();
    const allIds = [1, 2, 3, 4, 5].map(() => all.engine.add());
    expect(await all.run('list', '--limit', '2', '--all', '--json')).toBe(0);
    expect(all.json()).toEqual({ items: expect.any(Array), nextCursor: null });
    expect(all.json().items.map((s: { id: string }) => s.id)).toEqual([...allIds].reverse());
    expect(all.engine.calls).toHaveLength(3);
    expect(all.stderr()).toBe('');
  });

  it('says so when nothing matches; --json gives the empty page', async () => {
    const c = cli();
    expect(await c.run('list')).toBe(0);
    expect(c.stdout()).toBe('no sagas match\n');
    const json = cli();
    await json.run('list', '--json');
    expect(json.json()).toEqual({ items: [], nextCursor: null });
  });
});

describe('saga events', () => {
  it('prints the history in fixed columns, or {items} with --json', async () => {
    const c = cli();
    const id = c.engine.add();
    c.engine.event(id, 'StepSucceeded', 'reserve-stock', { output: { ok: true } });

    expect(await c.run('events', id)).toBe(0);
    expect(c.stdout()).toBe(
      [
        ' SEQ  AT                        TYPE                    STEP                    DATA',
        '   1  2026-12-01T08:00:01.000Z  SagaStarted',
        '   2  2026-12-01T08:00:02.000Z  StepSucceeded           reserve-stock #1        {"output":{"ok":true}}',
        '',
      ].join('\n'),
    );

    const json = cli();
    const other = json.engine.add();
    expect(await json.run('events', other, '--after-seq', '0', '--json')).toBe(0);
    expect(json.json()).toEqual({ items: [expect.objectContaining({ seq: 1, type: 'SagaStarted' })] });
  });

  it('--follow prints new events as they come, and ends with the saga', async () => {
    const c = cli();
    const id = c.engine.add();
    c.engine.script(id, ['RUNNING', 'RUNNING', 'COMPENSATING', 'COMPENSATED']);

    expect(await c.run('events', id, '--follow', '--interval', '10ms', '--json')).toBe(0);

    const lines = c
      .stdout()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((e: { seq: number; type: string }) => `${e.seq} ${e.type}`)).toEqual([
      '1 SagaStarted',
      '2 CompensationStarted',
      '3 SagaCompensated',
    ]);
    // Each poll asks only for what came after the last event printed.
    expect(c.engine.calls.filter((call) => call.startsWith('events'))).toEqual([
      `events ${id} 0`,
      `events ${id} 1`,
      `events ${id} 1`,
      `events ${id} 2`,
    ]);
    expect(c.stderr()).toBe('');

    const text = cli();
    const done = text.engine.add({ status: 'COMPLETED' });
    expect(await text.run('events', done, '--follow')).toBe(0);
    expect(text.stdout()).toMatch(/^ SEQ {2}AT/);
    expect(text.stderr()).toBe(`saga ${done} is COMPLETED\n`);
  });

  it('--follow stops at Ctrl-C with exit 130', async () => {
    const interrupt = new AbortController();
    const c = cli({ signal: interrupt.signal });
    const id = c.engine.add();
    const following = c.run('events', id, '--follow', '--interval', '10ms');
    setTimeout(() => interrupt.abort(), 100);

    expect(await following).toBe(ExitCode.INTERRUPTED);
    expect(c.stderr()).toBe('saga: interrupted (the saga goes on)\n');
  });

  it('is exit 1 for a saga that does not exist', async () => {
    const c = cli();
    expect(await c.run('events', '00000000-0000-4000-8000-000000000000', '--follow')).toBe(ExitCode.REFUSED);
    expect(c.stderr()).toContain('SAGA_NOT_FOUND (404)');
  });
});

describe('saga types and agents', () => {
  it('prints tables, or the API JSON', async () => {
    const c = cli();
    c.engine.sagaTypesList = [
      {
        name: 'order',
        version: 2,
        versions: [1, 2],
        description: 'Places an order',
        input: null,
        inputSchema: null,
        sensitive: [],
        stages: [],
        steps: [],
        agents: 1,
      },
    ];
    c.engine.agentsList = [
      {
        id: 'order-1:42:ab',
        host: 'order-1',
        pid: 42,
        sagaTypes: ['order@1', 'order@2'],
        startedAt: '2026-12-01T08:00:00.000Z',
        seenAt: '2026-12-01T08:00:05.000Z',
      },
    ];

    expect(await c.run('types')).toBe(0);
    expect(await c.run('agents')).toBe(0);
    expect(c.stdout()).toBe(
      [
        'NAME   VERSION  VERSIONS  AGENTS  STEPS  DESCRIPTION',
        'order  2        1,2       1       0      Places an order',
        'ID             HOST     PID  SAGA TYPES       STARTED                   SEEN',
        'order-1:42:ab  order-1  42   order@1,order@2  2026-12-01T08:00:00.000Z  2026-12-01T08:00:05.000Z',
        '',
      ].join('\n'),
    );

    const json = cli();
    json.engine.agentsList = c.engine.agentsList;
    await json.run('agents', '--json');
    expect(json.json()).toEqual({ items: c.engine.agentsList });
  });
});
