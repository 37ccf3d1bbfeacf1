import { Logger } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { inOrder, shapeProblem } from './request-limits';
import { Redis } from 'ioredis';
import { type AddressInfo, type Server, createServer } from 'node:net';
import { AuthRateLimits } from './rate-limit';

describe('inOrder: several middleware functions as one', () => {
  const req = { method: 'POST', url: '/v1/sagas' } as Request;
  const res = {} as Response;
  const run = (middleware: ReturnType<typeof inOrder>) =>
    new Promise<unknown>((resolve) =>
      middleware(req, res, ((error?: unknown) => resolve(error ?? 'next')) as NextFunction),
    );

  it('runs each in order, then the next of the app', async () => {
    const seen: string[] = [];
    const mark = (name: string) => (_q: Request, _s: Response, next: NextFunction) => {
      seen.push(name);
      setImmediate(next); // asynchronous, as the key check and the body parser are
    };
    await expect(run(inOrder(mark('headers'), mark('key'), mark('body')))).resolves.toBe('next');
    expect(seen).toEqual(['headers', 'key', 'body']);
  });

  it('stops at one that answers, and hands an error passed or thrown to the app', async () => {
    const seen: string[] = [];
    const answers = () => seen.push('answered');
    const never = () => seen.push('ran after the answer');
    const middleware = inOrder(answers, never);
    let called = false;
    middleware(req, res, (() => (called = true)) as NextFunction);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['answered']);
    expect(called).toBe(false);

    const failure = new Error('refused');
    await expect(run(inOrder((_q, _s, next) => next(failure), never))).resolves.toBe(failure);
    await expect(
      run(
        inOrder(() => {
          throw failure;
        }, never),
      ),
    ).resolves.toBe(failure);
    expect(seen).toEqual(['answered']);
  });
});

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

describe('AuthRateLimits: requests per key', () => {
  it('allows n per key per minute, then answers the seconds to wait; keys are counted apart', async () => {
    const limits = new AuthRateLimits({ perKeyPerMinute: 2, failuresPerAddress: 0 });
    expect([await limits.takeRequest('a'), await limits.takeRequest('a'), await limits.takeRequest('b')]).toEqual([
      null,
      null,
      null,
    ]);
    const wait = await limits.takeRequest('a');
    expect(wait).toBeGreaterThanOrEqual(59);
    expect(wait).toBeLessThanOrEqual(60);
  });

  it('0 turns it off', async () => {
    const limits = new AuthRateLimits({ perKeyPerMinute: 0, failuresPerAddress: 0 });
    for (let i = 0; i < 1000; i++) expect(await limits.takeRequest('a')).toBeNull();
  });
});

describe('AuthRateLimits: wrong keys per address, with exponential back-off', () => {
  it('lets n through as 401s (the first one logged), then blocks 30 s, then 60 s, 120 s ... up to the maximum', async () => {
    const limits = new AuthRateLimits({ perKeyPerMinute: 0, failuresPerAddress: 3, maxBlockSeconds: 100 });
    const verdicts = [];
    for (let i = 0; i < 6; i++) verdicts.push(await limits.failed('10.0.0.1'));
    expect(verdicts.map((v) => v.retryAfter)).toEqual([null, null, null, 30, 30, 30]);
    expect(verdicts.map((v) => v.first)).toEqual([true, false, false, false, false, false]);
    // Only the failure that crossed the limit started the block.
    expect(verdicts.map((v) => v.blockStarted)).toEqual([null, null, null, 1, null, null]);
    // Another address has its own budget.
    expect((await limits.failed('10.0.0.2')).retryAfter).toBeNull();
  });

  it('doubles the block at each new one, capped', async () => {
    const limits = new AuthRateLimits({
      perKeyPerMinute: 0,
      failuresPerAddress: 1,
      firstBlockSeconds: 1,
      maxBlockSeconds: 3,
    });
    const blocks: (number | null)[] = [];
    for (let round = 0; round < 3; round++) {
      await limits.failed('10.0.0.3');
      const verdict = await limits.failed('10.0.0.3');
      blocks.push(verdict.retryAfter);
      // The block ends; the next failures count from zero again, the next block is longer.
      await new Promise((resolve) => setTimeout(resolve, (verdict.retryAfter ?? 0) * 1000 + 50));
    }
    expect(blocks).toEqual([1, 2, 3]);
  }, 15_000);

  it('counts as many concurrent failures once: one block, not one per request', async () => {
    const limits = new AuthRateLimits({ perKeyPerMinute: 0, failuresPerAddress: 5 });
    const verdicts = await Promise.all(Array.from({ length: 200 }, () => limits.failed('10.0.0.4')));
    expect(verdicts.filter((v) => v.blockStarted !== null)).toHaveLength(1);
    expect(verdicts.filter((v) => v.retryAfter === null)).toHaveLength(5);
  });
});

describe('AuthRateLimits on a Redis that fails', () => {
  const quiet = (redis: Redis) => {
    redis.on('error', () => undefined);
    return redis;
  };

  it('down: counts per process (the insurance limiter), never throwing nor refusing for Redis', async () => {
    // Nothing listens on port 1: the connection is never ready.
    const redis = quiet(
      new Redis('redis://127.0.0.1:1', {
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
        retryStrategy: () => null,
      }),
    );
    const limits = new AuthRateLimits({ perKeyPerMinute: 2, failuresPerAddress: 1 }, redis, 'p');
    try {
      expect([await limits.takeRequest('a'), await limits.takeRequest('a')]).toEqual([null, null]);
      expect(await limits.takeRequest('a')).toBeGreaterThanOrEqual(59);
      expect((await limits.failed('10.0.0.5')).retryAfter).toBeNull();
      expect((await limits.failed('10.0.0.5')).retryAfter).toBe(30);
    } finally {
      limits.onApplicationShutdown();
    }
  });

  it('slow (accepts connections, never answers): each check gives up after its command timeout', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const redis = quiet(
      new Redis(`redis://127.0.0.1:${port}`, {
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        commandTimeout: 250,
        enableReadyCheck: false,
      }),
    );
    const limits = new AuthRateLimits({ perKeyPerMinute: 5, failuresPerAddress: 5 }, redis, 'p');
    try {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      const started = Date.now();
      expect(await limits.takeRequest('a')).toBeNull();
      expect((await limits.failed('10.0.0.6')).retryAfter).toBeNull();
      expect(Date.now() - started).toBeLessThan(2000);
      // Once it did not answer, Redis is not asked again for a while: the next checks count in memory at once.
      const next = Date.now();
      for (let i = 0; i < 4; i++) expect(await limits.takeRequest('a')).toBeNull();
      expect(await limits.takeRequest('a')).toBeGreaterThan(0);
      expect(Date.now() - next).toBeLessThan(100);
      expect(warn.mock.calls.map(([m]) => String(m))).toEqual([
        expect.stringMatching(/^Redis did not answer the rate limit \(.+\); counting per process/),
      ]);
      warn.mockRestore();
    } finally {
      limits.onApplicationShutdown();
      silent.close();
    }
  });
});
