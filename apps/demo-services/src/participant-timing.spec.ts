import { MAX_SAMPLES, ParticipantTiming } from './participant-timing';

describe('ParticipantTiming', () => {
  it('summarises the calls and their waits for a connection, and the most at once', () => {
    const timing = new ParticipantTiming();
    const first = timing.begin();
    const second = timing.begin();
    timing.waited(4);
    timing.waited(2);
    first();
    second();
    const summary = timing.summary();
    expect(summary.calls).toBe(2);
    expect(summary.maxInFlight).toBe(2);
    expect(summary.poolWaitMs).toEqual({ mean: 3, p99: 4 });
    timing.reset();
    expect(timing.summary()).toMatchObject({ calls: 0, maxInFlight: 0, poolWaitMs: { mean: 0, p99: 0 } });
  });

  it('keeps the last MAX_SAMPLES values of a series: each new one overwrites the oldest', () => {
    const timing = new ParticipantTiming();
    for (let i = 0; i < MAX_SAMPLES; i++) timing.waited(1);
    expect(timing.summary().poolWaitMs).toEqual({ mean: 1, p99: 1 });
    // As many again, larger: the first ones are all gone.
    for (let i = 0; i < MAX_SAMPLES; i++) timing.waited(3);
    expect(timing.summary().poolWaitMs).toEqual({ mean: 3, p99: 3 });
  });
});
