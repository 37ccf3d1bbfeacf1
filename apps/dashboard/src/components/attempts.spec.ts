/// <reference types="jest" />
import type { SagaEvent } from '../api';
import { buildAttempts } from './attempts';

let seq = 0;
const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
const event = (ms: number, type: string, step: string | null, attempt: number | null, data: object | null = null) =>
  ({ seq: ++seq, type, step, attempt, at: at(ms), data }) as SagaEvent;

describe('buildAttempts (the saga page timeline)', () => {
  it('turns scheduled, failed, retry-scheduled and succeeded into two attempts with the backoff wait between', () => {
    const attempts = buildAttempts([
      event(0, 'SagaStarted', null, null),
      event(10, 'StepScheduled', 'charge', 1),
      event(60, 'StepFailed', 'charge', 1, { error: { code: 'BUSY', message: 'try later' } }),
      event(60, 'StepRetryScheduled', 'charge', 2, { delayMs: 500 }),
      event(600, 'StepStarted', 'charge', 2, { phase: 'run' }),
      event(700, 'StepSucceeded', 'charge', 2, { output: {} }),
    ]);
    expect(attempts).toEqual([
      expect.objectContaining({
        step: 'charge',
        phase: 'action',
        attempt: 1,
        outcome: 'failed',
        error: 'BUSY: try later',
      }),
      expect.objectContaining({ step: 'charge', phase: 'action', attempt: 2, outcome: 'succeeded', error: null }),
    ]);
    const [first, second] = attempts;
    expect([first.start, first.end].map((t) => t! - Date.parse(at(0)))).toEqual([10, 60]);
    // The wait runs from the retry's scheduling; the attempt starts when the agent reported it started.
    expect([second.waitFrom, second.start, second.end].map((t) => t! - Date.parse(at(0)))).toEqual([60, 600, 700]);
  });

  it('keeps compensations apart from actions, and shows a hand resolution with its reason', () => {
    const attempts = buildAttempts([
      event(0, 'StepScheduled', 'ship', 1),
      event(5, 'StepSucceeded', 'ship', 1),
      event(10, 'CompensationScheduled', 'ship', 1),
      event(20, 'CompensationFailed', 'ship', 1, { error: { message: 'gone' } }),
      event(30, 'CompensationResolved', 'ship', null, { by: 'admin', reason: 'refunded by phone' }),
    ]);
    expect(attempts.map((a) => [a.phase, a.outcome, a.error])).toEqual([
      ['action', 'succeeded', null],
      ['compensation', 'failed', 'gone'],
      ['compensation', 'resolved', 'resolved by hand: refunded by phone'],
    ]);
  });

  it("shows an operator's skip after the step's failed attempt, and a re-run's attempts after the first run's", () => {
    const attempts = buildAttempts([
      event(0, 'StepScheduled', 'ship', 1),
      event(5, 'StepFailed', 'ship', 1, { error: { code: 'DECLINED', message: 'no' } }),
      event(10, 'StepSkippedByOperator', 'ship', 1, { by: 'admin', reason: 'shipped by hand' }),
      event(20, 'RetryFromStepRequested', 'ship', null, { by: 'op', reason: 'again', steps: ['ship'] }),
      event(21, 'StepScheduled', 'ship', 2),
      event(30, 'StepSucceeded', 'ship', 2),
    ]);
    expect(attempts.map((a) => [a.attempt > 0 ? a.attempt : 'op', a.outcome, a.error])).toEqual([
      [1, 'failed', 'DECLINED: no'],
      ['op', 'skipped', 'skipped by hand: shipped by hand'],
      [2, 'succeeded', null],
    ]);
  });

  it('leaves an attempt that has not reported as running, and ignores saga-level events', () => {
    const attempts = buildAttempts([
      event(0, 'SagaStarted', null, null),
      event(1, 'StepScheduled', 'slow', 1),
      event(2, 'CancelRequested', null, null, { by: 'op', reason: 'x' }),
    ]);
    expect(attempts).toEqual([expect.objectContaining({ step: 'slow', outcome: 'running', end: null })]);
  });
});

describe('buildAttempts with a fan-out', () => {
  it('shows the fan-out as one bar of its own, not one per item', () => {
    const attempts = buildAttempts([
      event(0, 'StepScheduled', 'ship', 1),
      event(5, 'FanOutStarted', 'ship', 1, { count: 2 }),
      { ...event(6, 'StepScheduled', 'ship', 1), item: 0 },
      { ...event(7, 'StepScheduled', 'ship', 1), item: 1 },
      { ...event(20, 'StepSucceeded', 'ship', 1), item: 0 },
      { ...event(30, 'StepFailed', 'ship', 1, { error: { code: 'X' } }), item: 1 },
      event(30, 'StepFailed', 'ship', 1, { error: { code: 'X', message: 'item 1: no' }, item: 1 }),
    ]);
    expect(attempts).toEqual([
      expect.objectContaining({ step: 'ship', attempt: 1, outcome: 'failed', error: 'X: item 1: no' }),
    ]);
  });
});
