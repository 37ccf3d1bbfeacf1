import { databaseUrlOf, resolveBackends } from './backends';

/** Backend choice when the URLs are set: nothing embedded starts (the embedded cases run in test/). */
describe('resolveBackends', () => {
  const pg = 'postgres://app:secret@db.internal:5432/sagas';

  it('uses both URLs as given, and hides the passwords in the log', async () => {
    const backends = await resolveBackends({ DATABASE_URL: pg, REDIS_URL: 'redis://:pw@cache:6379' });
    expect(backends).toMatchObject({
      databaseUrl: pg,
      queue: { kind: 'redis', url: 'redis://:pw@cache:6379' },
      embedded: null,
    });
    expect(backends.describe().join('\n')).not.toMatch(/secret|pw/);
    expect(backends.describe()).toEqual([
      'PostgreSQL: postgres://app:***@db.internal:5432/sagas',
      'Queue: Redis redis://:***@cache:6379',
    ]);
    await backends.stop(); // nothing to stop
  });

  it('without REDIS_URL, runs BullMQ on PostgreSQL in the same database and says how to use Redis', async () => {
    const backends = await resolveBackends({ DATABASE_URL: pg, REDIS_URL: undefined });
    expect(backends.queue).toEqual({ kind: 'postgres', url: pg });
    expect(backends.describe()[1]).toMatch(/BullMQ's PostgreSQL backend.*REDIS_URL is not set.*REDIS_URL=redis:\/\//);
  });
});

describe('databaseUrlOf', () => {
  it('refuses a configuration whose DATABASE_URL was not resolved', () => {
    expect(() => databaseUrlOf({ DATABASE_URL: undefined })).toThrow(/resolveBackends/);
    expect(databaseUrlOf({ DATABASE_URL: 'postgres://x/y' })).toBe('postgres://x/y');
  });
});
