import { decodeCursor, encodeCursor } from './sagas.controller';

describe('list cursor', () => {
  const last = { createdAt: '2026-11-21 20:30:00.123456+00', id: '01a1ffc6-7198-7104-a3f8-f7f15b6b1aa6' };

  it('round-trips the keyset position with full timestamp precision', () => {
    expect(decodeCursor(encodeCursor(last))).toEqual(last);
  });

  it('refuses a cursor whose keyset position was changed, even with its signature kept (HMAC)', () => {
    const good = Buffer.from(encodeCursor(last), 'base64url');
    const forged = Buffer.concat([
      good.subarray(0, 16),
      Buffer.from(JSON.stringify(['2000-01-01 00:00:00+00', last.id])),
    ]).toString('base64url');
    expect(() => decodeCursor(forged)).toThrow('cursor is invalid');
    const flipped = Buffer.from(good);
    flipped[flipped.length - 3] ^= 1;
    expect(() => decodeCursor(flipped.toString('base64url'))).toThrow('cursor is invalid');
  });

  it.each([
    ['unsigned, as an old cursor was', Buffer.from(JSON.stringify([last.createdAt, last.id])).toString('base64url')],
    ['not base64 json', 'bm9wZQ'],
    ['wrong shape', Buffer.from(JSON.stringify({ a: 1 })).toString('base64url')],
    ['injected timestamp', Buffer.from(JSON.stringify(["now()'); DROP TABLE x;--", last.id])).toString('base64url')],
    ['bad uuid', Buffer.from(JSON.stringify([last.createdAt, 'x'])).toString('base64url')],
  ])('refuses a tampered cursor (%s) with a 400', (_name, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow('cursor is invalid');
  });
});
