/**
 * Business keys and search attributes: what a saga carries to be found again (the order number a support person
 * has, a customer's tier, an amount). Declared as data (dotted paths into the input or a step's output), so that a
 * process without the saga's code (a central API) computes them the same way; pure, so the same input or output
 * always gives the same values. The store writes them in the commit of the start or of the step's success.
 */

/** The value types of a search attribute. Persisted in definitions and filters: renaming one needs a migration. */
export const SearchAttributeType = {
  /** A string compared whole (a tier, a country, an id): equality. Numbers are kept as their decimal string. */
  KEYWORD: 'keyword',
  /** A finite number: equality and ranges. */
  NUMBER: 'number',
  BOOLEAN: 'boolean',
  /** An instant, stored as ISO-8601 UTC (`2026-12-07T08:00:00.000Z`): equality and ranges. */
  DATETIME: 'datetime',
} as const;
export type SearchAttributeType = (typeof SearchAttributeType)[keyof typeof SearchAttributeType];
export const SEARCH_ATTRIBUTE_TYPES: readonly SearchAttributeType[] = Object.values(SearchAttributeType);

/** A search attribute as data: its name, type, and where its value comes from. */
export interface SearchAttributeSpec {
  /** `[a-z][A-Za-z0-9_]*`, at most 64 characters: the API filters on it as `attr.<name>`. */
  readonly name: string;
  readonly type: SearchAttributeType;
  /** The step (kebab-case name) whose output sets it when the step succeeds; null: the input sets it at start. */
  readonly step: string | null;
  /** Dotted path into the input or the step's output; '' is the output itself. */
  readonly path: string;
}

/** The value of one attribute as stored (JSON): a datetime is its ISO-8601 UTC string. */
export type SearchAttributeValue = string | number | boolean;
export type SearchAttributes = Record<string, SearchAttributeValue | null>;

/** The longest business key and keyword value (characters). */
export const MAX_BUSINESS_KEY_LENGTH = 200;
export const MAX_KEYWORD_LENGTH = 200;
/** The most search attributes a saga type may declare. */
export const MAX_SEARCH_ATTRIBUTES = 32;
export const SEARCH_ATTRIBUTE_NAME = /^[a-z][A-Za-z0-9_]{0,63}$/;
/**
 * The stored attributes of a saga of a type that declares any also hold its type under this key (no attribute name
 * starts with `$`), so that one containment test on the GIN index finds the sagas of one type with a value, without
 * reading the rows of the other types that have it. The API never shows it.
 */
export const SEARCH_TYPE_KEY = '$type';

/** The attributes as the API shows them: without the stored type. */
export function publicAttributes(
  stored: Readonly<Record<string, SearchAttributeValue | null>> | null | undefined,
): SearchAttributes {
  const { [SEARCH_TYPE_KEY]: _type, ...attributes } = stored ?? {};
  return attributes;
}

/** Reads a dotted path; undefined when a segment is missing or goes through something that is not an object. */
export function readPath(value: unknown, path: string): unknown {
  if (path === '') return value;
  let current: unknown = value;
  for (const segment of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, segment)) return undefined;
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}

/**
 * A value as an attribute of `type` stores it, or undefined when it is not one: a keyword is a string of 1 to 200
 * characters (or a finite number, kept as its decimal string), a number is finite, a boolean is a boolean, a
 * datetime is an ISO-8601 date-time with an offset (or a date `2026-12-07`, midnight UTC) or epoch milliseconds.
 */
export function toAttributeValue(type: SearchAttributeType, value: unknown): SearchAttributeValue | undefined {
  switch (type) {
    case 'keyword':
      if (typeof value === 'number' && Number.isFinite(value)) return String(value);
      return typeof value === 'string' && value.length > 0 && value.length <= MAX_KEYWORD_LENGTH ? value : undefined;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
    case 'boolean':
      return typeof value === 'boolean' ? value : undefined;
    case 'datetime':
      return toInstant(value);
  }
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/i;
const MAX_EPOCH_MS = 8.64e15;

function toInstant(value: unknown): string | undefined {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || Math.abs(value) > MAX_EPOCH_MS) return undefined;
    ms = value;
  } else if (typeof value === 'string' && ISO_DATE_TIME.test(value)) {
    ms = Date.parse(value.length === 10 ? `${value}T00:00:00Z` : value);
  } else {
    return undefined;
  }
  if (Number.isNaN(ms)) return undefined;
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  // Four-digit years only: the stored strings then sort as the instants do.
  return year >= 0 && year <= 9999 ? date.toISOString() : undefined;
}

/** The business key an input gives: null when the path holds nothing; `problem` when it holds something else. */
export function businessKeyOf(
  path: string | null | undefined,
  input: unknown,
): { key: string | null } | { problem: string } {
  if (!path) return { key: null };
  const value = readPath(input, path);
  if (value === undefined || value === null) return { key: null };
  if (typeof value === 'number' && Number.isSafeInteger(value)) return { key: String(value) };
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_BUSINESS_KEY_LENGTH) return { key: value };
  return {
    problem:
      `input.${path} is the business key: it must be a string of 1 to ${MAX_BUSINESS_KEY_LENGTH} characters ` +
      `or an integer`,
  };
}

/**
 * The attributes the input sets at start. An absent (or null) field leaves its attribute unset; a field of the
 * wrong type is a `problem` naming it, so the start is refused (400) rather than stored unsearchable.
 */
export function attributesFromInput(
  specs: readonly SearchAttributeSpec[] | undefined,
  input: unknown,
): { attributes: SearchAttributes | null; problems: string[] } {
  const attributes: SearchAttributes = {};
  const problems: string[] = [];
  for (const spec of specs ?? []) {
    if (spec.step !== null) continue;
    const raw = readPath(input, spec.path);
    if (raw === undefined || raw === null) continue;
    const value = toAttributeValue(spec.type, raw);
    if (value === undefined) {
      problems.push(`input.${spec.path} sets search attribute ${spec.name}: it must be ${describeType(spec.type)}`);
    } else {
      attributes[spec.name] = value;
    }
  }
  return { attributes: Object.keys(attributes).length > 0 ? attributes : null, problems };
}

/**
 * The attributes a step's output sets when the step succeeds: its value, or null (the attribute is cleared) when
 * the output has nothing of the right type there. A step cannot be refused for its output's shape after it ran;
 * a null is what a filter then does not find. Null when the step sets no attribute.
 */
export function attributesFromStep(
  specs: readonly SearchAttributeSpec[] | undefined,
  step: string,
  output: unknown,
): SearchAttributes | null {
  let attributes: SearchAttributes | null = null;
  for (const spec of specs ?? []) {
    if (spec.step !== step) continue;
    attributes ??= {};
    attributes[spec.name] = toAttributeValue(spec.type, readPath(output, spec.path)) ?? null;
  }
  return attributes;
}

export function describeType(type: SearchAttributeType): string {
  switch (type) {
    case 'keyword':
      return `a string of 1 to ${MAX_KEYWORD_LENGTH} characters`;
    case 'number':
      return 'a finite number';
    case 'boolean':
      return 'true or false';
    case 'datetime':
      return 'an ISO-8601 date-time with an offset (2026-12-07T08:00:00Z), a date (2026-12-07) or epoch milliseconds';
  }
}
