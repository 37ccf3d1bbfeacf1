import { canonicalJson, requestHash } from './request-hash';

describe('requestHash', () => {
  it('ignores key order and undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } })).toBe(
      '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}',
    );
    expect(requestHash('t', { a: 1, b: 2 })).toBe(requestHash('t', { b: 2, a: 1 }));
  });

  it('differs by type and by input', () => {
    expect(requestHash('t', { a: 1 })).not.toBe(requestHash('u', { a: 1 }));
    expect(requestHash('t', { a: 1 })).not.toBe(requestHash('t', { a: 2 }));
  });
});
