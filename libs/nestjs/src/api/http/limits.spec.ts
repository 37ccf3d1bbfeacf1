import { Logger } from '@nestjs/common';
import { type AddressInfo, type Socket, createServer } from 'node:net';
import { shapeProblem } from './request-limits';
import { Redis } from 'ioredis';
import { RateLimiter } from './auth';
import { RATE_LIMIT_RETRY_MS, RATE_LIMIT_TIMEOUT_MS, RedisRateLimiter } from './rate-limit';

describe('body shape limits (shapeProblem)', () => {
  const nested = (depth: number) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  };

  it('accepts 32 levels and refuses 33, without recursion (100 000 levels do not overflow)', () => {
    expect(shapeProblem(nested(32), 32, 100)).toBeNull();
    expect(shapeProblem(nested(33), 32, 100)).toBe('the body is nested deeper than 32 levels');
    expect(shapeProblem(nested(100_000), 32, 100)).toBe('the body is nested deeper than 32 levels');
  });

  it('refuses long strings and keys, lone surrogates and prototype keys, naming no value', () => {
    expect(shapeProblem({ a: 'x'.repeat(101) }, 32, 100)).toBe('a string in the body is longer than 100 characters');
    expect(shapeProblem({ ['k'.repeat(101)]: 1 }, 32, 100)).toBe('a key in the body is longer than 100 characters');
    expect(shapeProblem({ a: 'ok \ud800' }, 32, 100)).toBe('a string in the body is not valid Unicode');
    expect(shapeProblem({ a: 'pair \ud83d\ude00 is fine' }, 32, 100)).toBeNull();
    expect(shapeProblem({ payload: { a: 'nul \u0000 here' } }, 32, 100)).toBe(
      'a string in the body contains a NUL character (\\u0000)',
    );
    expect(shapeProblem({ ['k\u0000']: 1 }, 32, 100)).toBe('a key in the body contains a NUL character (\\u0000)');
    expect(shapeProblem(JSON.parse('{"a":{"__proto__":{"x":1}}}'), 32, 100)).toMatch(/__proto__/);
    expect(shapeProblem({ input: { constructor: { prototype: {} } } }, 32, 100)).toMatch(/constructor/);
  });
});

describe('RateLimiter', () => {
  it('allows n per key per minute, then answers the seconds to wait; keys are counted apart', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(2, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('b')]).toEqual([null, null, null]);
    now += 15_000;
    expect(limiter.take('a')).toBe(45);
    now += 45_000;
    expect(limiter.take('a')).toBeNull();
  });

  it('0 turns it off', () => {
    const limiter = new RateLimiter(0);
    for (let i = 0; i < 1000; i++) expect(limiter.take('a')).toBeNull();
  });
});

describe('RedisRateLimiter', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('falls back to the in-process window when Redis does not answer, never throwing', async () => {
    // Nothing listens on port 1: every command fails at once.
    const redis = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    redis.on('error', () => undefined);
    let now = 1_000_000;
    const limiter = new RedisRateLimiter(redis, 2, 'p', new RateLimiter(2, () => now), () => now);
    try {
      expect([await limiter.take('a'), await limiter.take('a')]).toEqual([null, null]);
      expect(await limiter.take('a')).toBe(60);
      now += 60_000;
      expect(await limiter.take('a')).toBeNull();
    } finally {
      limiter.onApplicationShutdown();
    }
  });

  it('fails open within its timeout when Redis hangs, asks again only every few seconds, and logs it once', async () => {
    // Accepts connections, answers nothing: a Redis stopped with SIGSTOP, or behind a path that drops packets.
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const redis = new Redis(`redis://127.0.0.1:${(hung.address() as AddressInfo).port}`, {
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      commandTimeout: RATE_LIMIT_TIMEOUT_MS,
    });
    redis.on('error', () => undefined);
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let now = 1_000_000;
    const evals = jest.spyOn(redis, 'eval');
    const limiter = new RedisRateLimiter(redis, 2, 'p', new RateLimiter(2, () => now), () => now);
    try {
      const started = performance.now();
      expect(await limiter.take('a')).toBeNull();
      expect(performance.now() - started).toBeLessThan(RATE_LIMIT_TIMEOUT_MS + 300);
      // Counted in this process meanwhile, without asking Redis.
      expect(await limiter.take('a')).toBeNull();
      expect(await limiter.take('a')).toBe(60);
      expect(evals).toHaveBeenCalledTimes(1);
      now += RATE_LIMIT_RETRY_MS;
      expect(await limiter.take('b')).toBeNull();
      expect(evals).toHaveBeenCalledTimes(2);
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toMatch(/Redis did not answer the rate limit \(Command timed out\)/);
    } finally {
      warn.mockRestore();
      limiter.onApplicationShutdown();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
    }
  });

  it('0 turns it off without asking Redis', async () => {
    const redis = { eval: jest.fn() } as unknown as Redis;
    const limiter = new RedisRateLimiter(redis, 0, 'p', new RateLimiter(0));
    expect(await limiter.take('a')).toBeNull();
    expect((redis as unknown as { eval: jest.Mock }).eval).not.toHaveBeenCalled();
  });
});
