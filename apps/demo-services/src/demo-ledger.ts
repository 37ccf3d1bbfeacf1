/** One effect a participant applied (API.md: `GET /v1/demo/ledger`). */
export interface LedgerEntry {
  service: string;
  operation: string;
  sagaId: string;
  idempotencyKey: string;
  /** Times the effect was applied: more than 1 would be a double effect. */
  count: number;
  /** Times it was asked for (repeats are answered from the first result). */
  requests: number;
  at: string;
}

/**
 * The participants' memory of what they did, by idempotency key: each operation is applied at most once per key
 * and a repeat gets the first answer back. Lets a test prove that no effect ran twice and every undo ran.
 */
export class DemoLedger {
  private readonly entries = new Map<string, LedgerEntry & { result: unknown }>();

  async once<T>(
    service: string,
    operation: string,
    sagaId: string,
    idempotencyKey: string,
    effect: () => T,
  ): Promise<T> {
    const id = `${service}/${operation}/${idempotencyKey}`;
    const existing = this.entries.get(id);
    if (existing) {
      existing.requests++;
      return existing.result as T;
    }
    const result = effect();
    this.entries.set(id, {
      service,
      operation,
      sagaId,
      idempotencyKey,
      count: 1,
      requests: 1,
      at: new Date().toISOString(),
      result,
    });
    return result;
  }

  list(sagaId?: string): LedgerEntry[] {
    return [...this.entries.values()]
      .filter((e) => sagaId === undefined || e.sagaId === sagaId)
      .map(({ result: _result, ...entry }) => entry);
  }
}
