/**
 * Sagas for the tests that run agents as processes of their own (test/crash-containment.e2e-spec.ts,
 * test/fail-fast.e2e-spec.ts), run by scripts/support/probe-agent.ts. A step of them calls `process.abort()` for the
 * sagas marked so, which kills its agent as a native crash would (SIGABRT: no handler, no report, no graceful
 * shutdown); unmarked, they are quick sagas of three steps.
 */
import { existsSync } from 'node:fs';
import { defineSaga } from '@saga-engine/sdk';

export interface CrashProbeInput {
  /** The `risky` step aborts its agent (while `whileFileExists` exists, when given). */
  abort?: boolean;
  /** A file: `risky` aborts only while it exists (delete it to "deploy the fix"). */
  whileFileExists?: string;
  /** How long each step works, in ms (default 20). */
  workMs?: number;
}

const work = (input: CrashProbeInput, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, input.workMs ?? 20);
    signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
  });

function risky(input: CrashProbeInput): void {
  if (input.abort !== true) return;
  if (input.whileFileExists !== undefined && !existsSync(input.whileFileExists)) return;
  process.abort();
}

/** prepare (undone on compensation) -> risky -> finish. Unlimited retries: only crash containment ends a crash loop. */
export const crashProbe = defineSaga<CrashProbeInput>('crash-probe', {
  version: 1,
  defaults: { retry: { maximumAttempts: 0, initialInterval: '100ms', maximumInterval: '1s' }, timeout: '2s' },
})
  .step('prepare', {
    run: async ({ input, signal }) => {
      await work(input, signal);
      return { prepared: true };
    },
    compensate: () => undefined,
  })
  .step('risky', {
    run: async ({ input, signal }) => {
      risky(input);
      await work(input, signal);
      return { survived: true };
    },
    compensate: () => undefined,
  })
  .step('finish', {
    run: async ({ input, signal }) => {
      await work(input, signal);
      return { done: true };
    },
  })
  .build();

/** prepare -> commit (the pivot) -> risky: a poisoned step past the pivot leaves the saga FAILED, for an operator. */
export const crashAfterPivot = defineSaga<CrashProbeInput>('crash-after-pivot', {
  version: 1,
  defaults: { retry: { maximumAttempts: 0, initialInterval: '100ms', maximumInterval: '1s' }, timeout: '2s' },
})
  .step('prepare', { run: () => ({ prepared: true }), compensate: () => undefined })
  .step('commit', { run: () => ({ committed: true }), pivot: true })
  .step('risky', {
    run: async ({ input, signal }) => {
      risky(input);
      await work(input, signal);
      return { survived: true };
    },
  })
  .build();
