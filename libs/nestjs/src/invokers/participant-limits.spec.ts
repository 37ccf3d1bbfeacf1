import { parseParticipantLimits, resolveLimits } from './participant-limits';
import { ParticipantPolicies } from './participant-policies';
import { resolveSagaOptions } from '../module/options';
import { loadConfig } from '../config/engine-config';

const V = 'SAGA_PARTICIPANT_LIMITS';

describe('parseParticipantLimits', () => {
  it('reads concurrency and rate per participant, entries separated by ;', () => {
    const limits = parseParticipantLimits(
      ' payments=concurrency:5,rate:20/s ; ledger=rate:100/s;ship.v2=concurrency:1',
      V,
    );
    expect(Object.fromEntries(limits)).toEqual({
      payments: { concurrency: 5, ratePerSecond: 20 },
      ledger: { concurrency: null, ratePerSecond: 100 },
      'ship.v2': { concurrency: 1, ratePerSecond: null },
    });
  });

  it('reads <name>=none as no limit (it still overrides the code)', () => {
    expect(parseParticipantLimits('payments=none', V).get('payments')).toEqual({
      concurrency: null,
      ratePerSecond: null,
    });
  });

  it('reads an empty spec as no overrides', () => {
    expect(parseParticipantLimits('  ', V).size).toBe(0);
  });

  it.each([
    ['payments', `${V}: "payments" is not <participant>=<limits> (e.g. payments=concurrency:5,rate:20/s)`],
    ['payments=', `${V}: participant "payments" has no limits (write payments=none for no limit)`],
    ['payments=rate:20', `${V}: participant "payments": "rate:20" is not concurrency:<n> or rate:<n>/s`],
    ['payments=rate:20/min', `${V}: participant "payments": "rate:20/min" is not concurrency:<n> or rate:<n>/s`],
    ['payments=concurrency:-1', `${V}: participant "payments": "concurrency:-1" is not concurrency:<n> or rate:<n>/s`],
    ['payments=concurrency:0', `${V}: payments concurrency must be an integer between 1 and 100000 (got 0)`],
    ['payments=rate:200000/s', `${V}: payments rate must be an integer between 1 and 100000 (got 200000)`],
    ['payments=rate:1/s,rate:2/s', `${V}: participant "payments" has two rate limits`],
    ['payments=concurrency:1,concurrency:2', `${V}: participant "payments" has two concurrency limits`],
    ['payments=rate:1/s;payments=rate:2/s', `${V}: participant "payments" is named twice`],
    [
      'pay ments=rate:1/s',
      `${V}: "pay ments" is not a participant name (letters, digits, '.', '_', ':' or '-', at most 100)`,
    ],
    ['payments=rate:1/s,', `${V}: participant "payments": "" is not concurrency:<n> or rate:<n>/s`],
  ])('refuses %j, naming the variable', (spec, message) => {
    expect(() => parseParticipantLimits(spec, V)).toThrow(message);
  });
});

describe('resolveLimits (the invoker policy.limits in code)', () => {
  it('fills in null for what is not given', () => {
    expect(resolveLimits('p', undefined)).toEqual({ concurrency: null, ratePerSecond: null });
    expect(resolveLimits('p', { ratePerSecond: 3 })).toEqual({ concurrency: null, ratePerSecond: 3 });
  });

  it('refuses a limit that is not a positive integer, naming participant and field', () => {
    expect(() => resolveLimits('payments', { concurrency: 1.5 })).toThrow(
      'participant "payments": limits.concurrency must be an integer between 1 and 100000 (got 1.5)',
    );
  });
});

describe('configuration', () => {
  const base = { DATABASE_URL: 'postgres://x@localhost/db' };

  it('SAGA_PARTICIPANT_LIMITS: a bad value stops the start with a message naming it', () => {
    expect(() =>
      loadConfig({ ...base, REDIS_URL: 'redis://localhost', SAGA_PARTICIPANT_LIMITS: 'payments=rate:x/s' }),
    ).toThrow(/SAGA_PARTICIPANT_LIMITS: participant "payments": "rate:x\/s" is not concurrency:<n> or rate:<n>\/s/);
  });

  it('SAGA_PARTICIPANT_LIMITS needs REDIS_URL', () => {
    expect(() => loadConfig({ ...base, SAGA_PARTICIPANT_LIMITS: 'payments=rate:2/s' })).toThrow(
      /SAGA_PARTICIPANT_LIMITS needs REDIS_URL/,
    );
  });

  it('PARTICIPANT_LEASE_MS is bounded', () => {
    expect(() => loadConfig({ ...base, PARTICIPANT_LEASE_MS: '10' })).toThrow(
      /PARTICIPANT_LEASE_MS must be an integer between 300 and 600000/,
    );
    expect(loadConfig({ ...base, PARTICIPANT_LEASE_MS: '4000' }).PARTICIPANT_LEASE_MS).toBe(4000);
  });

  it('module options: participants.limits as a string or an object, checked, and needing redisUrl', () => {
    const db = 'postgres://x@localhost/db';
    const ok = resolveSagaOptions(
      { databaseUrl: db, redisUrl: 'redis://localhost', participants: { limits: { payments: { ratePerSecond: 20 } } } },
      ['agent'],
    );
    expect(ok.participantLimits.get('payments')).toEqual({ concurrency: null, ratePerSecond: 20 });
    expect(() =>
      resolveSagaOptions({ databaseUrl: db, redisUrl: 'redis://localhost', participants: { limits: 'payments=x' } }, [
        'agent',
      ]),
    ).toThrow('participants.limits: participant "payments": "x" is not concurrency:<n> or rate:<n>/s');
    expect(() =>
      resolveSagaOptions({ databaseUrl: db, participants: { limits: { payments: { concurrency: 0 } } } }, ['agent']),
    ).toThrow(
      /participants\.limits: participant "payments": limits\.concurrency must be an integer between 1 and 100000/,
    );
    expect(() =>
      resolveSagaOptions({ databaseUrl: db, participants: { limits: 'payments=rate:1/s' } }, ['agent']),
    ).toThrow('participants.limits needs redisUrl');
  });
});

describe('ParticipantPolicies with limits', () => {
  it('refuses a participant with limits when there is no Redis to share them', () => {
    const policies = new ParticipantPolicies();
    expect(() => policies.for('payments', { limits: { ratePerSecond: 20 } })).toThrow(
      'participant "payments" has cluster-wide limits, which are kept in Redis: set redisUrl (REDIS_URL)',
    );
    // No limits: no Redis needed.
    expect(policies.for('ledger').participant).toBe('ledger');
  });

  it("the configuration's limits replace the code's, whole", () => {
    const policies = new ParticipantPolicies(
      {},
      { limiter: null, overrides: new Map([['payments', { concurrency: null, ratePerSecond: null }]]) },
    );
    // `payments=none` in the configuration: the code's limits are dropped, so no Redis is needed either.
    policies.for('payments', { limits: { concurrency: 2, ratePerSecond: 20 } });
    expect(policies.limitsOf('payments')).toEqual({ concurrency: null, ratePerSecond: null });
  });
});
