import { Injectable } from '@nestjs/common';

/** Releases what `enterShared` or `enterAlone` gave; calling it again does nothing. */
export type Release = () => void;

/**
 * An attempt from the queue that cannot run here now (another runs alone): its job goes back to the queue, for
 * another agent (or this one, later). It was not started: nothing about it is recorded.
 */
export class IsolationBusyError extends Error {
  override readonly name = 'IsolationBusyError';
}

/**
 * Crash containment in one agent process: an attempt that may kill its agent (its step did before, or its process
 * died while it ran in-process: the job says `isolate`) runs alone. From the moment such an attempt comes, the agent
 * takes no other work: its workers pause, nothing runs in-process, and a job that arrives anyway goes back to the
 * queue at once (IsolationBusyError), so that no attempt waits here, taken but not started, for an agent that may
 * die. The attempts already running finish; then it runs, with nothing beside it; then the agent takes work again.
 * So if it kills the process, it takes no other saga's attempt down with it, and its death is its own (another
 * step's attempts that were merely there when it died do not collect deaths that are not theirs).
 *
 * Every handler run holds the gate: shared by ordinary attempts, alone by such an attempt (one at a time).
 */
@Injectable()
export class AttemptIsolation {
  private shared = 0;
  private isolating = false;
  private closed = false;
  private waiters: (() => void)[] = [];
  private drained: (() => void) | null = null;
  private readonly listeners: { begin: () => void; end: () => void }[] = [];

  /** An attempt runs alone, or waits for the others to finish to do so: take no new work. */
  get active(): boolean {
    return this.isolating;
  }

  /** Calls `begin` when an attempt starts waiting to run alone, `end` when it has run. */
  onIsolation(begin: () => void, end: () => void): void {
    this.listeners.push({ begin, end });
  }

  /**
   * An ordinary attempt. While one runs alone: from the queue (`bounce`), IsolationBusyError; in-process (its slot
   * was taken just before the isolation began), it waits for the end.
   */
  async enterShared(bounce: boolean): Promise<Release> {
    while (this.isolating) {
      if (bounce) throw new IsolationBusyError('an attempt runs alone on this agent');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.closed) throw new IsolationBusyError('agent shutting down');
    this.shared++;
    return once(() => {
      this.shared--;
      if (this.shared === 0) this.drained?.();
    });
  }

  /** An attempt that may kill the agent: IsolationBusyError while another runs alone, else waits for the others. */
  async enterAlone(): Promise<Release> {
    if (this.isolating) throw new IsolationBusyError('an attempt runs alone on this agent');
    if (this.closed) throw new IsolationBusyError('agent shutting down');
    this.isolating = true;
    for (const l of this.listeners) l.begin();
    const release = once(() => {
      this.isolating = false;
      this.drained = null;
      for (const l of this.listeners) l.end();
      this.wake();
    });
    if (this.shared > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    this.drained = null;
    if (this.closed) {
      release();
      throw new IsolationBusyError('agent shutting down');
    }
    return release;
  }

  /** On shutdown: nobody waits at the gate any longer (the attempts that did are not started, and not marked). */
  close(): void {
    this.closed = true;
    this.drained?.();
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

function once(fn: () => void): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
