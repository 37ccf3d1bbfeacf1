import { AttemptIsolation, IsolationBusyError } from './attempt-isolation';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('AttemptIsolation', () => {
  it('runs an isolated attempt only once the others finished, and takes no new one meanwhile', async () => {
    const gate = new AttemptIsolation();
    const events: string[] = [];
    gate.onIsolation(
      () => events.push('pause'),
      () => events.push('resume'),
    );
    const a = await gate.enterShared(true);
    const b = await gate.enterShared(false);
    let alone: (() => void) | undefined;
    const waiting = gate.enterAlone().then((release) => (alone = release));
    await tick();
    expect(gate.active).toBe(true);
    expect(events).toEqual(['pause']);
    expect(alone).toBeUndefined();
    // From the queue: back to it at once. Another isolated one: likewise.
    await expect(gate.enterShared(true)).rejects.toBeInstanceOf(IsolationBusyError);
    await expect(gate.enterAlone()).rejects.toBeInstanceOf(IsolationBusyError);
    a();
    await tick();
    expect(alone).toBeUndefined();
    b();
    b(); // twice: nothing more
    await waiting;
    expect(alone).toBeDefined();
    // In-process (its slot taken just before): it waits for the end.
    let local = false;
    const late = gate.enterShared(false).then((release) => {
      local = true;
      return release;
    });
    await tick();
    expect(local).toBe(false);
    alone!();
    (await late)();
    expect(local).toBe(true);
    expect(gate.active).toBe(false);
    expect(events).toEqual(['pause', 'resume']);
  });

  it('lets the waiting attempts go on shutdown, without running them', async () => {
    const gate = new AttemptIsolation();
    const release = await gate.enterShared(true);
    const alone = gate.enterAlone();
    gate.close();
    await expect(alone).rejects.toBeInstanceOf(IsolationBusyError);
    release();
    await expect(gate.enterShared(false)).rejects.toBeInstanceOf(IsolationBusyError);
  });
});
