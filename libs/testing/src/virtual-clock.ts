/** A timer of the virtual clock. */
export interface VirtualTimer {
  /** Virtual time (ms since the epoch) it fires at. */
  readonly at: number;
  /** Drops it; a cancelled timer never fires and never moves the clock. */
  cancel(): void;
}

export interface ScheduleOptions {
  /**
   * Asked when the timer is the next one: false drops it without firing and without moving the clock there (an
   * attempt that is stale by then, a deadline whose wait already ended), as the agent drops a stale job.
   */
  live?: () => boolean;
  /** Whose timer it is, for `pendingFor` (a run is not settled while a timer of its own is pending). */
  owner?: object;
}

interface Entry extends VirtualTimer {
  readonly seq: number;
  readonly fire: () => void;
  readonly live: () => boolean;
  readonly owner: object | undefined;
  cancelled: boolean;
}

/**
 * Time that moves only when told to: timers fire in the order of their time, then of their scheduling (so that
 * events scheduled for the same instant keep the order they were sent in). Nothing here knows about sagas.
 */
export class VirtualClock {
  #now: number;
  #seq = 0;
  /** Sorted by (at, seq). Few entries at a time (a saga's attempts, deadlines and scheduled events). */
  readonly #timers: Entry[] = [];

  constructor(startMs: number) {
    this.#now = startMs;
  }

  get now(): number {
    return this.#now;
  }

  schedule(at: number, fire: () => void, options: ScheduleOptions = {}): VirtualTimer {
    const entry: Entry = {
      at: Math.max(at, this.#now),
      seq: this.#seq++,
      fire,
      live: options.live ?? (() => true),
      owner: options.owner,
      cancelled: false,
      cancel: () => {
        entry.cancelled = true;
      },
    };
    let index = this.#timers.length;
    while (index > 0 && this.#timers[index - 1].at > entry.at) index--;
    this.#timers.splice(index, 0, entry);
    return entry;
  }

  /** The earliest timer still live, dropping the cancelled and dead ones in front of it. */
  next(): VirtualTimer | undefined {
    while (this.#timers.length > 0) {
      const first = this.#timers[0];
      if (!first.cancelled && first.live()) return first;
      this.#timers.shift();
    }
    return undefined;
  }

  /** Fires, in order, every live timer due now (those it schedules for now included). Returns how many fired. */
  fireDue(): number {
    let fired = 0;
    for (let next = this.next(); next !== undefined && next.at <= this.#now; next = this.next()) {
      const entry = this.#timers.shift()!;
      fired++;
      entry.fire();
    }
    return fired;
  }

  /** Moves the clock forward to `at` (never backwards). */
  moveTo(at: number): void {
    this.#now = Math.max(this.#now, at);
  }

  /** Whether a live timer of `owner` is pending. */
  pendingFor(owner: object): boolean {
    return this.#timers.some((entry) => entry.owner === owner && !entry.cancelled && entry.live());
  }
}
