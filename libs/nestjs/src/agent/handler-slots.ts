/** Gives back a slot that `tryTake` or `take` gave; calling it again does nothing. */
export type SlotRelease = () => void;

/**
 * The `AGENT_CONCURRENCY` handlers one agent process runs at once for one saga version: one count for the attempts
 * it runs in-process (right after the commit that dispatched them) and those it takes from the queue.
 *
 * An attempt from the queue waits here, in line, before it is marked started: its wait is schedule-to-start (its
 * job is taken, not started; the supervisor leaves it be), never its start-to-close budget. An attempt to run
 * in-process takes a slot when one is free and nobody waits for it; otherwise it waits in the same line, for a
 * short while (see StepWorker). So a participant never sees more than `AGENT_CONCURRENCY` calls at once from one
 * process for one saga version (it saw twice that when the two were counted apart, and the calls beyond its own
 * capacity queued inside it, on their timeout's clock).
 */
export class HandlerSlots {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  /** Called whenever one leaves the line (given a slot, or gone): see StepWorker's starts that wait for room. */
  onLeave: () => void = () => undefined;

  constructor(readonly size: number) {
    this.free = size;
  }

  /** Slots held now. */
  get busy(): number {
    return this.size - this.free;
  }

  /** A slot now, or null: all are held, or an attempt from the queue waits for the next one. */
  tryTake(): SlotRelease | null {
    if (this.free === 0 || this.waiters.length > 0) return null;
    this.free--;
    return this.release();
  }

  /** Those waiting for a slot now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** A slot, once one is free (first come, first served). */
  async take(): Promise<SlotRelease> {
    return this.tryTake() ?? (await this.wait().granted);
  }

  /**
   * A place in line for the next free slot: `granted` resolves with it. `cancel` leaves the line and answers true,
   * or answers false when the slot was given already (then `granted` has it, to be released).
   */
  wait(): { granted: Promise<SlotRelease>; cancel: () => boolean } {
    let waiter!: () => void;
    const granted = new Promise<SlotRelease>((resolve) => {
      waiter = () => resolve(this.release());
    });
    this.waiters.push(waiter);
    return {
      granted,
      cancel: () => {
        const at = this.waiters.indexOf(waiter);
        if (at < 0) return false;
        this.waiters.splice(at, 1);
        this.onLeave();
        return true;
      },
    };
  }

  /** A released slot goes to the first in line (it stays held), else back to the free ones. */
  private release(): SlotRelease {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiters.shift();
      if (next) {
        next();
        this.onLeave();
      } else this.free++;
    };
  }
}
