import { NonRetryableError, RetryableError, SagaDefinitionError, toErrorInfo } from './errors';

describe('NonRetryableError', () => {
  it('has a literal name, a code, details and a cause', () => {
    const cause = new Error('card declined by issuer');
    const err = new NonRetryableError('Card declined', { code: 'CARD_DECLINED', details: { last4: '4242' }, cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('NonRetryableError');
    expect(err.message).toBe('Card declined');
    expect(err.code).toBe('CARD_DECLINED');
    expect(err.details).toEqual({ last4: '4242' });
    expect(err.cause).toBe(cause);
    expect(err.retryable).toBe(false);
    expect(String(err)).toBe('NonRetryableError: Card declined');
  });

  it('defaults its code to NON_RETRYABLE', () => {
    expect(new NonRetryableError('no').code).toBe('NON_RETRYABLE');
    expect('cause' in new NonRetryableError('no')).toBe(false);
  });

  it('keeps its name in a subclass, so that classification does not depend on the class', () => {
    class AccountClosed extends NonRetryableError {
      constructor() {
        super('Account closed', { code: 'ACCOUNT_CLOSED' });
      }
    }
    expect(new AccountClosed().name).toBe('NonRetryableError');
  });
});

describe('RetryableError', () => {
  it('has a literal name, a code and retryAfter in milliseconds', () => {
    const err = new RetryableError('Rate limited', { code: 'RATE_LIMITED', retryAfter: '30s' });
    expect(err.name).toBe('RetryableError');
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.retryAfterMs).toBe(30_000);
    expect(err.retryable).toBe(true);
  });

  it('defaults its code to RETRYABLE and has no retryAfter unless given', () => {
    const err = new RetryableError('busy');
    expect(err.code).toBe('RETRYABLE');
    expect(err.retryAfterMs).toBeUndefined();
  });

  it('ignores an invalid retryAfter rather than throwing a different error', () => {
    expect(new RetryableError('busy', { retryAfter: -5 }).retryAfterMs).toBeUndefined();
    expect(new RetryableError('busy', { retryAfter: 'soon' as '1s' }).retryAfterMs).toBeUndefined();
  });
});

describe('SagaDefinitionError', () => {
  it('has a literal name', () => {
    expect(new SagaDefinitionError('bad').name).toBe('SagaDefinitionError');
  });
});

describe('toErrorInfo', () => {
  it('classifies NonRetryableError as a definite "no"', () => {
    expect(toErrorInfo(new NonRetryableError('Account closed', { code: 'ACCOUNT_CLOSED' }))).toEqual({
      name: 'NonRetryableError',
      code: 'ACCOUNT_CLOSED',
      message: 'Account closed',
      retryable: false,
    });
  });

  it('classifies RetryableError as retryable, with retryAfterMs', () => {
    expect(toErrorInfo(new RetryableError('Slow down', { code: 'RATE_LIMITED', retryAfter: 1500 }))).toEqual({
      name: 'RetryableError',
      code: 'RATE_LIMITED',
      message: 'Slow down',
      retryable: true,
      retryAfterMs: 1500,
    });
    expect(toErrorInfo(new RetryableError('again'))).toEqual({
      name: 'RetryableError',
      code: 'RETRYABLE',
      message: 'again',
      retryable: true,
    });
  });

  it('classifies by fields, not instanceof: plain data after a trip through JSON', () => {
    const wire = JSON.parse(
      JSON.stringify({ ...new NonRetryableError('closed', { code: 'ACCOUNT_CLOSED' }), message: 'closed' }),
    );
    expect(wire).not.toBeInstanceOf(Error);
    expect(toErrorInfo(wire)).toEqual({
      name: 'NonRetryableError',
      code: 'ACCOUNT_CLOSED',
      message: 'closed',
      retryable: false,
    });
    expect(toErrorInfo({ name: 'RetryableError', message: 'later', code: 'BUSY', retryAfterMs: 200 })).toEqual({
      name: 'RetryableError',
      code: 'BUSY',
      message: 'later',
      retryable: true,
      retryAfterMs: 200,
    });
  });

  it('honours a retryable: false flag on an error of another name', () => {
    const err = Object.assign(new Error('Declined'), { name: 'PaymentDeclined', code: 'DECLINED', retryable: false });
    expect(toErrorInfo(err)).toEqual({
      name: 'PaymentDeclined',
      code: 'DECLINED',
      message: 'Declined',
      retryable: false,
    });
  });

  it('classifies aborts and timeouts as TIMEOUT, retryable', () => {
    const abort = new Error('This operation was aborted');
    abort.name = 'AbortError';
    expect(toErrorInfo(abort)).toEqual({
      name: 'AbortError',
      code: 'TIMEOUT',
      message: 'This operation was aborted',
      retryable: true,
    });
    const timeout = new DOMException('The operation timed out.', 'TimeoutError');
    expect(toErrorInfo(timeout)).toEqual({
      name: 'TimeoutError',
      code: 'TIMEOUT',
      message: 'The operation timed out.',
      retryable: true,
    });
  });

  it('keeps the code of another error when it looks like one, else UNHANDLED; always retryable', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(toErrorInfo(refused)).toEqual({
      name: 'Error',
      code: 'ECONNREFUSED',
      message: 'connect ECONNREFUSED 127.0.0.1:5432',
      retryable: true,
    });
    expect(toErrorInfo(new TypeError('x is not a function'))).toEqual({
      name: 'TypeError',
      code: 'UNHANDLED',
      message: 'x is not a function',
      retryable: true,
    });
    for (const code of ['23505', 'lower_case', 'A'.repeat(65), 42]) {
      expect(toErrorInfo(Object.assign(new Error('e'), { code })).code).toBe('UNHANDLED');
    }
  });

  it('turns a thrown non-error into an UNHANDLED Error', () => {
    expect(toErrorInfo('oops')).toEqual({ name: 'Error', code: 'UNHANDLED', message: 'oops', retryable: true });
    expect(toErrorInfo(42).message).toBe('42');
    expect(toErrorInfo(undefined).message).toBe('undefined');
    expect(toErrorInfo(null).message).toBe('null');
    expect(toErrorInfo({ status: 503 }).message).toBe('{"status":503}');
    expect(toErrorInfo(Object.create(null)).message).toBe('{}');
  });

  it('cuts messages to 2000 characters', () => {
    const info = toErrorInfo(new Error('x'.repeat(5000)));
    expect(info.message).toHaveLength(2000);
    expect(info.message.endsWith('x…')).toBe(true);
    expect(toErrorInfo(new Error('y'.repeat(2000))).message).toBe('y'.repeat(2000));
  });

  it('does not split a surrogate pair when cutting', () => {
    // The cut at 1999 would fall between the two halves of the first emoji.
    expect(toErrorInfo(new Error(`${'x'.repeat(1998)}😀😀`)).message).toBe(`${'x'.repeat(1998)}…`);
    expect(toErrorInfo(new Error(`${'x'.repeat(1997)}😀😀`)).message).toBe(`${'x'.repeat(1997)}😀…`);
  });
});
