import type {
  ConditionContext,
  ResolvedRetryPolicy,
  SagaDefinition,
  SleepUntilFn,
  StageDefinition,
  StepCondition,
  StepDefinition,
  WaitTimeoutPolicy,
} from '../types';

/** Test defaults: three attempts, 1 s doubling to 60 s, no jitter (so delays are exact). */
export const TEST_RETRY: ResolvedRetryPolicy = Object.freeze({
  maximumAttempts: 3,
  initialIntervalMs: 1_000,
  backoffCoefficient: 2,
  maximumIntervalMs: 60_000,
  jitter: 0,
  nonRetryableCodes: [],
});
export const TEST_TIMEOUT_MS = 30_000;
export const TEST_COMPENSATION_TIMEOUT_MS = 20_000;

export interface TestStepSpec {
  name: string;
  /** Whether the step has a compensation; default true. */
  compensate?: boolean;
  pivot?: boolean;
  when?: StepCondition | null;
  retry?: Partial<ResolvedRetryPolicy>;
  compensationRetry?: Partial<ResolvedRetryPolicy>;
  timeoutMs?: number;
  compensationTimeoutMs?: number;
  /** Makes it a wait step for this signal. */
  signal?: string;
  /** A wait step's policy at its timeout. */
  onTimeout?: WaitTimeoutPolicy;
  /** Makes it a sleep step: for `durationMs`, or until what `until` computes. */
  sleep?: { durationMs?: number; until?: SleepUntilFn };
  /** Makes it a child step that starts this saga type and version. */
  child?: { type: string; version?: number };
  /** Makes it a fan-out step with this concurrency (and item keys when `keyed`). */
  fanOut?: { concurrency: number; keyed?: boolean; items?: (ctx: ConditionContext<any, any>) => unknown[] };
}

export interface GroupSpec {
  group: string;
  steps: readonly (string | TestStepSpec)[];
}

/** A step by name (all defaults), a step with options, or a parallel group. */
export type StageSpec = string | TestStepSpec | GroupSpec;

export function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Builds a frozen `SagaDefinition` by hand for engine tests (the engine must not depend on libs/sdk): fills
 * stage indexes, positions, keys, policies and timeouts.
 */
export function makeDefinition(
  stages: readonly StageSpec[],
  options: { name?: string; version?: number } = {},
): SagaDefinition {
  const steps: StepDefinition[] = [];
  const stageDefs: StageDefinition[] = [];
  stages.forEach((spec, index) => {
    const group = typeof spec === 'object' && 'group' in spec ? spec : null;
    const members = group ? group.steps : [spec as string | TestStepSpec];
    const names: string[] = [];
    for (const member of members) {
      const s: TestStepSpec = typeof member === 'string' ? { name: member } : member;
      names.push(s.name);
      steps.push(
        Object.freeze({
          name: s.name,
          key: camelCase(s.name),
          stage: index,
          position: steps.length,
          group: group?.group ?? null,
          run: () => undefined,
          compensate: s.compensate === false ? null : () => undefined,
          compensable: s.compensate !== false,
          conditional: Boolean(s.when),
          retry: Object.freeze({ ...TEST_RETRY, ...s.retry }),
          compensationRetry: Object.freeze({ ...TEST_RETRY, ...s.compensationRetry }),
          timeoutMs: s.timeoutMs ?? TEST_TIMEOUT_MS,
          compensationTimeoutMs: s.compensationTimeoutMs ?? TEST_COMPENSATION_TIMEOUT_MS,
          when: s.when ?? null,
          whenLabel: s.when ? 'test condition' : null,
          pivot: s.pivot ?? false,
          description: null,
          signal: s.signal ?? null,
          ...(s.onTimeout ? { onTimeout: s.onTimeout } : {}),
          ...(s.child
            ? { child: Object.freeze({ type: s.child.type, version: s.child.version ?? 1 }), childInput: null }
            : {}),
          ...(s.fanOut
            ? {
                fanOut: Object.freeze({ concurrency: s.fanOut.concurrency, keyed: Boolean(s.fanOut.keyed) }),
                items: s.fanOut.items ?? null,
              }
            : {}),
          ...(s.sleep
            ? {
                sleep: Object.freeze({ durationMs: s.sleep.durationMs ?? null, until: Boolean(s.sleep.until) }),
                until: s.sleep.until ?? null,
              }
            : {}),
        }),
      );
    }
    stageDefs.push(Object.freeze({ index, group: group?.group ?? null, steps: Object.freeze(names) }));
  });
  const stepsByName: Record<string, StepDefinition> = {};
  for (const step of steps) {
    if (Object.hasOwn(stepsByName, step.name)) throw new Error(`duplicate step "${step.name}"`);
    stepsByName[step.name] = step;
  }
  return Object.freeze({
    name: options.name ?? 'test-saga',
    version: options.version ?? 1,
    description: null,
    inputClass: null,
    sensitive: [],
    stages: Object.freeze(stageDefs),
    steps: Object.freeze(steps),
    stepsByName: Object.freeze(stepsByName),
    deps: Object.freeze({}),
  });
}
