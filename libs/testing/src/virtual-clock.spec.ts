import { VirtualClock } from './virtual-clock';

describe('VirtualClock', () => {
  it('fires due timers by time, then in the order they were scheduled, and those they schedule for now', () => {
    const clock = new VirtualClock(1_000);
    const fired: string[] = [];
    clock.schedule(3_000, () => fired.push('c'));
    clock.schedule(2_000, () => fired.push('b1'));
    clock.schedule(2_000, () => {
      fired.push('b2');
      clock.schedule(clock.now, () => fired.push('b3, scheduled by b2'));
    });
    clock.schedule(500, () => fired.push('a, in the past: fires now'));

    expect(clock.fireDue()).toBe(1);
    expect(clock.next()?.at).toBe(2_000);
    clock.moveTo(2_000);
    expect(clock.fireDue()).toBe(3);
    clock.moveTo(1_500);
    expect(clock.now).toBe(2_000);

    expect(fired).toEqual(['a, in the past: fires now', 'b1', 'b2', 'b3, scheduled by b2']);
    expect(clock.next()?.at).toBe(3_000);
  });

  it('skips cancelled and dead timers without stopping there, and tells whether an owner has a live one', () => {
    const clock = new VirtualClock(0);
    const owner = {};
    let alive = true;
    const fired: string[] = [];
    clock.schedule(10, () => fired.push('cancelled')).cancel();
    clock.schedule(20, () => fired.push('dead'), { live: () => alive, owner });
    clock.schedule(30, () => fired.push('live'));

    expect(clock.pendingFor(owner)).toBe(true);
    alive = false;
    expect(clock.pendingFor(owner)).toBe(false);
    expect(clock.next()?.at).toBe(30);
    clock.moveTo(30);
    clock.fireDue();
    expect(fired).toEqual(['live']);
    expect(clock.next()).toBeUndefined();
  });
});
