import { SIGNAL_PAYLOAD_MAX_BYTES, signalPayload } from './signal-payload';

describe('signalPayload', () => {
  it('accepts a missing body or payload as {}, and an object payload as it is', () => {
    expect(signalPayload(undefined)).toEqual({ payload: {} });
    expect(signalPayload({})).toEqual({ payload: {} });
    expect(signalPayload({ payload: { droneId: 'd-1', at: [1, 2] } })).toEqual({
      payload: { droneId: 'd-1', at: [1, 2] },
    });
  });

  it.each([
    [[], 'body must be a JSON object'],
    ['x', 'body must be a JSON object'],
    [{ payload: 1 }, 'payload must be a JSON object'],
    [{ payload: [1] }, 'payload must be a JSON object'],
    [{ payload: null }, 'payload must be a JSON object'],
    [{ payload: {}, extra: 1 }, 'property extra should not exist'],
  ])('refuses %j: %s', (body, problem) => {
    expect(signalPayload(body)).toEqual({ problem });
  });

  it('refuses a payload nested deeper than 32 levels, and accepts 32', () => {
    const nest = (levels: number) => {
      let value: Record<string, unknown> = {};
      for (let i = 1; i < levels; i++) value = { v: value };
      return value;
    };
    expect(signalPayload({ payload: nest(32) })).toEqual({ payload: nest(32) });
    expect(signalPayload({ payload: nest(33) })).toEqual({
      problem: 'payload must be nested at most 32 levels deep',
    });
  });

  it('refuses a payload over 64 KiB of JSON', () => {
    const payload = { text: 'x'.repeat(SIGNAL_PAYLOAD_MAX_BYTES) };
    expect(signalPayload({ payload })).toEqual({
      problem: `payload must be at most 65536 bytes of JSON (got ${SIGNAL_PAYLOAD_MAX_BYTES + 11})`,
    });
  });
});
