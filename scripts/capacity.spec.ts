import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_LIMITS,
  MEASURED_F1,
  estimateWalBytesPerSaga,
  parseBenchResults,
  plan,
  simulateGroupCommit,
} from './capacity';

describe('capacity', () => {
  it('divides the measured costs of (f1) at 1,000 sagas/s by the assumed limits', () => {
    const p = plan(1000, MEASURED_F1);
    // 2.16 ms × 1,000/s = 2.16 cores of orchestrators, at 70 % of a core each: 3.09 → 4 processes.
    expect(p.orchestrators).toBe(4);
    // 1.39 cores of agents / 0.7 = 1.99 → 2.
    expect(p.agents).toBe(2);
    expect(p.pgConnections).toBe(6 * 20);
    expect(p.pgTxPerSec).toBeCloseTo(2160);
    expect(p.walSyncsPerSec).toBeCloseTo(800);
    expect(p.pgCores).toBeCloseTo(1.6 / 0.7);
    expect(p.pgPrimaries).toBe(1);
    expect(p.redisCmdsPerSec).toBeCloseTo(50_600);
    expect(p.redisShards).toBe(1);
    expect(p.hottestTypeQueues).toBe(1);
  });

  it('needs several primaries and Redis nodes at 100,000 sagas/s', () => {
    const p = plan(100_000, MEASURED_F1);
    // WAL: 100,000 × 15,084 B = 1,508 MB/s over 200 MB/s per primary = 7.5 → 8; CPU alone: 228.6 / 64 → 4.
    expect(p.walMBps).toBeCloseTo(1508.4);
    expect(p.pgPrimaries).toBe(8);
    expect(plan(100_000, MEASURED_F1, { ...DEFAULT_LIMITS, walMBpsPerPrimary: 10_000 }).pgPrimaries).toBe(4);
    // Redis: 5,060,000 commands/s over 105,000 (150,000 at 70 %) = 48.2 → 49.
    expect(p.redisShards).toBe(49);
    expect(p.hottestTypeQueues).toBe(49);
    expect(plan(100_000, MEASURED_F1, { ...DEFAULT_LIMITS, hottestTypeShare: 0.1 }).hottestTypeQueues).toBe(5);
  });

  it('estimates the WAL of a five-step saga from its rows', () => {
    // 6 instance versions × 753 B + 15 step row versions × 413 B + 17 history rows × 243 B + 6 commits × 40 B.
    expect(estimateWalBytesPerSaga(5)).toBe(6 * 753 + 15 * 413 + 17 * 243 + 240);
    expect(estimateWalBytesPerSaga(5, 2)).toBe(2 * estimateWalBytesPerSaga(5));
  });

  it('commits alone when idle and in batches at the statement limit when busy', () => {
    const idle = simulateGroupCommit({ writesPerSec: 100, fixedMs: 1, perRowMs: 0 });
    expect(idle.meanBatch).toBeLessThan(1.01);
    expect(idle.meanLatencyMs).toBeCloseTo(1, 1);
    // Saturated: 4 statements of 1 ms in flight end 4,000 times a second, each taking what arrived meanwhile.
    const busy = simulateGroupCommit({ writesPerSec: 100_000, fixedMs: 1, perRowMs: 0, seconds: 1 });
    expect(busy.statementsPerSec).toBeGreaterThan(3900);
    expect(busy.statementsPerSec).toBeLessThan(4100);
    expect(busy.meanBatch).toBeGreaterThan(24);
    expect(busy.meanBatch).toBeLessThan(26);
    expect(busy.saturated).toBe(false);
    // Past 4 full statements per statement time, the queue only grows.
    expect(simulateGroupCommit({ writesPerSec: 1_000_000, fixedMs: 1, perRowMs: 0.09 }).saturated).toBe(true);
    // Deterministic: the same seed gives the same answer.
    expect(simulateGroupCommit({ writesPerSec: 3000, fixedMs: 1, perRowMs: 0.09 })).toEqual(
      simulateGroupCommit({ writesPerSec: 3000, fixedMs: 1, perRowMs: 0.09 }),
    );
  });

  it('reads its defaults from the bench results they come from', () => {
    const text = readFileSync(join(__dirname, '..', 'bench', 'results', '2026-12-07-0840.md'), 'utf8');
    const f1 = parseBenchResults(text, 'f1');
    expect({ ...f1, source: MEASURED_F1.source }).toEqual(MEASURED_F1);
    // An in-process scenario: the engine's CPU counts as the orchestrators', no agents.
    const a = parseBenchResults(text, 'a');
    expect(a).toMatchObject({ orchestratorCpuMs: 0.42, agentCpuMs: 0, pgTxPerSaga: 0.18, redisCmdsPerSaga: 0 });
    expect(() => parseBenchResults(text, 'z')).toThrow('no row (z)');
  });
});
