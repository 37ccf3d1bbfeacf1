import type { SagaSpec, StepSpec } from './types';

/** A SagaSpec as JSON (what `saga_definition.spec` holds): `stepsByName` is derived, so it is not stored. */
export type SagaSpecJson = Omit<SagaSpec, 'stepsByName'>;

/**
 * The data of a definition, without its code (handlers, conditions, input class, deps): what a process publishes
 * so that others can drive the saga's instances. Fields are copied one by one, so nothing else leaks into it.
 */
export function toSpecJson(def: SagaSpec): SagaSpecJson {
  return {
    name: def.name,
    version: def.version,
    description: def.description,
    sensitive: [...def.sensitive],
    // Only when declared, so that the specs of sagas without them keep their fingerprint.
    ...(def.businessKey ? { businessKey: def.businessKey } : {}),
    ...(def.searchAttributes?.length
      ? {
          searchAttributes: def.searchAttributes.map((a) => ({
            name: a.name,
            type: a.type,
            step: a.step,
            path: a.path,
          })),
        }
      : {}),
    stages: def.stages.map((stage) => ({ index: stage.index, group: stage.group, steps: [...stage.steps] })),
    steps: def.steps.map((step): StepSpec => ({
      name: step.name,
      key: step.key,
      stage: step.stage,
      position: step.position,
      group: step.group,
      retry: { ...step.retry, nonRetryableCodes: [...step.retry.nonRetryableCodes] },
      compensationRetry: {
        ...step.compensationRetry,
        nonRetryableCodes: [...step.compensationRetry.nonRetryableCodes],
      },
      timeoutMs: step.timeoutMs,
      compensationTimeoutMs: step.compensationTimeoutMs,
      compensable: step.compensable,
      conditional: step.conditional,
      whenLabel: step.whenLabel,
      pivot: step.pivot,
      description: step.description,
      signal: step.signal,
      // Only when set, so that the specs of sagas without waits that continue or sleeps keep their fingerprint.
      ...(step.onTimeout === 'continue' ? { onTimeout: step.onTimeout } : {}),
      ...(step.sleep ? { sleep: { durationMs: step.sleep.durationMs, until: step.sleep.until } } : {}),
      ...(step.child ? { child: { type: step.child.type, version: step.child.version } } : {}),
      ...(step.fanOut ? { fanOut: { concurrency: step.fanOut.concurrency, keyed: step.fanOut.keyed } } : {}),
      // A spec read back from JSON keeps its steps' output schemas (the publisher adds them to a code's spec).
      ...(step.outputSchema ? { outputSchema: step.outputSchema } : {}),
    })),
  };
}

/** A spec read back from JSON, frozen, with its `stepsByName` index. */
export function specFromJson(json: SagaSpecJson): SagaSpec {
  // No prototype: a lookup by an unknown name such as "constructor" must find nothing.
  const stepsByName: Record<string, StepSpec> = Object.create(null);
  for (const step of json.steps) stepsByName[step.name] = step;
  return deepFreeze({
    ...json,
    stages: json.stages,
    stepsByName,
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
