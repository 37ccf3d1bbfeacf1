/**
 * A length of time: a number of milliseconds, or a string with a unit: `'250ms'`, `'2s'`, `'1.5m'`, `'1h'`, `'2d'`.
 *
 * Strings are checked when the saga is built (`parseDuration`), so a typo fails at boot, not at 3 a.m.
 * Values are rounded to whole milliseconds.
 */
export type Duration = number | `${number}ms` | `${number}s` | `${number}m` | `${number}h` | `${number}d`;

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

// Stricter than `${number}`: no whitespace, hex, or empty number, which Number() would quietly accept.
const DURATION_PATTERN = /^(-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)(ms|s|m|h|d)$/;

/**
 * Milliseconds in `value` (rounded), for a `field` named in the error message.
 *
 * @throws RangeError `<field> must be a duration such as 500, "500ms", "2s", "5m", "1h" or "2d" (got "abc")`,
 *   `<field> must be a finite number of milliseconds (got NaN)` (also Infinity, `"1e999s"`),
 *   `<field> must be >= 0 (got -1)`.
 */
export function parseDuration(value: unknown, field: string): number {
  const ms = exactMs(value, field);
  if (ms < 0) throw new RangeError(`${field} must be >= 0 (got ${describeValue(value)})`);
  return roundMs(ms);
}

/** `parseDuration` without the sign check, for callers with a stricter bound (timeouts must be > 0). */
export function parseSignedDuration(value: unknown, field: string): number {
  return roundMs(exactMs(value, field));
}

function exactMs(value: unknown, field: string): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string' && DURATION_PATTERN.test(value)) {
    const [, amount, unit] = DURATION_PATTERN.exec(value)!;
    ms = Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  } else {
    throw new RangeError(
      `${field} must be a duration such as 500, "500ms", "2s", "5m", "1h" or "2d" (got ${describeValue(value)})`,
    );
  }
  if (!Number.isFinite(ms)) {
    throw new RangeError(`${field} must be a finite number of milliseconds (got ${describeValue(value)})`);
  }
  return ms;
}

// `|| 0` folds -0 (from '-0s', or -0.4 rounded) into 0, which prints as 0 in messages and JSON.
function roundMs(ms: number): number {
  return Math.round(ms) || 0;
}

/** How a bad value is shown in an error message: strings quoted, so `"5"` and `5` read differently. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}
