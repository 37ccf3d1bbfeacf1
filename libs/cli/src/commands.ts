import type {
  BulkActionName,
  BulkJobView,
  SagaClient,
  SagaEventView,
  SagaSummaryView,
  SagaView,
} from '@saga-engine/client';
import { SETTLED_STATUSES } from '@saga-engine/client';
import type { CommandContext, CommandSpec } from './command';
import { ExitCode } from './exit-codes';
import { InterruptedError, UsageError, isApiError } from './errors';
import {
  EVENT_HEADER,
  agentsText,
  bulkJobText,
  bulkJobsText,
  bulkProgress,
  eventLine,
  sagaListText,
  sagaText,
  sagaTypesText,
} from './format';
import { attributeConditions, duration, instant, integer, jsonObjectFrom, jsonValueFrom, statuses } from './parse';

/** `start --wait` without a value waits this long. */
export const DEFAULT_WAIT = '5m';
/** `events --follow` polls this often by default. */
export const DEFAULT_FOLLOW_INTERVAL = '1s';

const REASON = {
  flags: '--reason <text>',
  description: 'why (1 to 500 characters): kept in the audit log and the history',
  required: true,
};

const start: CommandSpec = {
  usage: 'start <type>',
  summary: 'start a saga (POST /v1/sagas); --wait for it to end',
  description:
    'Starts a saga of <type> with the JSON object of --input, --input-file or stdin (-), {} without one, and prints ' +
    'it. With --wait it waits for the saga to end and exits 0 only if it COMPLETED (4 otherwise).',
  options: [
    { flags: '--input <json>', description: 'the input, a JSON object ("-": read it from stdin)' },
    { flags: '--input-file <path>', description: 'read the input from a file ("-": stdin)' },
    {
      flags: '--idempotency-key <key>',
      description: 'start at most once per key: a repeat with the same input gives back the same saga',
    },
    { flags: '--start-at <iso>', description: 'start it at this date-time (ISO-8601): DELAYED until then' },
    { flags: '--start-in <duration>', description: 'start it after this long (30s, 2h, 1d): DELAYED until then' },
    { flags: '--wait [timeout]', description: `wait for it to end, at most this long (default ${DEFAULT_WAIT})` },
  ],
  examples: [
    `saga start drone-delivery --input '{"accountId":"acc-42","weightKg":2.5}' --wait 2m`,
    `saga start order --input-file order.json --start-in 2h`,
    'saga start order --input-file order.json --idempotency-key order-1234',
    'cat order.json | saga start order --input - --json',
  ],
  async run(ctx, [type], o) {
    const input = await jsonObjectFrom(ctx.io, '--input', str(o.input), str(o.inputFile), {});
    const wait = o.wait === true ? DEFAULT_WAIT : str(o.wait);
    const waitMs = wait === undefined ? null : duration(wait, '--wait', { min: 1 });
    const key = str(o.idempotencyKey);
    const [startAt, startIn] = [str(o.startAt), str(o.startIn)];
    if (startAt !== undefined && startIn !== undefined) throw new UsageError('--start-at and --start-in: pass one');
    const started = await ctx.client().start(type, input ?? {}, {
      ...(key === undefined ? {} : { key }),
      ...(startAt === undefined ? {} : { startAt: instant(startAt, '--start-at') }),
      ...(startIn === undefined ? {} : { startIn: duration(startIn, '--start-in', { min: 1 }) }),
    });
    const { created } = started;
    const replayed: [string, string][] = created ? [] : [['started', 'earlier, with this idempotency key']];
    if (waitMs === null) {
      ctx.print(started, () => sagaText(started, ctx.style, replayed));
      return ExitCode.OK;
    }
    const ended = await waitForEnd(ctx, started, waitMs);
    const view = ended.view ?? started;
    ctx.print({ ...view, created }, () => sagaText(view, ctx.style, replayed));
    if (ended.timedOut) {
      ctx.note(`saga ${started.id} is still ${view.status} after ${wait}: it goes on`);
      return ExitCode.NOT_COMPLETED;
    }
    if (view.status !== 'COMPLETED') {
      ctx.note(`saga ${started.id} ended ${view.status}, not COMPLETED`);
      return ExitCode.NOT_COMPLETED;
    }
    return ExitCode.OK;
  },
};

/** Waits until the saga is COMPLETED, COMPENSATED, CANCELLED or FAILED (FAILED waits for an operator). */
async function waitForEnd(
  ctx: CommandContext,
  saga: SagaView,
  timeoutMs: number,
): Promise<{ view: SagaView | null; timedOut: boolean }> {
  try {
    return { view: await ctx.interruptible(ctx.client().waitFor(saga, { timeout: timeoutMs })), timedOut: false };
  } catch (err) {
    const e = err as { name?: unknown; view?: SagaView | null; cause?: unknown };
    if (e.name !== 'SagaWaitTimeoutError') throw err;
    // The engine stopped answering during the wait: that is its error (exit 3), not "still running".
    if (e.cause !== undefined) throw e.cause as Error;
    return { view: e.view ?? null, timedOut: true };
  }
}

const get: CommandSpec = {
  usage: 'get <id>',
  summary: 'a saga with its steps (GET /v1/sagas/{id})',
  examples: ['saga get 01933b6e-8f4a-7c2e-9d1b-5a6c7d8e9f01', 'saga get <id> --json | jq .steps'],
  async run(ctx, [id]) {
    const saga = await ctx.client().get(id);
    ctx.print(saga, () => sagaText(saga, ctx.style));
    return ExitCode.OK;
  },
};

const list: CommandSpec = {
  usage: 'list',
  summary: 'sagas, newest first, by type, status, creation time, business key and attributes (GET /v1/sagas)',
  description:
    'Prints one page (--limit, default 50) and, when there are more, the --cursor of the next one on stderr; --all ' +
    'follows every page. With --json: {"items": [...], "nextCursor": ...} (nextCursor null after --all). ' +
    '--attr needs --type (attributes are declared per type: saga types --json lists them); every condition must hold.',
  options: [
    { flags: '--type <type>', description: 'only this saga type' },
    { flags: '--business-key <key>', description: "only the sagas with this business key (every type's)" },
    {
      flags: '--attr <condition...>',
      description: 'a search attribute: name=value, or name>value, name>=value, name<value, name<=value (repeat)',
    },
    { flags: '--status <status...>', description: 'only these statuses (repeat, or comma-separated)' },
    { flags: '--created-after <iso>', description: 'created after this date or date-time (ISO-8601)' },
    { flags: '--created-before <iso>', description: 'created before this date or date-time' },
    { flags: '--limit <n>', description: 'sagas per page, 1 to 200 (default 50)' },
    { flags: '--cursor <cursor>', description: 'the page after the one that printed this cursor' },
    { flags: '--all', description: 'every page, not only the first' },
  ],
  examples: [
    'saga list --status FAILED --type drone-delivery',
    'saga list --status failed,compensating --created-after 2026-12-01 --all --json | jq -r ".items[].id"',
    'saga list --business-key ORD-2026-0042',
    "saga list --type order --attr tier=gold --attr 'amount>=100' --attr 'placedAt<2026-12-01'",
  ],
  async run(ctx, _args, o) {
    const [type, after, before, limit] = [str(o.type), str(o.createdAfter), str(o.createdBefore), str(o.limit)];
    const businessKey = str(o.businessKey);
    const attributes = o.attr === undefined ? undefined : attributeConditions(o.attr as string[], '--attr');
    if (attributes !== undefined && type === undefined) {
      throw new UsageError('--attr needs --type: search attributes are declared per saga type');
    }
    const filter = {
      ...(type === undefined ? {} : { type }),
      ...(businessKey === undefined ? {} : { businessKey }),
      ...(attributes === undefined ? {} : { attributes }),
      ...(o.status === undefined ? {} : { status: statuses(o.status as string[], '--status') }),
      ...(after === undefined ? {} : { createdAfter: instant(after, '--created-after') }),
      ...(before === undefined ? {} : { createdBefore: instant(before, '--created-before') }),
      ...(limit === undefined ? {} : { limit: integer(limit, '--limit', 1, 200) }),
    };
    const cursor = str(o.cursor);
    if (o.all === true) {
      if (cursor !== undefined) ctx.note('saga: --all starts from the first page: --cursor is ignored');
      const items: SagaSummaryView[] = [];
      for await (const saga of ctx.client().listAll(filter)) items.push(saga);
      ctx.print({ items, nextCursor: null }, () => sagaListText(items, ctx.style));
      return ExitCode.OK;
    }
    const page = await ctx.client().list({ ...filter, ...(cursor === undefined ? {} : { cursor }) });
    ctx.print(page, () => sagaListText(page.items, ctx.style));
    if (page.nextCursor !== null && !ctx.json) ctx.note(`more: add --cursor ${page.nextCursor} (or --all)`);
    return ExitCode.OK;
  },
};

const events: CommandSpec = {
  usage: 'events <id>',
  summary: "a saga's history (GET /v1/sagas/{id}/events); --follow prints new events until it ends",
  description:
    'Prints the history in order. --follow keeps polling for new events (every --interval) until the saga is ' +
    'COMPLETED, COMPENSATED, CANCELLED or FAILED, or Ctrl-C. With --json: {"items": [...]}; with --follow --json, ' +
    'one JSON event per line as they come.',
  options: [
    { flags: '--follow', description: 'keep printing new events until the saga ends' },
    { flags: '--after-seq <n>', description: 'only the events after this sequence number' },
    { flags: '--interval <duration>', description: `how often --follow polls (default ${DEFAULT_FOLLOW_INTERVAL})` },
  ],
  examples: ['saga events <id>', 'saga events <id> --follow', 'saga events <id> --follow --json | jq -c .type'],
  async run(ctx, [id], o) {
    const after = str(o.afterSeq);
    const afterSeq = after === undefined ? 0 : integer(after, '--after-seq', 0, Number.MAX_SAFE_INTEGER);
    const intervalMs = duration(str(o.interval) ?? DEFAULT_FOLLOW_INTERVAL, '--interval', { min: 10 });
    const client = ctx.client();
    if (o.follow !== true) {
      const items = await allEvents(client, id, afterSeq);
      ctx.print({ items }, () =>
        items.length === 0 ? 'no events' : [EVENT_HEADER, ...items.map((e) => eventLine(e, ctx.style))].join('\n'),
      );
      return ExitCode.OK;
    }
    if (!ctx.json) ctx.io.stdout(`${EVENT_HEADER}\n`);
    let seq = afterSeq;
    for (;;) {
      // The status first, then the events: an ending and its last events are committed together, so the events
      // read after a settled status are all there will be (until an operator acts on a FAILED saga).
      const saga = await ctx.interruptible(client.get(id));
      for (const event of await ctx.interruptible(allEvents(client, id, seq))) {
        ctx.io.stdout(`${ctx.json ? JSON.stringify(event) : eventLine(event, ctx.style)}\n`);
        seq = event.seq;
      }
      if (SETTLED_STATUSES.includes(saga.status)) {
        if (!ctx.json) ctx.note(`saga ${id} is ${saga.status}`);
        return ExitCode.OK;
      }
      await ctx.sleep(intervalMs);
    }
  },
};

/** Every event after `afterSeq`, page after page. */
async function allEvents(client: SagaClient, id: string, afterSeq: number): Promise<SagaEventView[]> {
  const items: SagaEventView[] = [];
  let next: number | null = afterSeq;
  while (next !== null) {
    const page = await client.events(id, { afterSeq: next });
    items.push(...page.items);
    next = page.nextAfterSeq;
  }
  return items;
}

const signal: CommandSpec = {
  usage: 'signal <id> <name>',
  summary: 'deliver a signal to a saga (POST /v1/sagas/{id}/signals/{name})',
  description:
    'The steps waiting for <name> complete with the payload as their output; a signal for a wait that has not ' +
    'started yet is kept for it. Prints the saga as it is then.',
  options: [
    { flags: '--payload <json>', description: 'a JSON object (default {}; "-": read it from stdin)' },
    { flags: '--payload-file <path>', description: 'read the payload from a file ("-": stdin)' },
  ],
  examples: [`saga signal <id> DeliveryCompleted --payload '{"droneId":"drn_7"}'`],
  async run(ctx, [id, name], o) {
    const payload = await jsonObjectFrom(ctx.io, '--payload', str(o.payload), str(o.payloadFile), undefined);
    const client = ctx.client();
    await client.signal(id, name, payload);
    const saga = await client.get(id);
    ctx.print(saga, () => sagaText(saga, ctx.style, [['signal', `${name} delivered`]]));
    return ExitCode.OK;
  },
};

/** cancel, retry and resolve: an operator action with a reason, printing the saga as the engine answers it. */
function action(
  spec: Omit<CommandSpec, 'run' | 'options'>,
  act: (client: SagaClient, args: string[], reason: string) => Promise<SagaView>,
): CommandSpec {
  return {
    ...spec,
    options: [REASON],
    async run(ctx, args, o) {
      const saga = await act(ctx.client(), args, str(o.reason) ?? '');
      ctx.print(saga, () => sagaText(saga, ctx.style));
      return ExitCode.OK;
    },
  };
}

const cancel = action(
  {
    usage: 'cancel <id>',
    summary: 'stop a RUNNING saga before its pivot and undo what it did (operator)',
    description:
      'POST /v1/sagas/{id}/cancel. The saga compensates and ends CANCELLED; the engine refuses (409 INVALID_STATE) a saga that has ended, is FAILED or is past its pivot.',
    examples: ['saga cancel <id> --reason "customer asked, ticket 4711"'],
  },
  (client, [id], reason) => client.cancel(id, { reason }),
);

const retry: CommandSpec = {
  usage: 'retry <id>',
  summary: 'resume a FAILED saga where it stopped, or re-run it from a step (operator)',
  description:
    'POST /v1/sagas/{id}/retry: its failed step or compensations run again, with a fresh retry budget and the same ' +
    'idempotency keys. With --from-step, POST /v1/sagas/{id}/steps/{step}/retry: that step and every later one run ' +
    'again, each with a new idempotency key (<sagaId>:<step>:rerun-<n>), on a FAILED or COMPLETED saga; the steps ' +
    'before it do not.',
  options: [
    { flags: '--from-step <step>', description: 're-run from this step (a step after the pivot, once it ran)' },
    REASON,
  ],
  examples: [
    'saga retry <id> --reason "the ledger is back"',
    'saga retry <id> --from-step ship --reason "carrier data fixed, INC-7"',
  ],
  async run(ctx, [id], o) {
    const reason = str(o.reason) ?? '';
    const step = str(o.fromStep);
    const client = ctx.client();
    const saga = step === undefined ? await client.retry(id, { reason }) : await client.retryFrom(id, step, { reason });
    ctx.print(saga, () => sagaText(saga, ctx.style));
    return ExitCode.OK;
  },
};

const skip: CommandSpec = {
  usage: 'skip <id> <step>',
  summary: 'complete a FAILED, RETRYING or PENDING step with an output of yours (admin)',
  description:
    'POST /v1/sagas/{id}/steps/{step}/skip. The step SUCCEEDED with the JSON value of --output (or --output-file, ' +
    'or stdin with -) as its output, which later steps read; it is never compensated. A FAILED saga with no other ' +
    'failed step goes on.',
  options: [
    { flags: '--output <json>', description: 'the step\'s output, any JSON value (null for none; "-": stdin)' },
    { flags: '--output-file <path>', description: 'read the output from a file ("-": stdin)' },
    REASON,
  ],
  examples: [`saga skip <id> ship --output '{"trackingId":"T-1"}' --reason "shipped by hand, ticket 12"`],
  async run(ctx, [id, step], o) {
    const output = await jsonValueFrom(ctx.io, '--output', str(o.output), str(o.outputFile));
    const saga = await ctx.client().skip(id, step, { output, reason: str(o.reason) ?? '' });
    ctx.print(saga, () => sagaText(saga, ctx.style));
    return ExitCode.OK;
  },
};

const resolve = action(
  {
    usage: 'resolve <id> <step>',
    summary: "declare a FAILED step's compensation done by hand (admin)",
    description: 'POST /v1/sagas/{id}/steps/{step}/resolve. You undid the effect yourself; the saga goes on.',
    examples: ['saga resolve <id> charge-account --reason "refunded by hand, ticket 4711"'],
  },
  (client, [id, step], reason) => client.resolve(id, step, { reason }),
);

const types: CommandSpec = {
  usage: 'types',
  summary: 'the saga types the engine knows, their versions and live agents (GET /v1/saga-types)',
  examples: ['saga types', 'saga types --json | jq ".[].name"'],
  async run(ctx) {
    const list = await ctx.client().sagaTypes();
    ctx.print(list, () => sagaTypesText(list, ctx.style));
    return ExitCode.OK;
  },
};

const agents: CommandSpec = {
  usage: 'agents',
  summary: 'the agents that run now and the saga types each runs (GET /v1/agents)',
  examples: ['saga agents'],
  async run(ctx) {
    const items = await ctx.client().agents();
    ctx.print({ items }, () => agentsText(items));
    return ExitCode.OK;
  },
};

/** `bulk --wait` without a value waits this long. */
export const DEFAULT_BULK_WAIT = '30m';
const BULK_ACTIONS: readonly BulkActionName[] = ['retry', 'cancel', 'resolve'];

const bulk: CommandSpec = {
  usage: 'bulk <action>',
  summary: 'retry, cancel or resolve every saga a filter matches, as a job (POST /v1/bulk-actions)',
  description:
    'Counts the sagas the filter (as `saga list` takes it) matches and prints the count; --dry-run stops there. ' +
    'Without --yes nothing is done (exit 2): read the count, then run again with --yes. With --yes the engine runs ' +
    'the job in the background, each saga through the single action (audited with --reason and the job); ' +
    '--wait follows its progress on stderr and exits 0 only if it COMPLETED with no saga failed (4 otherwise). ' +
    'Roles: retry and cancel operator, resolve admin (with --step). Follow or stop a job later: `saga bulk-job`, ' +
    '`saga bulk-stop`.',
  options: [
    { flags: '--type <type>', description: 'only this saga type' },
    { flags: '--status <status...>', description: 'only these statuses (repeat, or comma-separated)' },
    { flags: '--created-after <iso>', description: 'created after this date or date-time (ISO-8601)' },
    { flags: '--created-before <iso>', description: 'created before this date or date-time' },
    { flags: '--step <step>', description: 'resolve: the step whose failed compensation is resolved in each saga' },
    REASON,
    { flags: '--cap <n>', description: 'refuse when more sagas match (1 to 100000; the engine defaults to 10000)' },
    { flags: '--dry-run', description: 'only count the matching sagas' },
    { flags: '--yes', description: 'act on them (without it, only the count is shown)' },
    {
      flags: '--wait [timeout]',
      description: `follow the job until it ends, at most this long (default ${DEFAULT_BULK_WAIT})`,
    },
  ],
  examples: [
    'saga bulk retry --type drone-delivery --status FAILED --reason "carrier fixed, INC-88" --dry-run',
    'saga bulk retry --type drone-delivery --status FAILED --reason "carrier fixed, INC-88" --yes --wait',
    'saga bulk cancel --status DELAYED --created-before 2026-12-01 --reason "campaign withdrawn" --yes --json',
    'saga bulk resolve --type order --status FAILED --step charge-card --reason "refunded by hand" --yes',
  ],
  async run(ctx, [name], o) {
    if (!BULK_ACTIONS.includes(name as BulkActionName)) {
      throw new UsageError(`<action> must be one of ${BULK_ACTIONS.join(', ')} (got ${JSON.stringify(name)})`);
    }
    const action = name as BulkActionName;
    const [type, after, before, step, cap] = [
      str(o.type),
      str(o.createdAfter),
      str(o.createdBefore),
      str(o.step),
      str(o.cap),
    ];
    if (action === 'resolve' && step === undefined)
      throw new UsageError('bulk resolve needs --step: the step to resolve');
    if (action !== 'resolve' && step !== undefined) throw new UsageError('--step is only for bulk resolve');
    if (o.dryRun === true && o.yes === true) throw new UsageError('--dry-run and --yes: pass one of them');
    const wait = o.wait === true ? DEFAULT_BULK_WAIT : str(o.wait);
    const waitMs = wait === undefined ? null : duration(wait, '--wait', { min: 1 });
    const request = {
      action,
      ...(step === undefined ? {} : { step }),
      filter: {
        ...(type === undefined ? {} : { type }),
        ...(o.status === undefined ? {} : { status: statuses(o.status as string[], '--status') }),
        ...(after === undefined ? {} : { createdAfter: instant(after, '--created-after') }),
        ...(before === undefined ? {} : { createdBefore: instant(before, '--created-before') }),
      },
      reason: str(o.reason) ?? '',
      ...(cap === undefined ? {} : { cap: integer(cap, '--cap', 1, 100_000) }),
    };
    const client = ctx.client();
    if (o.yes !== true) {
      const dry = await client.bulkDryRun(request);
      ctx.print(dry, () => `${dry.matched} sagas match: a bulk ${action} would act on them`);
      if (o.dryRun === true) return ExitCode.OK;
      ctx.note(`nothing done: run again with --yes to ${action} them`);
      return ExitCode.USAGE;
    }
    const job = await client.startBulk(request);
    if (waitMs === null) {
      ctx.print(job, () => bulkJobText(job, ctx.style));
      return ExitCode.OK;
    }
    ctx.note(`bulk job ${job.id}: ${job.action} of ${job.matched} sagas`);
    return followBulkJob(ctx, job.id, waitMs);
  },
};

/** Follows a job until it ends, progress on stderr; 0 only when it COMPLETED with no saga failed. */
async function followBulkJob(ctx: CommandContext, id: string, timeoutMs: number): Promise<ExitCode> {
  let shown = '';
  let last: BulkJobView | null = null;
  try {
    last = await ctx.interruptible(
      ctx.client().waitForBulkJob(id, {
        timeout: timeoutMs,
        onProgress: (job) => {
          last = job;
          const line = `${job.status} ${bulkProgress(job)}`;
          if (line !== shown && !ctx.json) ctx.note(line);
          shown = line;
        },
      }),
    );
  } catch (err) {
    if (isApiError(err) || err instanceof InterruptedError || last === null) throw err;
    ctx.print(last, () => bulkJobText(last!, ctx.style));
    ctx.note(`bulk job ${id} is still ${last.status} after ${timeoutMs} ms: it goes on`);
    return ExitCode.NOT_COMPLETED;
  }
  const job = last;
  ctx.print(job, () => bulkJobText(job, ctx.style));
  if (job.status !== 'COMPLETED') {
    ctx.note(`bulk job ${id} ended ${job.status}`);
    return ExitCode.NOT_COMPLETED;
  }
  if (job.failed > 0) {
    ctx.note(`bulk job ${id}: ${job.failed} sagas failed`);
    return ExitCode.NOT_COMPLETED;
  }
  return ExitCode.OK;
}

const bulkJob: CommandSpec = {
  usage: 'bulk-job [id]',
  summary: 'a bulk job and its progress (GET /v1/bulk-actions/{id}); without an id, the jobs',
  description:
    'With --wait, follows the job until it ends (progress on stderr) and exits 0 only if it COMPLETED with no ' +
    'saga failed (4 otherwise).',
  options: [
    {
      flags: '--wait [timeout]',
      description: `follow it until it ends, at most this long (default ${DEFAULT_BULK_WAIT})`,
    },
  ],
  examples: ['saga bulk-job', 'saga bulk-job <id>', 'saga bulk-job <id> --wait 10m'],
  async run(ctx, [id], o) {
    const wait = o.wait === true ? DEFAULT_BULK_WAIT : str(o.wait);
    const waitMs = wait === undefined ? null : duration(wait, '--wait', { min: 1 });
    if (id === undefined) {
      if (waitMs !== null) throw new UsageError('--wait needs the id of a job');
      const items = await ctx.client().bulkJobs();
      ctx.print({ items }, () => bulkJobsText(items, ctx.style));
      return ExitCode.OK;
    }
    if (waitMs !== null) return followBulkJob(ctx, id, waitMs);
    const job = await ctx.client().bulkJob(id);
    if (job === null) {
      ctx.note(`saga: 404 BULK_JOB_NOT_FOUND: bulk job ${id} not found`);
      return ExitCode.REFUSED;
    }
    ctx.print(job, () => bulkJobText(job, ctx.style));
    return ExitCode.OK;
  },
};

const bulkStop: CommandSpec = {
  usage: 'bulk-stop <id>',
  summary: 'stop a bulk job (POST /v1/bulk-actions/{id}/cancel): the sagas acted on stay so',
  options: [REASON],
  examples: ['saga bulk-stop <id> --reason "wrong filter"'],
  async run(ctx, [id], o) {
    const job = await ctx.client().stopBulkJob(id, { reason: str(o.reason) ?? '' });
    ctx.print(job, () => bulkJobText(job, ctx.style));
    return ExitCode.OK;
  },
};

/**
 * Every command, in the order `saga --help` lists them. One entry per API route an operator uses: a route the API
 * gains becomes one more entry here (or a flag of one, as `retry --from-step`).
 */
export const COMMANDS: readonly CommandSpec[] = [
  start,
  get,
  list,
  events,
  signal,
  cancel,
  retry,
  skip,
  resolve,
  bulk,
  bulkJob,
  bulkStop,
  types,
  agents,
];

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
