import { Agent, request as httpRequest } from 'node:http';
import { rawHttp } from './support/raw-http';
import { KEYS, startTestEngine, type TestEngine } from './support/test-engine';

describe('probe', () => {
  let engine: TestEngine;
  let port: number;
  beforeAll(async () => {
    engine = await startTestEngine({ demo: true, agent: false, env: { LOG_LEVEL: 'warn', RATE_LIMIT_PER_MINUTE: process.env.RL ?? '100000' } });
    port = Number(new URL(engine.url).port);
  });
  afterAll(() => engine?.close());
  it('times', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const me = (path: string) => new Promise<number>((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = httpRequest({ host: '127.0.0.1', port, path, agent, headers: { authorization: `Bearer ${KEYS.admin}` } }, (res) => {
        res.resume(); res.on('end', () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
      });
      req.on('error', reject); req.end();
    });
    for (const path of ['/v1/me', '/health', '/v1/saga-types']) {
      const t: number[] = [];
      for (let i = 0; i < 100; i++) t.push(await me(path));
      t.sort((a, b) => a - b);
      console.log(path, 'p50', t[50].toFixed(2), 'p99', t[98].toFixed(2));
    }
    for (const path of ['/health', '/HEALTH', '/Health', '/health/', '/health?x=1']) {
      const started = Date.now();
      const res = await rawHttp(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).catch((e) => ({ status: String(e), text: '' } as any));
      console.log(path, res.status, Date.now() - started, JSON.stringify(res.text).slice(0, 400));
    }
  });
});
