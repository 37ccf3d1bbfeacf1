import { MAX_OUTPUT_BYTES, normalizeOutput } from './step-executor';

describe('what a participant sends back is bounded (normalizeOutput)', () => {
  it('refuses an output over 256 KiB as OUTPUT_INVALID', () => {
    expect(() => normalizeOutput({ blob: 'x'.repeat(MAX_OUTPUT_BYTES) })).toThrow(
      expect.objectContaining({
        code: 'OUTPUT_INVALID',
        message: `step output is larger than ${MAX_OUTPUT_BYTES} bytes`,
      }),
    );
  });

  it('refuses an output that is not JSON (a cycle, a BigInt) as OUTPUT_INVALID', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => normalizeOutput(cycle)).toThrow(expect.objectContaining({ code: 'OUTPUT_INVALID' }));
    expect(() => normalizeOutput({ n: 1n })).toThrow(expect.objectContaining({ code: 'OUTPUT_INVALID' }));
  });

  it('stores what JSON keeps: undefined is null, dates are strings, functions are dropped', () => {
    expect(normalizeOutput(undefined)).toBeNull();
    expect(normalizeOutput({ at: new Date(0), f: () => 1 })).toEqual({ at: '1970-01-01T00:00:00.000Z' });
  });
});
