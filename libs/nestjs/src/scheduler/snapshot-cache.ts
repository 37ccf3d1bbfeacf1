import type { SagaSnapshot } from '../store/saga-store';

interface Entry {
  snapshot: SagaSnapshot;
  /** performance.now() when this process last committed or read it. */
  at: number;
}

/**
 * The last state this process committed or read per saga, so that an agent running the next step of a saga this
 * process just advanced needs no extra read. Never trusted blindly: every write is a compare-and-set, and callers
 * re-read on a miss, on an ignored event, or when the entry is older than `maxAgeMs`.
 */
export class SnapshotCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxEntries = 10_000,
    readonly maxAgeMs = 2_000,
  ) {}

  /** The snapshot if it is fresh enough to act on without re-reading. */
  getFresh(id: string): SagaSnapshot | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (performance.now() - entry.at > this.maxAgeMs) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.snapshot;
  }

  set(snapshot: SagaSnapshot): void {
    this.entries.delete(snapshot.id);
    this.entries.set(snapshot.id, { snapshot, at: performance.now() });
    if (this.entries.size > this.maxEntries) {
      // Map iteration is insertion order: the first key is the least recently set.
      this.entries.delete(this.entries.keys().next().value!);
    }
  }

  delete(id: string): void {
    this.entries.delete(id);
  }
}
