import { parseDuration, parseSignedDuration } from './duration';

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [250, 250],
    [1.6, 2],
    ['0ms', 0],
    ['250ms', 250],
    ['2s', 2_000],
    ['1.5s', 1_500],
    ['.5s', 500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['2d', 172_800_000],
    ['1e3ms', 1_000],
    ['-0s', 0],
  ])('reads %p as %p ms', (value, ms) => {
    expect(parseDuration(value, 'timeout')).toBe(ms);
  });

  it.each([
    ['5', '"5"'],
    ['5 s', '"5 s"'],
    ['5w', '"5w"'],
    ['ms', '"ms"'],
    ['0x10ms', '"0x10ms"'],
    ['', '""'],
    [null, 'null'],
    [undefined, 'undefined'],
    [true, 'true'],
    [{}, 'an object'],
    [[1], 'an array'],
  ])('rejects %p, which is not a duration', (value, shown) => {
    expect(() => parseDuration(value, 'timeout')).toThrow(
      new RangeError(`timeout must be a duration such as 500, "500ms", "2s", "5m", "1h" or "2d" (got ${shown})`),
    );
  });

  it.each([
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
    ['1e999s', '"1e999s"'],
  ])('rejects %p, which is not finite', (value, shown) => {
    expect(() => parseDuration(value, 'timeout')).toThrow(
      `timeout must be a finite number of milliseconds (got ${shown})`,
    );
  });

  it.each([
    [-1, '-1'],
    [-0.4, '-0.4'],
    ['-5s', '"-5s"'],
  ])('rejects the negative %p', (value, shown) => {
    expect(() => parseDuration(value, 'retry.initialInterval')).toThrow(
      `retry.initialInterval must be >= 0 (got ${shown})`,
    );
  });

  it('keeps the sign in parseSignedDuration, for callers with their own bound', () => {
    expect(parseSignedDuration('-2s', 'x')).toBe(-2_000);
    expect(() => parseSignedDuration('soon', 'x')).toThrow('x must be a duration');
  });
});
