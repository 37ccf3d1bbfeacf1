import { StatementBatcher } from './statement-batcher';

/** Group commit without a database: what goes into which statement, and who gets which answer. */
describe('StatementBatcher', () => {
  const row = (id: string) => ({ id });

  function setup(decide: (ids: string[]) => Set<string> | Error) {
    const statements: string[][] = [];
    let release: () => void = () => undefined;
    let gate = Promise.resolve();
    const batcher = new StatementBatcher(async (rows: { id: string }[]) => {
      const ids = rows.map((r) => r.id);
      statements.push(ids);
      await gate;
      const answer = decide(ids);
      if (answer instanceof Error) throw answer;
      return ids.map((id) => answer.has(id));
    });
    return {
      batcher,
      statements,
      hold: () => {
        gate = new Promise((r) => (release = r));
      },
      release: () => release(),
    };
  }

  it('sends what arrives in the same tick as one statement and answers each saga by its own compare-and-set', async () => {
    const { batcher, statements } = setup((ids) => new Set(ids.filter((id) => id !== 'b')));
    const answers = await Promise.all(['a', 'b', 'c'].map((id) => batcher.submit({ sagaId: id, row: row(id) })));
    expect(statements).toEqual([['a', 'b', 'c']]);
    expect(answers).toEqual([true, false, true]);
  });

  it('never puts two transitions of one saga in the same statement', async () => {
    const { batcher, statements } = setup((ids) => new Set(ids));
    await Promise.all([
      batcher.submit({ sagaId: 'a', row: row('a') }),
      batcher.submit({ sagaId: 'a', row: row('a') }),
      batcher.submit({ sagaId: 'b', row: row('b') }),
    ]);
    expect(statements).toEqual([['a', 'b'], ['a']]);
  });

  it('collects what arrives while a statement is in flight into the next one', async () => {
    const t = setup((ids) => new Set(ids));
    t.hold();
    // One statement at a time: what arrives meanwhile (other sagas, and the same saga again) waits for the next.
    const first = t.batcher.submit({ sagaId: 'a', row: row('a') });
    await new Promise((r) => setImmediate(r));
    const later = ['x', 'a', 'y'].map((id) => t.batcher.submit({ sagaId: id, row: row(id) }));
    await new Promise((r) => setImmediate(r));
    expect(t.statements).toEqual([['a']]);
    t.release();
    await Promise.all([first, ...later]);
    expect(t.statements).toEqual([['a'], ['x', 'a', 'y']]);
  });

  it('retries a failed statement one transition at a time, so one bad row fails only itself', async () => {
    const { batcher, statements } = setup((ids) =>
      ids.includes('bad') ? new Error('invalid input syntax') : new Set(ids),
    );
    const results = await Promise.allSettled(
      ['a', 'bad', 'c'].map((id) => batcher.submit({ sagaId: id, row: row(id) })),
    );
    expect(statements).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});
