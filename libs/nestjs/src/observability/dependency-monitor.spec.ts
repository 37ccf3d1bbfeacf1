import { Logger } from '@nestjs/common';
import { ANSWERED_RECENTLY_MS, DependencyMonitor } from './dependency-monitor';

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const terminated = () =>
  Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

describe('DependencyMonitor', () => {
  let now = 1_000_000;
  const monitor = () => {
    const m = new DependencyMonitor();
    m.now = () => now;
    return m;
  };
  beforeAll(() => Logger.overrideLogger(false));

  it("marks a dependency down on a caller's failure, and up again on a success, logging each change once", () => {
    const m = monitor();
    expect(m.failed('postgres', refused(), 'request')).toBe(true);
    expect(m.isDown('postgres')).toBe(true);
    expect(m.failed('postgres', new Error('a bug'))).toBe(false);
    m.succeeded('postgres');
    expect(m.level('postgres')).toBe('up');
  });

  it('does not take a connection that died with a restart for an outage while the dependency answers', () => {
    const m = monitor();
    const down: string[] = [];
    m.onDown((d) => down.push(d));
    m.record('postgres', 'up', null); // the watchdog's probe
    now += ANSWERED_RECENTLY_MS - 1;
    // An old connection fails after the restart: the caller's request is answered 503, the others go on.
    expect(m.failed('postgres', terminated(), 'agent')).toBe(true);
    expect(m.isDown('postgres')).toBe(false);
    expect(down).toEqual([]);
    // Nothing has answered for a while: a failure is an outage.
    now += ANSWERED_RECENTLY_MS;
    m.failed('postgres', refused(), 'request');
    expect(m.isDown('postgres')).toBe(true);
    expect(down).toEqual(['postgres']);
    // A success by a caller counts as an answer too; a probe that finds it down forgets it.
    m.succeeded('postgres');
    m.record('postgres', 'down', 'probe: no answer');
    m.failed('postgres', refused(), 'request');
    expect(m.isDown('postgres')).toBe(true);
  });
});
