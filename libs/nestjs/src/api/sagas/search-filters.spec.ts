import type { SearchAttributeSpec } from '@saga-engine/core';
import { ApiError } from '../http/api-error';
import { parseAttributeFilters, parseBusinessKey, splitAttributeParams } from './search-filters';

const declared: SearchAttributeSpec[] = [
  { name: 'tier', type: 'keyword', step: null, path: 'tier' },
  { name: 'amount', type: 'number', step: null, path: 'amount' },
  { name: 'express', type: 'boolean', step: null, path: 'express' },
  { name: 'placedAt', type: 'datetime', step: 'place', path: 'at' },
];

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).getStatus()).toBe(400);
    return (error as ApiError).message;
  }
  throw new Error('did not throw');
}

describe('list search filters', () => {
  it('takes every attr.* parameter out of the query, and leaves the rest to the DTO', () => {
    expect(splitAttributeParams({ type: 'order', 'attr.tier': 'gold', attr: 'x', limit: '5' })).toEqual({
      rest: { type: 'order', limit: '5' },
      attrs: [
        ['attr.tier', 'gold'],
        ['attr', 'x'],
      ],
    });
  });

  it('types the values by the declarations: equality, and bounds for numbers and datetimes', () => {
    expect(
      parseAttributeFilters(
        [
          ['attr.tier', 'gold'],
          ['attr.amount.gte', '-1.5'],
          ['attr.express', 'false'],
          ['attr.placedAt.lt', '2026-12-01T10:00:00+01:00'],
          ['attr.placedAt', '2026-12-01'],
        ],
        'order',
        declared,
      ),
    ).toEqual([
      { name: 'tier', type: 'keyword', op: 'eq', value: 'gold' },
      { name: 'amount', type: 'number', op: 'gte', value: -1.5 },
      { name: 'express', type: 'boolean', op: 'eq', value: false },
      { name: 'placedAt', type: 'datetime', op: 'lt', value: '2026-12-01T09:00:00.000Z' },
      { name: 'placedAt', type: 'datetime', op: 'eq', value: '2026-12-01T00:00:00.000Z' },
    ]);
    expect(parseAttributeFilters([], undefined, [])).toEqual([]);
  });

  it.each([
    [[['attr.tier', 'gold']], undefined, 'attr.tier needs type'],
    [[['attr.colour', 'red']], 'order', 'attr.colour: saga type order has no search attribute colour (it has tier'],
    [[['attr', 'red']], 'order', 'attr is not a filter'],
    [[['attr.Tier', 'x']], 'order', 'attr.Tier is not a filter'],
    [[['attr.tier.x.y', 'x']], 'order', 'attr.tier.x.y is not a filter'],
    [[['attr.amount.eq', '1']], 'order', 'attr.amount.eq: the operator must be gt, gte, lt or lte'],
    [[['attr.express.gt', 'true']], 'order', 'attr.express.gt: express is a boolean; only number and datetime'],
    [[['attr.amount', '0x10']], 'order', 'attr.amount must be a decimal number'],
    [[['attr.amount', '1e3']], 'order', 'attr.amount must be a decimal number'],
    [[['attr.express', 'TRUE']], 'order', 'attr.express must be true or false'],
    [[['attr.placedAt', '2026-02-30']], 'order', 'attr.placedAt must be a date'],
    [[['attr.tier', ['a', 'b']]], 'order', 'attr.tier must be given once'],
    [[['attr.tier', 'x'.repeat(201)]], 'order', 'attr.tier must be a string of 1 to 200 characters'],
  ] as [[string, unknown][], string | undefined, string][])('refuses %j (type %s)', (params, type, expected) => {
    expect(message(() => parseAttributeFilters(params, type, declared))).toContain(expected);
  });

  it('refuses more than 10 conditions, and a business key that is not one string of 1 to 200', () => {
    const many = Array.from({ length: 11 }, (): [string, unknown] => ['attr.tier', 'gold']);
    expect(message(() => parseAttributeFilters(many, 'order', declared))).toContain('at most 10 attr.*');
    expect(message(() => parseBusinessKey(['a', 'b']))).toContain('businessKey must be given once');
    expect(message(() => parseBusinessKey(''))).toContain('businessKey must be given once, 1 to 200');
    expect(parseBusinessKey('ORD-1')).toBe('ORD-1');
    expect(parseBusinessKey(undefined)).toBeUndefined();
  });
});
