import { randomBytes } from 'node:crypto';
import {
  InputCipher,
  REDACTED,
  SensitiveDataError,
  generateEncryptionKey,
  isEnvelope,
  keyId,
  parseEncryptionKey,
  redactPaths,
  redactSealed,
  scrubSecrets,
  secretsAt,
} from './input-cipher';

const SAGA = '0193a0b4-0000-7000-8000-000000000001';
const PATHS = ['payment.cardNumber', 'customer.email'];
const input = () => ({
  amount: 1200,
  payment: { cardNumber: '4111111111111111', holder: 'Ada' },
  customer: { email: 'ada@example.com' },
});

describe('InputCipher', () => {
  const key = randomBytes(32);
  const cipher = new InputCipher(key);

  it('round-trips any JSON value', () => {
    for (const value of ['4111 1111', 42, { a: [1, 'x'] }, null, true, '']) {
      expect(cipher.decrypt(cipher.encrypt(value, 'ctx'), 'ctx')).toEqual(value);
    }
  });

  it('writes v1:<kid>:<base64> with a fresh IV each time, and no plain text', () => {
    const a = cipher.encrypt('4111111111111111', 'ctx');
    const b = cipher.encrypt('4111111111111111', 'ctx');
    expect(a.$enc).toMatch(new RegExp(`^v1:${cipher.kid}:[A-Za-z0-9+/]+=*$`));
    expect(a.$enc).not.toBe(b.$enc);
    expect(Buffer.from(a.$enc.split(':')[2], 'base64').toString('latin1')).not.toContain('4111111111111111');
  });

  it('refuses a tampered envelope (ciphertext, tag or IV)', () => {
    const { $enc } = cipher.encrypt('secret-value', 'ctx');
    const [v, kid, body] = $enc.split(':');
    const raw = Buffer.from(body, 'base64');
    for (const at of [0, 12, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[at] ^= 0x01;
      expect(() => cipher.decrypt({ $enc: `${v}:${kid}:${bad.toString('base64')}` }, 'ctx')).toThrow(
        SensitiveDataError,
      );
    }
    expect(() => cipher.decrypt({ $enc: `${v}:${kid}:${raw.subarray(0, 20).toString('base64')}` }, 'ctx')).toThrow(
      'sealed value is truncated',
    );
    expect(() => cipher.decrypt({ $enc: `v2:${kid}:${body}` }, 'ctx')).toThrow('unknown format');
  });

  it('refuses an envelope moved to another saga or path (the context is authenticated)', () => {
    const sealed = cipher.encrypt('secret-value', `${SAGA}\npayment.cardNumber`);
    expect(() => cipher.decrypt(sealed, `${SAGA}\ncustomer.email`)).toThrow(/does not authenticate/);
  });

  it('refuses with a wrong key, naming the key id and never the plain text', () => {
    const sealed = cipher.encrypt('secret-value', 'ctx');
    const other = new InputCipher(randomBytes(32));
    expect(() => other.decrypt(sealed, 'ctx')).toThrow(
      `sealed with key ${cipher.kid}, which is neither SAGA_ENCRYPTION_KEY nor one of SAGA_ENCRYPTION_KEYS_OLD`,
    );
    // Same key id (forged), other key: the tag does not match.
    const forged = { $enc: sealed.$enc.replace(cipher.kid, other.kid) };
    expect(() => other.decrypt(forged, 'ctx')).toThrow(/does not authenticate/);
  });

  it('rotates: a new current key opens what the retired key sealed, and seals with its own id', () => {
    const oldSealed = cipher.seal(input(), PATHS, SAGA);
    const rotated = new InputCipher(randomBytes(32), [key]);
    expect(rotated.open(oldSealed, PATHS, SAGA)).toEqual(input());
    const newSealed = rotated.seal(input(), PATHS, SAGA) as any;
    expect(newSealed.payment.cardNumber.$enc.split(':')[1]).toBe(rotated.kid);
    expect(rotated.kid).not.toBe(cipher.kid);
    expect(() => cipher.open(newSealed, PATHS, SAGA)).toThrow(SensitiveDataError);
  });

  it('seals only the listed paths, leaves absent ones absent, and does not touch its argument', () => {
    const plain = input();
    const sealed = cipher.seal(plain, [...PATHS, 'missing.field', 'amount.x'], SAGA) as any;
    expect(plain).toEqual(input());
    expect(isEnvelope(sealed.payment.cardNumber)).toBe(true);
    expect(isEnvelope(sealed.customer.email)).toBe(true);
    expect(sealed.payment.holder).toBe('Ada');
    expect(sealed.amount).toBe(1200);
    expect(sealed.missing).toBeUndefined();
    expect(JSON.stringify(sealed)).not.toContain('4111111111111111');
    expect(JSON.stringify(sealed)).not.toContain('ada@example.com');
    expect(cipher.open(sealed, PATHS, SAGA)).toEqual(input());
    // Sealing twice does not wrap an envelope in another.
    expect(cipher.open(cipher.seal(sealed, PATHS, SAGA), PATHS, SAGA)).toEqual(input());
  });

  it('seals a whole object at a path', () => {
    const sealed = cipher.seal(input(), ['payment'], SAGA) as any;
    expect(isEnvelope(sealed.payment)).toBe(true);
    expect(cipher.open(sealed, ['payment'], SAGA)).toEqual(input());
  });

  it('keys its MAC on the encryption key', () => {
    expect(cipher.mac('x')).toBe(cipher.mac('x'));
    expect(cipher.mac('x')).not.toBe(new InputCipher(randomBytes(32)).mac('x'));
  });
});

describe('keys from config', () => {
  it('parses 64 hex digits and 44 base64 characters of 32 bytes, nothing else', () => {
    const key = randomBytes(32);
    expect(parseEncryptionKey(key.toString('hex'))).toEqual(key);
    expect(parseEncryptionKey(key.toString('base64'))).toEqual(key);
    expect(parseEncryptionKey(generateEncryptionKey())).toHaveLength(32);
    for (const bad of ['', 'short', key.toString('hex').slice(2), randomBytes(31).toString('base64'), 'x'.repeat(64)]) {
      expect(parseEncryptionKey(bad)).toBeNull();
    }
  });

  it('builds the cipher with its retired keys, or null without SAGA_ENCRYPTION_KEY', () => {
    const [a, b] = [randomBytes(32), randomBytes(32)];
    expect(InputCipher.fromConfig({})).toBeNull();
    const cipher = InputCipher.fromConfig({
      SAGA_ENCRYPTION_KEY: a.toString('base64'),
      SAGA_ENCRYPTION_KEYS_OLD: ` ${b.toString('hex')} `,
    })!;
    expect(cipher.kid).toBe(keyId(a));
    expect(cipher.open(new InputCipher(b).seal(input(), PATHS, SAGA), PATHS, SAGA)).toEqual(input());
  });
});

describe('redaction', () => {
  it('shows every envelope as [REDACTED]', () => {
    const cipher = new InputCipher(randomBytes(32));
    expect(redactSealed(cipher.seal(input(), PATHS, SAGA))).toEqual({
      amount: 1200,
      payment: { cardNumber: REDACTED, holder: 'Ada' },
      customer: { email: REDACTED },
    });
  });

  it('redacts paths of a plain input', () => {
    expect(redactPaths(input(), PATHS)).toEqual({
      amount: 1200,
      payment: { cardNumber: REDACTED, holder: 'Ada' },
      customer: { email: REDACTED },
    });
  });

  it('scrubs secrets out of strings, keys and nested values', () => {
    const secrets = secretsAt(input(), PATHS);
    expect(secrets).toEqual(['4111111111111111', 'ada@example.com']);
    expect(
      scrubSecrets(
        { message: 'card 4111111111111111 refused for ada@example.com', list: ['ada@example.com'], n: 4 },
        secrets,
      ),
    ).toEqual({ message: `card ${REDACTED} refused for ${REDACTED}`, list: [REDACTED], n: 4 });
  });
});
