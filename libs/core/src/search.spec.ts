import {
  attributesFromInput,
  attributesFromStep,
  businessKeyOf,
  publicAttributes,
  readPath,
  toAttributeValue,
  type SearchAttributeSpec,
} from './search';

const specs: SearchAttributeSpec[] = [
  { name: 'tier', type: 'keyword', step: null, path: 'customer.tier' },
  { name: 'amount', type: 'number', step: null, path: 'amount' },
  { name: 'placedAt', type: 'datetime', step: null, path: 'placedAt' },
  { name: 'tracking', type: 'keyword', step: 'ship', path: 'trackingId' },
  { name: 'weight', type: 'number', step: 'ship', path: '' },
];

describe('search attributes', () => {
  it('reads dotted paths, never through arrays or inherited properties', () => {
    expect(readPath({ a: { b: 1 } }, 'a.b')).toBe(1);
    expect(readPath({ a: [{ b: 1 }] }, 'a.0.b')).toBeUndefined();
    expect(readPath({}, 'constructor')).toBeUndefined();
    expect(readPath(5, '')).toBe(5);
  });

  it('converts values to their type, or refuses them', () => {
    expect(toAttributeValue('keyword', 'gold')).toBe('gold');
    expect(toAttributeValue('keyword', 42)).toBe('42');
    expect(toAttributeValue('keyword', '')).toBeUndefined();
    expect(toAttributeValue('keyword', 'x'.repeat(201))).toBeUndefined();
    expect(toAttributeValue('number', 1.5)).toBe(1.5);
    expect(toAttributeValue('number', '1.5')).toBeUndefined();
    expect(toAttributeValue('number', Number.NaN)).toBeUndefined();
    expect(toAttributeValue('boolean', false)).toBe(false);
    expect(toAttributeValue('boolean', 'false')).toBeUndefined();
    expect(toAttributeValue('datetime', '2026-12-01T10:00:00+01:00')).toBe('2026-12-01T09:00:00.000Z');
    expect(toAttributeValue('datetime', '2026-12-01')).toBe('2026-12-01T00:00:00.000Z');
    expect(toAttributeValue('datetime', 0)).toBe('1970-01-01T00:00:00.000Z');
    expect(toAttributeValue('datetime', '2026-12-01T10:00:00')).toBeUndefined();
    expect(toAttributeValue('datetime', 'tomorrow')).toBeUndefined();
    expect(toAttributeValue('datetime', -1e15)).toBeUndefined();
  });

  it('takes the business key from the input: a string or an integer, else a problem naming the field', () => {
    expect(businessKeyOf('order.number', { order: { number: 'ORD-1' } })).toEqual({ key: 'ORD-1' });
    expect(businessKeyOf('n', { n: 42 })).toEqual({ key: '42' });
    expect(businessKeyOf('n', {})).toEqual({ key: null });
    expect(businessKeyOf(undefined, { n: 'x' })).toEqual({ key: null });
    expect(businessKeyOf('n', { n: 1.5 })).toEqual({ problem: expect.stringContaining('input.n is the business key') });
    expect(businessKeyOf('n', { n: 'x'.repeat(201) })).toHaveProperty('problem');
  });

  it('sets the input attributes at start; a value of the wrong type is a problem, an absent one is left unset', () => {
    expect(attributesFromInput(specs, { customer: { tier: 'gold' }, amount: 10 })).toEqual({
      attributes: { tier: 'gold', amount: 10 },
      problems: [],
    });
    expect(attributesFromInput(specs, {})).toEqual({ attributes: null, problems: [] });
    expect(attributesFromInput(specs, { amount: 'ten', placedAt: 'soon' }).problems).toEqual([
      'input.amount sets search attribute amount: it must be a finite number',
      expect.stringMatching(/^input.placedAt sets search attribute placedAt: it must be an ISO-8601 date-time/),
    ]);
  });

  it("sets a step's attributes from its output, clearing those of the wrong type", () => {
    expect(attributesFromStep(specs, 'ship', { trackingId: 'T-1' })).toEqual({ tracking: 'T-1', weight: null });
    expect(attributesFromStep(specs, 'ship', 2.5)).toEqual({ tracking: null, weight: 2.5 });
    expect(attributesFromStep(specs, 'pack', { trackingId: 'T-1' })).toBeNull();
  });

  it('hides the stored type from the API', () => {
    expect(publicAttributes({ tier: 'gold', $type: 'order' })).toEqual({ tier: 'gold' });
    expect(publicAttributes(null)).toEqual({});
  });
});
