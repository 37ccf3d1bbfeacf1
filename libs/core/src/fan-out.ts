import { CompensationStatus, StepStatus } from './status';
import type { FanOutState, ItemState } from './types';

/** The error of a fan-out step whose `items` (or `itemKey`) threw or returned no valid list: definite. */
export const FAN_OUT_ITEMS_ERROR = 'FAN_OUT_ITEMS_ERROR';
/** The error of a fan-out step that gave up because the saga began compensating (or was cancelled). */
export const FAN_OUT_ABANDONED = 'FAN_OUT_ABANDONED';

/** An item not dispatched yet. Shared (frozen): `transition` copies an item before its first edit. */
export const PENDING_ITEM: Readonly<ItemState> = Object.freeze({
  status: StepStatus.PENDING,
  attempt: 0,
  attemptBase: 0,
  output: null,
  error: null,
  outcomeUnknown: false,
  compensation: null,
});

const RUN_IN_FLIGHT: readonly StepStatus[] = [StepStatus.SCHEDULED, StepStatus.RUNNING, StepStatus.RETRYING];
const UNDO_IN_FLIGHT: readonly CompensationStatus[] = [
  CompensationStatus.SCHEDULED,
  CompensationStatus.RUNNING,
  CompensationStatus.RETRYING,
];

/** An attempt of the item's action is dispatched and has not reported its outcome yet. */
export function isItemInFlight(item: Readonly<ItemState>): boolean {
  return RUN_IN_FLIGHT.includes(item.status);
}

/** An attempt of the item's compensation is dispatched and has not reported its outcome yet. */
export function isItemCompensationInFlight(item: Readonly<ItemState>): boolean {
  return item.compensation !== null && UNDO_IN_FLIGHT.includes(item.compensation.status);
}

/** The item may have taken effect (it succeeded, or its outcome is unknown) and its undo was not dispatched. */
export function itemMayNeedUndo(item: Readonly<ItemState>): boolean {
  const mayHaveEffect =
    item.status === StepStatus.SUCCEEDED || (item.status === StepStatus.FAILED && item.outcomeUnknown);
  return mayHaveEffect && item.compensation === null;
}

/** What one item adds to each counter of its FanOutState. */
export interface ItemTally {
  running: number;
  undoing: number;
  succeeded: number;
  undoable: number;
  undoFailed: number;
}

export function tallyItem(item: Readonly<ItemState>): ItemTally {
  return {
    running: isItemInFlight(item) ? 1 : 0,
    undoing: isItemCompensationInFlight(item) ? 1 : 0,
    succeeded: item.status === StepStatus.SUCCEEDED ? 1 : 0,
    undoable: itemMayNeedUndo(item) ? 1 : 0,
    undoFailed: item.compensation?.status === CompensationStatus.FAILED ? 1 : 0,
  };
}

/** A fan-out of `count` items, none dispatched. */
export function newFanOut(count: number): FanOutState {
  return {
    items: new Array<ItemState>(count).fill(PENDING_ITEM),
    next: 0,
    undoNext: count - 1,
    running: 0,
    undoing: 0,
    succeeded: 0,
    undoable: 0,
    undoFailed: 0,
  };
}

/**
 * The FanOutState of `items` as the store reads them back: the counters counted, the dispatch cursor at the first
 * PENDING item, the undo cursor at the top (it skips what needs no undo).
 */
export function fanOutState(items: ItemState[]): FanOutState {
  const state: FanOutState = {
    items,
    next: items.length,
    undoNext: items.length - 1,
    running: 0,
    undoing: 0,
    succeeded: 0,
    undoable: 0,
    undoFailed: 0,
  };
  items.forEach((item, index) => {
    if (item.status === StepStatus.PENDING && state.next === items.length) state.next = index;
    const t = tallyItem(item);
    state.running += t.running;
    state.undoing += t.undoing;
    state.succeeded += t.succeeded;
    state.undoable += t.undoable;
    state.undoFailed += t.undoFailed;
  });
  return state;
}

/** How many items are in each status (for views and tests). */
export function countItems(items: readonly Readonly<ItemState>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item.status] = (counts[item.status] ?? 0) + 1;
  return counts;
}
