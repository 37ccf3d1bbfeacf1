import { Writable } from 'node:stream';
import pino from 'pino';
import { withSagaLog } from './log-context';
import { pinoOptions } from './logger';

function capture(level: Parameters<typeof pinoOptions>[0] = 'log') {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino(pinoOptions(level), stream), lines };
}

describe('pino options', () => {
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('names the saga, step, attempt and trace on lines logged inside a saga context', async () => {
    const { logger, lines } = capture();
    await withSagaLog({ sagaId: 's-1', step: 'charge', phase: 'run', attempt: 2, traceparent }, async () => {
      await Promise.resolve();
      logger.info('charged');
    });
    logger.info('unrelated');
    expect(lines[0]).toMatchObject({
      msg: 'charged',
      sagaId: 's-1',
      step: 'charge',
      phase: 'run',
      attempt: 2,
      traceId: '0af7651916cd43dd8448eb211c80319c',
    });
    expect(lines[1].sagaId).toBeUndefined();
  });

  it('keeps the outer attempt when an apply of the same saga nests inside it', () => {
    const { logger, lines } = capture();
    withSagaLog({ sagaId: 's-1', step: 'charge', attempt: 1, traceparent }, () =>
      withSagaLog({ sagaId: 's-1' }, () => logger.info('inner')),
    );
    expect(lines[0]).toMatchObject({ sagaId: 's-1', step: 'charge', attempt: 1 });
  });

  it('redacts authorization headers and any field named like a secret', () => {
    const { logger, lines } = capture();
    logger.info(
      {
        req: { headers: { authorization: 'Bearer sk_live', accept: 'json' } },
        webhook: { url: 'https://x', apiKey: 'k', nested: { clientSecret: 's', password: 'p', token: 't' } },
        idempotencyKey: 'kept',
      },
      'call',
    );
    expect(lines[0].req.headers).toEqual({ authorization: '[redacted]', accept: 'json' });
    expect(lines[0].webhook).toEqual({
      url: 'https://x',
      apiKey: '[redacted]',
      nested: { clientSecret: '[redacted]', password: '[redacted]', token: '[redacted]' },
    });
    expect(lines[0].idempotencyKey).toBe('kept');
  });

  it('maps LOG_LEVEL to pino levels', () => {
    expect(pinoOptions('log').level).toBe('info');
    expect(pinoOptions('verbose').level).toBe('trace');
    expect(pinoOptions('error').level).toBe('error');
  });

  it('redacts request bodies, saga inputs and sealed values wherever they are logged', () => {
    const { logger, lines } = capture();
    const sealed = { $enc: 'v1:abcd1234:Zm9v' };
    logger.info({ req: { body: { input: { card: '4111-sentinel' } } } }, 'a request');
    logger.info({ input: { card: '4111-sentinel' } }, 'an input');
    logger.info({ saga: { input: { card: '4111-sentinel' } } }, 'a nested input');
    logger.info({ state: { payment: { cardNumber: sealed } } }, 'a sealed value');
    expect(JSON.stringify(lines)).not.toContain('4111-sentinel');
    expect(JSON.stringify(lines)).not.toContain('Zm9v');
    expect(lines[3].state.payment.cardNumber).toBe('[redacted]');
  });
});
