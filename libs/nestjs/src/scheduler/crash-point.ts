import type { SagaCommand } from '@saga-engine/core';

/**
 * TEST HOOK, not a feature: crash points for the recovery tests (test/recovery.e2e-spec.ts), in the manner of
 * DBOS's debug triggers. Off unless the environment variable is set; never set it in production.
 *
 * `SAGA_CRASH_POINT=after-commit:<step>`: the process SIGKILLs itself right after it committed a transition that
 * dispatches `<step>` (either phase), before the job is enqueued. What that leaves behind is exactly what a
 * power cut at that instant would: a durable SCHEDULED attempt with no job, which only the supervisor can find.
 */
const spec = process.env.SAGA_CRASH_POINT ?? '';
const afterCommitStep = /^after-commit:(.+)$/.exec(spec)?.[1];
/**
 * `SAGA_CRASH_POINT=after-end:<type>`: the process SIGKILLs itself right after it committed the transition that
 * ended a child saga of type `<type>`, before it told the parent: only the parent's step row, which that commit
 * woke, remains for the supervisor to find.
 */
const afterEndType = /^after-end:(.+)$/.exec(spec)?.[1];

export function crashAfterCommit(commands: readonly SagaCommand[]): void {
  if (afterCommitStep === undefined) return;
  if (!commands.some((c) => c.type === 'DispatchStep' && c.step === afterCommitStep)) return;
  die();
}

export function crashAfterEnd(type: string): void {
  if (afterEndType === undefined || afterEndType !== type) return;
  die();
}

function die(): void {
  process.stderr.write(`SAGA_CRASH_POINT ${spec}: killing process ${process.pid}\n`);
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered asynchronously: block, so that not one more line of ours runs (no enqueue, no flush).
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
}
