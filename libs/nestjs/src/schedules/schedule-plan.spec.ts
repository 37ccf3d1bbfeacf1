import {
  CatchUpPolicy,
  cronProblem,
  decideOverlap,
  nextTicks,
  planTicks,
  tickKey,
  timeZoneProblem,
} from './schedule-plan';

const at = (iso: string) => new Date(iso);
const isos = (dates: Date[]) => dates.map((d) => d.toISOString());
const everySecond = { cron: '* * * * * *', timeZone: 'UTC' };
const weekdays9 = { cron: '0 9 * * 1-5', timeZone: 'Europe/Berlin' };

describe('cron and time zone checks', () => {
  it.each(['0 9 * * 1-5', '*/5 * * * * *', '@daily', '0 0 1 1 *'])('accepts %p', (cron) => {
    expect(cronProblem(cron)).toBeNull();
  });

  it.each([
    ['61 * * * *', 'cron is not a valid cron expression: Invalid value for minute: 61'],
    ['* * * *', 'cron is not a valid cron expression'],
    ['* * * * * * *', 'cron is not a valid cron expression'],
    ['', 'cron must be a cron expression of 5 or 6 fields'],
    [42, 'cron must be a cron expression of 5 or 6 fields'],
    ['0 0 30 2 *', 'cron never fires'],
  ])('refuses %p', (cron, message) => {
    expect(cronProblem(cron)).toContain(message);
  });

  it('accepts IANA zones and refuses others', () => {
    expect(timeZoneProblem('Europe/Berlin')).toBeNull();
    expect(timeZoneProblem('UTC')).toBeNull();
    expect(timeZoneProblem('Mars/Base')).toBe(
      'timeZone must be an IANA time zone such as "Europe/Berlin" or "UTC" (got "Mars/Base")',
    );
    expect(timeZoneProblem(7)).toContain('timeZone must be an IANA time zone');
  });
});

describe('ticks', () => {
  it('reads the fields in the time zone, across a DST change', () => {
    // Berlin goes from UTC+1 to UTC+2 on 2027-03-28.
    expect(isos(nextTicks(weekdays9, at('2027-03-25T12:00:00Z'), 3))).toEqual([
      '2027-03-26T08:00:00.000Z',
      '2027-03-29T07:00:00.000Z',
      '2027-03-30T07:00:00.000Z',
    ]);
  });

  it('keys a tick by schedule and instant, the same in every orchestrator', () => {
    expect(tickKey('0193', at('2027-03-26T08:00:00Z'))).toBe('schedule:0193:2027-03-26T08:00:00.000Z');
  });
});

describe('planTicks (a fake clock: `now` is given)', () => {
  const plan = (catchUp: CatchUpPolicy, from: string, now: string, limit = 10, spec = everySecond) =>
    planTicks(spec, { from: at(from), now: at(now), catchUp, limit, graceMs: 60_000 });

  it.each(Object.values(CatchUpPolicy))('starts the one due tick, found within a sweep, under %p', (catchUp) => {
    const p = plan(catchUp, '2026-12-01T10:00:05Z', '2026-12-01T10:00:05.400Z');
    expect(isos(p.fire)).toEqual(['2026-12-01T10:00:05.000Z']);
    expect(p.skipped).toBeNull();
    expect(p.next?.toISOString()).toBe('2026-12-01T10:00:06.000Z');
  });

  it('does nothing before the tick is due', () => {
    const p = plan('all', '2026-12-01T10:00:05Z', '2026-12-01T10:00:04.900Z');
    expect(p).toEqual({ fire: [], skipped: null, next: at('2026-12-01T10:00:05Z') });
  });

  it("after a downtime, 'all' starts every missed tick oldest first, up to the limit, skipping older ones", () => {
    const p = plan('all', '2026-12-01T10:00:00Z', '2026-12-01T10:00:04.500Z', 3);
    expect(isos(p.fire)).toEqual(['2026-12-01T10:00:02.000Z', '2026-12-01T10:00:03.000Z', '2026-12-01T10:00:04.000Z']);
    expect(p.skipped).toEqual({ newest: at('2026-12-01T10:00:01Z'), count: 2, more: false });
    expect(p.next?.toISOString()).toBe('2026-12-01T10:00:05.000Z');
    expect(plan('all', '2026-12-01T10:00:00Z', '2026-12-01T10:00:04.500Z', 10).fire).toHaveLength(5);
  });

  it("after a downtime, 'last' starts only the newest missed tick", () => {
    const p = plan('last', '2026-12-01T10:00:00Z', '2026-12-01T10:00:04.500Z');
    expect(isos(p.fire)).toEqual(['2026-12-01T10:00:04.000Z']);
    expect(p.skipped).toEqual({ newest: at('2026-12-01T10:00:03Z'), count: 4, more: false });
  });

  it("'none' starts the newest tick only within the grace: a daily tick found hours late is skipped", () => {
    const daily = { cron: '0 3 * * *', timeZone: 'UTC' };
    const late = plan('none', '2026-12-01T03:00:00Z', '2026-12-01T07:00:00Z', 10, daily);
    expect(late.fire).toEqual([]);
    expect(late.skipped).toEqual({ newest: at('2026-12-01T03:00:00Z'), count: 1, more: false });
    expect(late.next?.toISOString()).toBe('2026-12-02T03:00:00.000Z');
    expect(plan('last', '2026-12-01T03:00:00Z', '2026-12-01T07:00:00Z', 10, daily).fire).toHaveLength(1);
    const onTime = plan('none', '2026-12-01T03:00:00Z', '2026-12-01T03:00:30Z', 10, daily);
    expect(isos(onTime.fire)).toEqual(['2026-12-01T03:00:00.000Z']);
  });

  it('counts skipped ticks up to a cap, however long the downtime', () => {
    const p = planTicks(everySecond, {
      from: at('2026-12-01T00:00:00Z'),
      now: at('2026-12-08T00:00:00Z'),
      catchUp: 'last',
      limit: 10,
      graceMs: 60_000,
      countCap: 100,
    });
    expect(isos(p.fire)).toEqual(['2026-12-08T00:00:00.000Z']);
    expect(p.skipped).toMatchObject({ count: 100, more: true });
  });
});

describe('decideOverlap', () => {
  it.each([
    ['skip', false, false, 'start'],
    ['skip', true, false, 'skip'],
    ['allow', true, false, 'start'],
    ['allow', true, true, 'start'],
    ['buffer', false, false, 'start'],
    ['buffer', true, false, 'buffer'],
    ['buffer', true, true, 'skip'],
  ] as const)('%s, previous active %p, one buffered %p: %s', (policy, active, buffered, decision) => {
    expect(decideOverlap(policy, active, buffered)).toBe(decision);
  });
});
