import { randomBytes } from 'node:crypto';
import { InputCipher } from '../security/input-cipher';
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

describe('requestHash with a MAC (sagas with sensitive fields)', () => {
  it('is not the plain SHA-256 of the input, depends on the key, and is stable for one key', () => {
    const a = new InputCipher(randomBytes(32));
    const b = new InputCipher(randomBytes(32));
    const input = { card: '4111111111111111' };
    const mac = (c: typeof a) => (d: string) => c.mac(d);
    expect(requestHash('t', input, mac(a))).toMatch(/^hmac:[0-9a-f]{64}$/);
    expect(requestHash('t', input, mac(a))).toBe(requestHash('t', { ...input }, mac(a)));
    expect(requestHash('t', input, mac(a))).not.toBe(requestHash('t', input, mac(b)));
    expect(requestHash('t', input, mac(a))).not.toContain(requestHash('t', input));
  });
});
