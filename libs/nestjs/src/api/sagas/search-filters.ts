import {
  MAX_BUSINESS_KEY_LENGTH,
  SEARCH_ATTRIBUTE_NAME,
  type SearchAttributeSpec,
  type SearchAttributeType,
  type SearchAttributeValue,
  describeType,
  toAttributeValue,
} from '@saga-engine/core';
import { ApiError } from '../http/api-error';
import { parseQueryDate } from '../http/query-params';

/** A comparison of `GET /v1/sagas?attr.<name>[.<op>]=<value>`: equality, or a bound of a range. */
export type AttributeOperator = 'eq' | 'gt' | 'gte' | 'lt' | 'lte';
const RANGE_OPERATORS: readonly AttributeOperator[] = ['gt', 'gte', 'lt', 'lte'];

export interface AttributeFilter {
  name: string;
  type: SearchAttributeType;
  op: AttributeOperator;
  value: SearchAttributeValue;
}

/** The most attribute conditions one request may carry. */
export const MAX_ATTRIBUTE_FILTERS = 10;

const ATTR_PARAM = /^attr\.([^.]*)(?:\.([^.]*))?$/;

/**
 * Splits a list request's query into the `attr.*` parameters and the rest (which the DTO validates). Any
 * parameter starting with `attr.` is taken here, so that a malformed one is refused by name rather than as an
 * unknown field.
 */
export function splitAttributeParams(query: Record<string, unknown>): {
  rest: Record<string, unknown>;
  attrs: [string, unknown][];
} {
  const rest: Record<string, unknown> = {};
  const attrs: [string, unknown][] = [];
  for (const [key, value] of Object.entries(query)) {
    if (key.startsWith('attr.') || key === 'attr') attrs.push([key, value]);
    else rest[key] = value;
  }
  return { rest, attrs };
}

/**
 * The attribute filters of a list request, checked against the attributes `type` declares (every version of it):
 * 400 `INPUT_INVALID` naming the parameter for an unknown attribute, an operator its type has no order for, a
 * value that is not of its type, a repeated parameter, or attributes without `type`.
 */
export function parseAttributeFilters(
  params: readonly [string, unknown][],
  type: string | undefined,
  declared: readonly SearchAttributeSpec[],
): AttributeFilter[] {
  if (params.length === 0) return [];
  const [first] = params[0];
  if (type === undefined) {
    throw invalid(`${first} needs type: search attributes are declared per saga type (add type=<saga type>)`);
  }
  if (params.length > MAX_ATTRIBUTE_FILTERS) {
    throw invalid(`at most ${MAX_ATTRIBUTE_FILTERS} attr.* parameters in one request (got ${params.length})`);
  }
  const byName = new Map(declared.map((a) => [a.name, a]));
  return params.map(([param, raw]) => {
    const match = ATTR_PARAM.exec(param);
    if (!match || !SEARCH_ATTRIBUTE_NAME.test(match[1])) {
      throw invalid(`${param} is not a filter: write attr.<name>=<value> or attr.<name>.<gt|gte|lt|lte>=<value>`);
    }
    const [, name, opText] = match;
    const spec = byName.get(name);
    if (!spec) {
      const known = [...byName.keys()];
      throw invalid(
        `${param}: saga type ${type} has no search attribute ${name}` +
          (known.length > 0 ? ` (it has ${known.join(', ')})` : ' (it declares none)'),
      );
    }
    const op = (opText ?? 'eq') as AttributeOperator;
    if (opText !== undefined && !RANGE_OPERATORS.includes(op)) {
      throw invalid(`${param}: the operator must be gt, gte, lt or lte (or none, for equality)`);
    }
    if (op !== 'eq' && spec.type !== 'number' && spec.type !== 'datetime') {
      throw invalid(`${param}: ${name} is a ${spec.type}; only number and datetime attributes have ranges`);
    }
    if (typeof raw !== 'string') throw invalid(`${param} must be given once`);
    const value = parseFilterValue(spec.type, raw);
    if (value === undefined) throw invalid(`${param} must be ${filterValueRule(spec.type)}`);
    return { name, type: spec.type, op, value };
  });
}

/** A business key filter: 1 to 200 characters, given once. */
export function parseBusinessKey(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_BUSINESS_KEY_LENGTH) {
    throw invalid(`businessKey must be given once, 1 to ${MAX_BUSINESS_KEY_LENGTH} characters`);
  }
  return raw;
}

/** A filter value as stored, or undefined when it is not one of `type`. Decimal numbers only; the query's dates. */
function parseFilterValue(type: SearchAttributeType, raw: string): SearchAttributeValue | undefined {
  switch (type) {
    case 'keyword':
      return toAttributeValue('keyword', raw);
    case 'number':
      return /^-?\d{1,30}(\.\d{1,30})?$/.test(raw) ? toAttributeValue('number', Number(raw)) : undefined;
    case 'boolean':
      return raw === 'true' ? true : raw === 'false' ? false : undefined;
    case 'datetime': {
      const date = parseQueryDate(raw);
      return date ? toAttributeValue('datetime', date.getTime()) : undefined;
    }
  }
}

function filterValueRule(type: SearchAttributeType): string {
  switch (type) {
    case 'number':
      return 'a decimal number (4200, -1.5)';
    case 'boolean':
      return 'true or false';
    case 'datetime':
      return 'a date (2026-01-31) or a date-time with an offset (2026-01-31T10:20:30Z)';
    case 'keyword':
      return describeType(type);
  }
}

function invalid(message: string): ApiError {
  return new ApiError(400, 'INPUT_INVALID', message);
}
