import type {
  AgentView,
  BulkJobView,
  SagaErrorView,
  SagaEventView,
  SagaSummaryView,
  SagaTypeView,
  SagaView,
  StepView,
} from '@saga-engine/client';

/*
 * What a person reads at a terminal. Scripts use `--json`, whose shape is the API's; these texts may change.
 */

export interface Style {
  /** Colour a saga or step status (a no-op without colour). */
  status: (text: string) => string;
  /** Cut a long value to the line (only at a terminal: piped text stays whole). */
  cut: (text: string, max: number) => string;
}

const COLOURS: Record<string, number> = {
  COMPLETED: 32,
  SUCCEEDED: 32,
  RUNNING: 36,
  SCHEDULED: 36,
  WAITING: 36,
  RETRYING: 33,
  COMPENSATING: 33,
  COMPENSATED: 33,
  CANCELLED: 33,
  SKIPPED: 2,
  PENDING: 2,
  FAILED: 31,
  COMPENSATION_FAILED: 31,
};

export function styleFor(options: { colour: boolean; cut: boolean }): Style {
  const paint = (code: number | undefined, text: string) =>
    options.colour && code !== undefined ? `\x1b[${code}m${text}\x1b[0m` : text;
  return {
    status: (text) => paint(COLOURS[text.trim()], text),
    cut: (text, max) => (options.cut && text.length > max ? `${text.slice(0, max - 1)}…` : text),
  };
}

/** A column: its heading, its cell, and an optional style applied after padding (so colour does not skew it). */
export interface Column<T> {
  title: string;
  cell: (row: T) => string;
  paint?: (text: string) => string;
}

/** Rows as aligned columns, two spaces apart, without trailing spaces. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => c.cell(row)));
  const widths = columns.map((c, i) => Math.max(c.title.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[], paint: boolean) =>
    values
      .map((v, i) => {
        const padded = i === values.length - 1 ? v : v.padEnd(widths[i]);
        return paint && columns[i].paint ? columns[i].paint(padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [
    line(
      columns.map((c) => c.title),
      false,
    ),
    ...cells.map((r) => line(r, true)),
  ].join('\n');
}

/** A fan-out's items done, or a child step's child: ` (149/200 items)`, ` (child 01a2... COMPLETED)`. */
function progress(step: StepView): string {
  if (step.items) return ` (${step.items.counts.SUCCEEDED ?? 0}/${step.items.total} items)`;
  if (step.child) return ` (child ${step.child.id} ${step.child.status})`;
  // An operator's doing: a re-run from a step (its key ends :rerun-<run>), or a skip (the output is theirs).
  const notes = [
    ...((step.run ?? 0) > 0 ? [`run ${(step.run ?? 0) + 1}`] : []),
    ...(step.skipped ? ['skipped by an operator'] : []),
  ];
  return notes.length === 0 ? '' : ` (${notes.join(', ')})`;
}

/** `charge-account FAULT_FATAL: card declined (definite)` */
export function sagaError(error: SagaErrorView | null): string {
  if (!error) return '';
  const kind = error.transient ? 'transient' : 'definite';
  return `${error.step ? `${error.step} ` : ''}${error.code}: ${error.message} (${kind})`;
}

/** One saga with its steps (`get`, `start`, and the operator actions). */
export function sagaText(saga: SagaView, style: Style, extra: [string, string][] = []): string {
  const fields: [string, string][] = [
    ['created', saga.createdAt],
    ['updated', saga.updatedAt],
    ['ended', saga.completedAt ?? ''],
    ['key', saga.businessKey ?? ''],
    ['attrs', attributesText(saga.attributes)],
    ...extra,
    ['parent', saga.parentId ? `${saga.parentId} (its step ${saga.parentStep ?? '?'})` : ''],
    ['children', (saga.children ?? []).map((c) => `${c.id} ${c.type} ${c.status} (${c.step})`).join(', ')],
    ['error', sagaError(saga.error)],
    ['input', style.cut(compact(saga.input), 100)],
    ['output', saga.output === null ? '' : style.cut(compact(saga.output), 100)],
  ];
  const head = `${saga.id}  ${saga.type} v${saga.version}  ${style.status(saga.status)}`;
  const lines = fields.filter(([, value]) => value !== '').map(([name, value]) => `${name.padEnd(9)}${value}`);
  const steps =
    saga.steps.length === 0
      ? []
      : [
          '',
          table(saga.steps, [
            { title: 'STEP', cell: (s) => s.name },
            { title: 'STATUS', cell: (s) => s.status, paint: style.status },
            { title: 'ATTEMPTS', cell: (s) => String(s.attempts) + progress(s) },
            { title: 'UNDO', cell: undo },
            { title: 'ERROR', cell: (s) => style.cut(stepError(s), 80) },
          ]),
        ];
  return [head, ...lines, ...steps].join('\n');
}

function undo(step: StepView): string {
  const c = step.compensation;
  return c ? `${c.status} (${c.attempts})` : '';
}

function stepError(step: StepView): string {
  const error = step.compensation?.error ?? step.error;
  if (!error) return '';
  return `${step.compensation?.error ? 'undo: ' : ''}${error.code}: ${error.message}`;
}

/** The saga list. */
/** `tier=gold amount=4200`, in the order the engine gave them; '' for none. */
function attributesText(attributes: Record<string, unknown> | undefined): string {
  return Object.entries(attributes ?? {})
    .map(([name, value]) => `${name}=${value === null ? 'null' : String(value as string | number | boolean)}`)
    .join(' ');
}

export function sagaListText(items: readonly SagaSummaryView[], style: Style): string {
  if (items.length === 0) return 'no sagas match';
  // The business key column only when a saga of the page has one: most lists are of types without.
  const keys = items.some((s) => s.businessKey)
    ? [{ title: 'KEY', cell: (s: SagaSummaryView) => s.businessKey ?? '' }]
    : [];
  return table(items, [
    { title: 'ID', cell: (s) => s.id },
    { title: 'TYPE', cell: (s) => `${s.type} v${s.version}` },
    ...keys,
    { title: 'STATUS', cell: (s) => s.status, paint: style.status },
    { title: 'CREATED', cell: (s) => s.createdAt },
    { title: 'ENDED', cell: (s) => s.completedAt ?? '' },
    { title: 'ERROR', cell: (s) => style.cut(sagaError(s.error), 80) },
  ]);
}

/**
 * Events, one line each, in fixed columns so that lines printed as they come (`--follow`) line up with the
 * first ones.
 */
export const EVENT_HEADER = `${'SEQ'.padStart(4)}  ${'AT'.padEnd(24)}  ${'TYPE'.padEnd(22)}  ${'STEP'.padEnd(22)}  DATA`;

export function eventLine(event: SagaEventView, style: Style): string {
  const step = event.step === null ? '' : event.attempt === null ? event.step : `${event.step} #${event.attempt}`;
  const data = event.data === null ? '' : style.cut(compact(event.data), 100);
  return `${String(event.seq).padStart(4)}  ${event.at.padEnd(24)}  ${event.type.padEnd(22)}  ${step.padEnd(22)}  ${data}`.trimEnd();
}

export function sagaTypesText(types: readonly SagaTypeView[], style: Style): string {
  if (types.length === 0) return 'no saga types are registered';
  return table(types, [
    { title: 'NAME', cell: (t) => t.name },
    { title: 'VERSION', cell: (t) => String(t.version) },
    { title: 'VERSIONS', cell: (t) => t.versions.join(',') },
    { title: 'AGENTS', cell: (t) => String(t.agents) },
    { title: 'STEPS', cell: (t) => String(t.steps.length) },
    { title: 'DESCRIPTION', cell: (t) => style.cut(t.description ?? '', 80) },
  ]);
}

export function agentsText(agents: readonly AgentView[]): string {
  if (agents.length === 0) return 'no agents run now';
  return table(agents, [
    { title: 'ID', cell: (a) => a.id },
    { title: 'HOST', cell: (a) => a.host },
    { title: 'PID', cell: (a) => String(a.pid) },
    { title: 'SAGA TYPES', cell: (a) => a.sagaTypes.join(',') },
    { title: 'STARTED', cell: (a) => a.startedAt },
    { title: 'SEEN', cell: (a) => a.seenAt },
  ]);
}

/** JSON on one line. */
export function compact(value: unknown): string {
  return JSON.stringify(value) ?? '';
}

/** A bulk job: what, how far, and its first failures. */
export function bulkJobText(job: BulkJobView, style: Style): string {
  const filter = Object.entries(job.filter)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' ');
  const rows: [string, string][] = [
    ['job', job.id],
    ['action', job.step ? `${job.action} ${job.step}` : job.action],
    ['status', style.status(job.status)],
    ['filter', filter || '(every saga)'],
    ['reason', job.reason],
    ['by', job.requestedBy],
    ['progress', bulkProgress(job)],
    ['created', job.createdAt],
  ];
  if (job.finishedAt) rows.push(['finished', job.finishedAt]);
  if (job.cancelledBy) rows.push(['cancelled', `by ${job.cancelledBy}: ${job.cancelReason ?? ''}`]);
  if (job.lastError) rows.push(['last error', job.lastError]);
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
  if (job.errors.length > 0) {
    lines.push(
      '',
      table(job.errors, [
        { title: 'FAILED SAGA', cell: (e) => e.sagaId },
        { title: 'STATUS', cell: (e) => String(e.status) },
        { title: 'CODE', cell: (e) => e.code },
        { title: 'MESSAGE', cell: (e) => style.cut(e.message, 80) },
      ]),
    );
  }
  return lines.join('\n');
}

/** `120/500 processed (118 done, 2 skipped, 0 failed)`. */
export function bulkProgress(job: BulkJobView): string {
  return `${job.processed}/${job.matched} processed (${job.done} done, ${job.skipped} skipped, ${job.failed} failed)`;
}

/** The bulk jobs, newest first, one line each. */
export function bulkJobsText(jobs: readonly BulkJobView[], style: Style): string {
  if (jobs.length === 0) return 'no bulk jobs';
  return table(jobs, [
    { title: 'JOB', cell: (j) => j.id },
    { title: 'ACTION', cell: (j) => (j.step ? `${j.action} ${j.step}` : j.action) },
    { title: 'STATUS', cell: (j) => j.status, paint: style.status },
    { title: 'MATCHED', cell: (j) => String(j.matched) },
    { title: 'DONE', cell: (j) => String(j.done) },
    { title: 'SKIPPED', cell: (j) => String(j.skipped) },
    { title: 'FAILED', cell: (j) => String(j.failed) },
    { title: 'CREATED', cell: (j) => j.createdAt },
  ]);
}
