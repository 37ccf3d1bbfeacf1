import { decodeCursor, encodeCursor } from './sagas.controller';

describe('list cursor', () => {
  const last = { createdAt: '2026-11-21 20:30:00.123456+00', id: '01a1ffc6-7198-7104-a3f8-f7f15b6b1aa6' };

  it('round-trips the keyset position with full timestamp precision', () => {
    expect(decodeCursor(encodeCursor(last))).toEqual(last);
  });

  it.each([
    ['not base64 json', 'bm9wZQ'],
    ['wrong shape', Buffer.from(JSON.stringify({ a: 1 })).toString('base64url')],
    ['injected timestamp', Buffer.from(JSON.stringify(["now()'); DROP TABLE x;--", last.id])).toString('base64url')],
    ['bad uuid', Buffer.from(JSON.stringify([last.createdAt, 'x'])).toString('base64url')],
  ])('refuses a tampered cursor (%s) with a 400', (_name, cursor) => {
    expect(() => decodeCursor(cursor)).toThrow('cursor is invalid');
  });
});
