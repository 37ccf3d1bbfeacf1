export const SAGA_DEFINITIONS = Symbol('SAGA_DEFINITIONS');
export const RUNTIME_OPTIONS = Symbol('RUNTIME_OPTIONS');

export interface RuntimeOptions {
  /** Concurrent step attempts per agent process. */
  agentConcurrency: number;
  /** A step still running after this long is recorded as RUNNING (fast steps skip that write). */
  runningMarkMs: number;
}
