/**
 * Rows in one statement at most, and statements in flight at once: one, so that what arrives while it runs all
 * goes into the next (with more at once, a process with a few sagas moving wrote them in statements of one or two,
 * and PostgreSQL's CPU per saga doubled as agents were added; issue 20).
 */
const MAX_BATCH = 200;
const MAX_BATCHES_IN_FLIGHT = 1;

interface Pending<R, V> {
  sagaId: string;
  row: R;
  resolve: (answer: V) => void;
  reject: (error: unknown) => void;
}

/**
 * Many callers' rows as one statement: the group commit of SagaStore (its inserts and its transitions) and its
 * loads. Collects rows while up to MAX_BATCHES_IN_FLIGHT statements run; each statement takes what waits (one row
 * per saga per statement: a second one of the same saga waits for the next), and `write` answers each row, in
 * order. Idle, a row goes alone and at once (in the same tick's statement). A row never joins a statement that
 * started before it was submitted, so a load sees every commit that ended before it was asked for. A statement that
 * fails (which only a broken row should cause) is retried one row at a time, so that one bad row fails only itself.
 */
export class StatementBatcher<R, V> {
  private queue: Pending<R, V>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly write: (rows: R[]) => Promise<V[]>) {}

  submit(item: { sagaId: string; row: R }): Promise<V> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...item, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.scheduled || this.inFlight >= MAX_BATCHES_IN_FLIGHT || this.queue.length === 0) return;
    // Let the rows submitted in the same tick join the statement.
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < MAX_BATCHES_IN_FLIGHT && this.queue.length > 0) {
      const batch: Pending<R, V>[] = [];
      const rest: Pending<R, V>[] = [];
      const sagas = new Set<string>();
      for (const item of this.queue) {
        if (batch.length < MAX_BATCH && !sagas.has(item.sagaId)) {
          sagas.add(item.sagaId);
          batch.push(item);
        } else rest.push(item);
      }
      this.queue = rest;
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        this.kick();
      });
    }
  }

  private async run(batch: Pending<R, V>[]): Promise<void> {
    try {
      const answers = await this.write(batch.map((p) => p.row));
      batch.forEach((p, i) => p.resolve(answers[i]));
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      await Promise.all(batch.map((p) => this.run([p])));
    }
  }
}
