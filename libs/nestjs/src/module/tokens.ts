/** Injection tokens of the engine's internal providers (see SagaModule). */
export const SAGA_DEFINITIONS = Symbol('SAGA_DEFINITIONS');
export const SAGA_ROLES = Symbol('SAGA_ROLES');
/** The module options, checked and with their defaults (ResolvedSagaOptions). */
export const RESOLVED_OPTIONS = Symbol('RESOLVED_OPTIONS');
export const RUNTIME_OPTIONS = Symbol('RUNTIME_OPTIONS');
export const SUPERVISOR_OPTIONS = Symbol('SUPERVISOR_OPTIONS');
/** The InputCipher (or null when no saga declares sensitive fields and no key is set). */
export const INPUT_CIPHER = Symbol('INPUT_CIPHER');

export interface RuntimeOptions {
  /** Concurrent step attempts per agent process and saga version. */
  agentConcurrency: number;
  /** A step still running after this long is recorded as RUNNING (fast steps skip that write). */
  runningMarkMs: number;
  /** On shutdown, how long the agent lets running steps finish and report before aborting them (default 10 s). */
  shutdownGraceMs?: number;
}

export interface SupervisorOptions {
  /** Pause between sweeps (a sweep that claimed a full batch is followed by another at once). */
  intervalMs: number;
  /** How long an attempt may be due before its job is checked for (and re-enqueued when lost). */
  scheduleToStartMs: number;
  /** Rows claimed per statement (default 100). */
  batchSize?: number;
  /** Finished sagas older than this are deleted; null or absent: kept forever. */
  retentionMs?: number | null;
  /** Deaths (started attempts found without an outcome past their deadline) after which a step is POISONED (default 2). */
  poisonAfterDeaths?: number;
}
