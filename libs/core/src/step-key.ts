/**
 * The idempotency key of an attempt of a step's action, as participants see it (`ctx.key`):
 *
 * - `<sagaId>:<step>`: every attempt of the step's first run (ordinary retries, an operator's `retry`);
 * - `<sagaId>:<step>:<itemKey>`: an item of a fan-out (its index, or the author's `itemKey`);
 * - `:rerun-<n>` appended once an operator re-ran the step `n` times (`POST /v1/sagas/{id}/steps/{step}/retry`): a deliberate re-run is a new operation for the participant, not a repeat of the first.
 *
 * The compensation's key is the action's key plus `:undo` (`undoKey`).
 */
export function stepKey(sagaId: string, step: string, run: number | undefined, itemKey?: string | number): string {
  const base = itemKey === undefined ? `${sagaId}:${step}` : `${sagaId}:${step}:${itemKey}`;
  return run === undefined || run === 0 ? base : `${base}:rerun-${run}`;
}

/** The compensation's idempotency key (`ctx.undoKey`). */
export function undoKey(key: string): string {
  return `${key}:undo`;
}
