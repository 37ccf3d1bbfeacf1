import { MAX_OUTPUT_BYTES, MAX_OUTPUT_DEPTH, normalizeOutput, storableError } from './step-output';

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

describe('what PostgreSQL could not store is refused before the commit', () => {
  const nested = (depth: number) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = { v: value };
    return value;
  };

  it('refuses U+0000 and lone surrogates in an output (values and keys) as OUTPUT_INVALID', () => {
    for (const output of [{ s: 'a\u0000b' }, { ['k\u0000']: 1 }, { s: ['x\ud800'] }, { ['\udc00']: 1 }]) {
      expect(() => normalizeOutput(output)).toThrow(expect.objectContaining({ code: 'OUTPUT_INVALID' }));
    }
    expect(normalizeOutput({ emoji: '\ud83d\ude00' })).toEqual({ emoji: '\ud83d\ude00' });
  });

  it(`accepts ${MAX_OUTPUT_DEPTH} levels of nesting and refuses more`, () => {
    expect(() => normalizeOutput(nested(MAX_OUTPUT_DEPTH))).not.toThrow();
    expect(() => normalizeOutput(nested(MAX_OUTPUT_DEPTH + 1))).toThrow(
      expect.objectContaining({
        code: 'OUTPUT_INVALID',
        message: `step output is nested deeper than ${MAX_OUTPUT_DEPTH} levels`,
      }),
    );
  });

  it('makes an error message with U+0000 or a lone surrogate storable, keeping the rest', () => {
    const error = storableError({
      name: 'Error',
      code: 'UNHANDLED',
      message: 'bad \u0000 byte and \ud800 half',
      retryable: true,
    });
    expect(error.message).toBe('bad \ufffd byte and \ufffd half');
    expect(JSON.stringify(error)).not.toMatch(/\\u0000|\\ud800/);
  });
});
