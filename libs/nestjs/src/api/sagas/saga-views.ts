import { type StepSpec, publicAttributes } from '@saga-engine/core';
import { type JsonSchema, classSchemaOf } from '../../scheduler/input-schema';
import type { KnownVersion } from '../../scheduler/saga-registry';
import { redactSealed } from '../../security/input-cipher';
import type { SagaEventEntity } from '../../store/entities/saga-event.entity';
import type { SagaInstanceEntity } from '../../store/entities/saga-instance.entity';
import type { SagaStepEntity } from '../../store/entities/saga-step.entity';
import type { ChildRow, ItemRow } from '../../store/saga-queries';

/** The public shapes of API.md. Built here, not by serializing entities, so the contract cannot drift. */
export interface SagaSummaryView {
  id: string;
  type: string;
  version: number;
  status: string;
  error: unknown;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
  /** When a saga accepted with a start time starts (DELAYED until then), or started; null otherwise. */
  startAt: string | null;
  /** A child saga's parent (the saga whose step started it); null for a saga started otherwise. */
  parentId: string | null;
  /** Its business key (its type's `businessKey` input field), or null. */
  businessKey: string | null;
  /** Its search attributes by name (a datetime as ISO-8601 UTC); `{}` when none is set. */
  attributes: Record<string, string | number | boolean | null>;
}

export function summaryView(i: SagaInstanceEntity): SagaSummaryView {
  return {
    parentId: i.parentId ?? null,
    id: i.id,
    type: i.type,
    version: i.definitionVersion,
    status: i.status,
    error: i.error,
    createdAt: i.createdAt.toISOString(),
    updatedAt: i.updatedAt.toISOString(),
    completedAt: iso(i.completedAt),
    startAt: iso(i.startAt),
    businessKey: i.businessKey ?? null,
    attributes: publicAttributes(i.searchAttributes),
  };
}

export type SagaInstanceView = ReturnType<typeof instanceView>;

export function instanceView(
  i: SagaInstanceEntity,
  steps: SagaStepEntity[],
  children: readonly ChildRow[] = [],
  itemCounts: Readonly<Record<string, Record<string, number>>> = {},
) {
  // A step's child: the newest one (an operator's retry after the pivot starts another, in a new round).
  const childOf = new Map<string, ChildRow>();
  for (const child of children) childOf.set(child.step, child);
  return {
    id: i.id,
    type: i.type,
    version: i.definitionVersion,
    status: i.status,
    // Sensitive fields are stored sealed ({"$enc": ...}) and shown as "[REDACTED]"; the rest as given.
    input: redactSealed(i.input),
    output: i.output,
    error: i.error,
    createdAt: i.createdAt.toISOString(),
    updatedAt: i.updatedAt.toISOString(),
    completedAt: iso(i.completedAt),
    startAt: iso(i.startAt),
    parentId: i.parentId ?? null,
    parentStep: i.parentStep ?? null,
    businessKey: i.businessKey ?? null,
    attributes: publicAttributes(i.searchAttributes),
    children: children.map(childView),
    steps: steps.map((s) => stepView(s, childOf.get(s.name) ?? null, itemCounts[s.name] ?? null)),
  };
}

function childView(c: ChildRow) {
  return {
    id: c.id,
    type: c.type,
    status: c.status,
    step: c.step,
    createdAt: c.createdAt.toISOString(),
    completedAt: iso(c.completedAt),
  };
}

function stepView(s: SagaStepEntity, child: ChildRow | null, counts: Record<string, number> | null) {
  return {
    name: s.name,
    status: s.status,
    attempts: s.attempt,
    /** How many times an operator re-ran the step from it or an earlier step (0 at first). */
    run: s.run ?? 0,
    /** SUCCEEDED because an operator skipped it; `output` is theirs. */
    skipped: s.skipped === true,
    startedAt: iso(s.startedAt),
    finishedAt: iso(s.finishedAt),
    output: s.output ?? null,
    error: s.error,
    // A SLEEPING step's wake-up time (its timer); a WAITING step's deadline; null otherwise.
    wakeAt: s.status === 'SLEEPING' ? iso(s.deadlineAt) : null,
    // A child step waits for its child, not for a timeout.
    deadlineAt: s.status === 'WAITING' && !child ? iso(s.deadlineAt) : null,
    /** A child step's child saga (the newest, after an operator's retry), or null. */
    child: child ? { id: child.id, type: child.type, status: child.status } : null,
    /** A fan-out step's items by status, once its list is known; null for other steps. */
    items: counts ? { total: Object.values(counts).reduce((a, b) => a + b, 0), counts } : null,
    compensation: s.compStatus
      ? {
          status: s.compStatus,
          attempts: s.compAttempt,
          startedAt: iso(s.compStartedAt),
          finishedAt: iso(s.compFinishedAt),
          error: s.compError,
        }
      : null,
  };
}

export function eventView(e: SagaEventEntity) {
  return {
    seq: e.seq,
    type: e.type,
    step: e.step,
    item: e.item ?? null,
    attempt: e.attempt,
    at: e.at.toISOString(),
    data: e.data,
  };
}

/** One item of a fan-out (`GET /v1/sagas/{id}/steps/{step}/items`). */
export function itemView(r: ItemRow) {
  return {
    index: r.index,
    key: r.key,
    item: r.item,
    status: r.status,
    attempts: r.attempts,
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    output: r.output ?? null,
    error: r.error ?? null,
    compensation: r.compStatus
      ? {
          status: r.compStatus,
          attempts: r.compAttempts,
          startedAt: iso(r.compStartedAt),
          finishedAt: iso(r.compFinishedAt),
          error: r.compError ?? null,
        }
      : null,
  };
}

/**
 * A saga type's version as the API shows it: its steps as data, the JSON Schema of its input, and how many agents
 * run it now (0: its steps wait until one starts).
 */
export function definitionView(known: KnownVersion, agents: number, versions: readonly number[]) {
  const d = known.spec;
  const inputSchema = known.inputSchema ?? (known.code?.inputClass ? classSchemaOf(known.code.inputClass) : null);
  return {
    name: d.name,
    version: d.version,
    /** Every version the engine knows of the type (instances run on the one they started with). */
    versions: [...versions],
    description: d.description,
    input: typeof inputSchema?.title === 'string' ? inputSchema.title : null,
    inputSchema,
    /** Dotted paths of the input fields that are encrypted at rest and redacted in every answer. */
    sensitive: [...d.sensitive],
    /** The dotted input path of the business key, or null when the type declares none. */
    businessKey: d.businessKey ?? null,
    /** The search attributes: name, type, and the input path (`step` null) or step output path that sets it. */
    searchAttributes: (d.searchAttributes ?? []).map((a) => ({
      name: a.name,
      type: a.type,
      step: a.step,
      path: a.path,
    })),
    stages: d.stages.map((s) => ({ index: s.index, group: s.group, steps: [...s.steps] })),
    steps: d.steps.map(stepDefinitionView),
    agents,
  };
}

function outputSchemaOf(s: StepSpec & { outputClass?: (new () => unknown) | null }): JsonSchema | null {
  return s.outputSchema ?? (s.outputClass ? classSchemaOf(s.outputClass) : null);
}

function stepDefinitionView(s: StepSpec) {
  return {
    name: s.name,
    key: s.key,
    stage: s.stage,
    group: s.group,
    description: s.description,
    compensation: s.compensable,
    conditional: s.conditional,
    when: s.whenLabel,
    pivot: s.pivot,
    /** The signal a wait step waits for (its `timeoutMs` is how long), or null. */
    signal: s.signal,
    /** The saga type and version a child step starts, or null. */
    child: s.child ? { type: s.child.type, version: s.child.version } : null,
    /** A fan-out step's concurrency and whether its items have keys of the author's, or null. */
    fanOut: s.fanOut ? { concurrency: s.fanOut.concurrency, keyed: s.fanOut.keyed } : null,
    /** A sleep step's duration (null: computed by `until`), or null for other steps. */
    sleep: s.sleep ? { durationMs: s.sleep.durationMs, until: s.sleep.until } : null,
    /**
     * JSON Schema of the step's output (of each item's, for a fan-out), from its `output` class; null: undeclared.
     * A skip's output must fit it.
     */
    outputSchema: outputSchemaOf(s),
    timeoutMs: s.timeoutMs,
    compensationTimeoutMs: s.compensationTimeoutMs,
    retry: { ...s.retry, nonRetryableCodes: [...s.retry.nonRetryableCodes] },
    compensationRetry: { ...s.compensationRetry, nonRetryableCodes: [...s.compensationRetry.nonRetryableCodes] },
  };
}

function iso(d: Date | null): string | null {
  return d ? d.toISOString() : null;
}
