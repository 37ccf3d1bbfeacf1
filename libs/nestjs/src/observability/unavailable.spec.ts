import { Logger } from '@nestjs/common';
import { DependencyMonitor } from './dependency-monitor';
import { UnavailableError, unavailability } from './unavailable';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('unavailability', () => {
  it.each([
    [pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'), 'postgres', true],
    [pgError('57P01', 'terminating connection due to administrator command'), 'postgres', true],
    [pgError('57P03', 'the database system is starting up'), 'postgres', true],
    [pgError('08006', 'connection failure'), 'postgres', true],
    [pgError('53300', 'sorry, too many clients already'), 'postgres', false],
    [pgError('57014', 'canceling statement due to statement timeout'), 'postgres', false],
    [new Error('Connection terminated unexpectedly'), 'postgres', true],
    [new Error('Connection terminated due to connection timeout'), 'postgres', true],
    [new Error('timeout exceeded when trying to connect'), 'postgres', true],
    [new Error('Query read timeout'), 'postgres', true],
    [new Error('Command timed out'), 'redis', true],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), 'redis', true],
    [new UnavailableError('postgres', 'PostgreSQL is unavailable'), 'postgres', true],
  ])('%s: %s', (error, dependency, unreachable) => {
    expect(unavailability(error)).toMatchObject({ dependency, unreachable });
  });

  it('looks inside what TypeORM and others wrap', () => {
    const wrapped = Object.assign(new Error('query failed'), { driverError: pgError('57P01') });
    expect(unavailability(wrapped)).toMatchObject({ dependency: 'postgres', unreachable: true });
    expect(unavailability(new Error('outer', { cause: new Error('Command timed out') }))).toMatchObject({
      dependency: 'redis',
    });
  });

  it('is null for everything else: a bug, a constraint, bad input', () => {
    expect(unavailability(new TypeError('x is undefined'))).toBeNull();
    expect(unavailability(pgError('23505', 'duplicate key value'))).toBeNull();
    expect(unavailability(pgError('42P01', 'relation does not exist'))).toBeNull();
    expect(unavailability('a string')).toBeNull();
    expect(unavailability(null)).toBeNull();
  });
});

describe('DependencyMonitor', () => {
  let warn: jest.SpyInstance;
  let log: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());

  it('logs an outage once when it starts and once when it ends, however many failures come between', () => {
    const monitor = new DependencyMonitor();
    const downs: string[] = [];
    monitor.onDown((d) => downs.push(d));
    for (let i = 0; i < 100; i++)
      expect(monitor.failed('postgres', pgError('ECONNREFUSED', 'connect ECONNREFUSED'), 'request')).toBe(true);
    expect(monitor.isDown('postgres')).toBe(true);
    expect(downs).toEqual(['postgres']);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/PostgreSQL is unavailable \(request: .*ECONNREFUSED/);
    monitor.succeeded('postgres');
    monitor.succeeded('postgres');
    expect(monitor.level('postgres')).toBe('up');
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0][0]).toMatch(/PostgreSQL is available again after .* s \(100 failed calls meanwhile\)/);
  });

  it('leaves the level alone for errors that are not about availability, and for "too busy" ones', () => {
    const monitor = new DependencyMonitor();
    expect(monitor.failed('postgres', new Error('a bug'))).toBe(false);
    expect(monitor.failed('postgres', pgError('57014', 'canceling statement due to statement timeout'))).toBe(true);
    expect(monitor.failed('postgres', pgError('53300', 'too many clients'))).toBe(true);
    expect(monitor.level('postgres')).toBe('up');
    // "Too busy" is said at most once a minute.
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/PostgreSQL is too busy/);
  });

  it("records a probe's verdict: degraded, then healthy again, each logged once", () => {
    const monitor = new DependencyMonitor();
    monitor.record('redis', 'degraded', 'refuses writes: OOM command not allowed');
    monitor.record('redis', 'degraded', 'refuses writes: OOM command not allowed');
    expect(monitor.level('redis')).toBe('degraded');
    expect(monitor.known()).toEqual(['redis']);
    monitor.record('redis', 'up', null);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0][0]).toMatch(/Redis is healthy again/);
  });
});
