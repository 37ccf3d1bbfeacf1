import { runChaos } from '../scripts/chaos';
import { privateRedisUnavailable } from '../scripts/support/private-servers';
import { TEST_PG_ADMIN_URL } from './support/urls';
import { describeIf } from './support/skip';

/**
 * A smaller `npm run chaos` (scripts/chaos.ts) on every test run: random faults in every saga, agents killed -9
 * every few seconds and restarted, Redis restarted once (losing every job); then nothing may be lost, no effect
 * may have run twice, and every compensated saga must have undone exactly what it did. The seed is printed; a
 * failure reproduces with `npm run chaos -- --sagas 60 --seed <seed>`.
 */
// It restarts a Redis of its own (scripts/support/private-servers.ts), whatever the run's queue backend.
const privateRedis = privateRedisUnavailable();
describeIf(!privateRedis, privateRedis ?? '')('chaos (e2e)', () => {
  it('60 sagas through agent kills and a Redis restart: none lost, no double effect, every undo exact', async () => {
    const lines: string[] = [];
    const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const report = await runChaos({
      sagas: 60,
      seed,
      rate: 20,
      killEveryMs: [1_500, 3_000],
      faultWindowMs: 12_000,
      drainTimeoutMs: 90_000,
      pgAdminUrl: TEST_PG_ADMIN_URL,
      log: (line) => lines.push(line),
    });
    process.stdout.write(`\n${lines.filter((l) => !l.includes('killed agent')).join('\n')}\n`);
    expect({ seed, lost: report.lost, doubleEffects: report.doubleEffects, violations: report.violations }).toEqual({
      seed,
      lost: 0,
      doubleEffects: 0,
      violations: [],
    });
    expect(report.total).toBe(60);
    expect(report.kills).toBeGreaterThan(0);
    expect(report.redisRestarts).toBe(1);
  }, 180_000);
});
