import { Transform } from 'class-transformer';
import { ValidateBy, type ValidationOptions } from 'class-validator';
import { applyDecorators } from '@nestjs/common';

/** The largest event sequence number the database holds (`saga_event.seq` is a 32-bit integer). */
export const MAX_EVENT_SEQ = 2_147_483_647;
/** PostgreSQL's bigint: the largest sequence number a client may name. */
const MAX_INT64 = 9_223_372_036_854_775_807n;

/**
 * A query parameter that is a whole number in decimal digits only, between `min` and `max` (bigint for ranges past
 * 2^53): `0x10`, `1e3`, ` 5`, `+5`, `5.0`, `-0`, an empty value or a repeated parameter are refused with
 * `message`, never read as something else. The value becomes a number (a bigint past 2^53 is kept as its string;
 * the route clamps it).
 */
export function DecimalInt(min: number, max: number | bigint, message: string): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }: { value: unknown }) => {
      if (typeof value !== 'string' || !/^\d{1,19}$/.test(value)) return value;
      const big = BigInt(value);
      if (big < BigInt(min) || big > BigInt(max)) return value;
      return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : value;
    }),
    ValidateBy(
      {
        name: 'decimalInt',
        validator: {
          validate: (value: unknown) =>
            (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= Number(max)) ||
            (typeof value === 'string' &&
              /^\d{16,19}$/.test(value) &&
              BigInt(value) >= BigInt(min) &&
              BigInt(value) <= BigInt(max)),
        },
      },
      { message },
    ),
  );
}

/** A sequence number: 0 to 2^63-1, decimal digits only. */
export const SequenceNumber = (field: string) =>
  DecimalInt(0, MAX_INT64, `${field} must be a whole number from 0 to ${MAX_INT64}, in decimal digits`);

/**
 * One date format for query parameters, RFC 3339 and what PostgreSQL reads the same way: `2026-01-31` (midnight
 * UTC), or `2026-01-31T10:20:30Z`, `2026-01-31T10:20:30.123+01:00`, `2026-01-31T10:20Z` (a time needs its offset).
 * Calendar-checked: `2026-02-30`, `24:00`, `:60` are refused, as are week dates, ordinal dates, basic format
 * (`20260131`) and a time without minutes or offset.
 */
const DATE_FORMAT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2})))?$/;

export function parseQueryDate(value: string): Date | null {
  const match = DATE_FORMAT.exec(value);
  if (!match) return null;
  const [, y, mo, d, h, mi, s, , oh, om] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return null;
  if (h !== undefined && (Number(h) > 23 || Number(mi) > 59 || (s !== undefined && Number(s) > 59))) return null;
  if (oh !== undefined && (Number(oh) > 14 || Number(om) > 59)) return null;
  const date = new Date(h === undefined ? `${value}T00:00:00Z` : value);
  return Number.isNaN(date.getTime()) ? null : date;
}

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

export const QUERY_DATE_DESCRIPTION =
  'A date (2026-01-31, midnight UTC) or a date-time with an offset (2026-01-31T10:20:30Z, 2026-01-31T10:20+01:00)';

/** A date query parameter in the one format above; otherwise 400 naming `field`. */
export function QueryDate(field: string, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'queryDate',
      validator: { validate: (value: unknown) => typeof value === 'string' && parseQueryDate(value) !== null },
    },
    {
      message: `${field} must be a date (2026-01-31) or a date-time with an offset (2026-01-31T10:20:30Z)`,
      ...options,
    },
  );
}
