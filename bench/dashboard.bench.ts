import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { RetryableError, defineSaga } from '@saga-engine/sdk';
import { buildDashboard, launchChromium } from '../test/support/browser';
import { KEYS, startTestEngine, type TestEngine } from '../test/support/test-engine';

/**
 * `npm run bench:dashboard`: how fast the dashboard opens with 10,000 sagas in the database and a 50-step saga
 * with a long history (every step fails once and is retried, several outputs are large). Times, in Chromium, from
 * navigation to the content being on screen (not to "load"), cold (first visit) and warm (median of the rest), and
 * the API calls behind them; then EXPLAIN of the queries the pages run. Prints figures; asserts only the content.
 */
const SAGAS = 10_000;
const STEPS = 50;
const RUNS = 7;

const names = Array.from({ length: STEPS }, (_, i) => `step-${String(i + 1).padStart(2, '0')}`);
const failedOnce = new Set<string>();

function fiftySteps() {
  let builder: any = defineSaga('bench-fifty', {
    version: 1,
    defaults: { retry: { maximumAttempts: 3, initialInterval: '10ms', jitter: 0 } },
  });
  for (const [i, name] of names.entries()) {
    builder = builder.step(name, {
      run: (ctx: { key: string }) => {
        if (!failedOnce.has(ctx.key)) {
          failedOnce.add(ctx.key);
          throw new RetryableError(`${name} busy (first attempt)`);
        }
        // Every tenth step returns a large output (about 40 KiB), which the page shows collapsed.
        return i % 10 === 9 ? { rows: Array.from({ length: 400 }, (_, r) => ({ r, text: 'x'.repeat(80) })) } : { i };
      },
      compensate: () => undefined,
    });
  }
  return builder.build();
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('dashboard bench', () => {
  let engine: TestEngine;
  let browser: Browser;
  let dir: string;
  let base: string;

  beforeAll(async () => {
    dir = buildDashboard();
    engine = await startTestEngine({ sagas: [fiftySteps()], env: { DASHBOARD_DIR: dir, RATE_LIMIT_PER_MINUTE: '0' } });
    base = `http://127.0.0.1:${((engine.app.getHttpServer() as Server).address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await engine?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('10k sagas: list, overview and a 50-step saga page', async () => {
    const started = await engine
      .as('operator')
      .post('/v1/sagas')
      .send({ type: 'bench-fifty', input: { n: 1 } });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    await engine.waitForStatus(id, ['COMPLETED'], 120_000);
    const t0 = Date.now();
    await engine.db.query(
      `INSERT INTO saga_instance (id, type, definition_version, status, version, input, request_hash, created_at,
                                  updated_at, completed_at, error)
       SELECT gen_random_uuid(), 'bench-fifty', 1, s.status, 1, jsonb_build_object('n', g), 'bench', c, c + d,
              CASE WHEN s.status IN ('COMPLETED', 'COMPENSATED', 'CANCELLED') THEN c + d END,
              CASE WHEN s.status IN ('COMPENSATED', 'FAILED') THEN
                jsonb_build_object('step', 'step-07', 'message', 'declined', 'code', 'DECLINED', 'transient', false)
              END
       FROM generate_series(1, $1) AS g,
            LATERAL (SELECT now() - (g * interval '60 seconds') AS c, (1 + g % 30) * interval '1 second' AS d) t,
            LATERAL (SELECT (ARRAY['COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED',
                                   'COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED','COMPLETED',
                                   'COMPLETED','COMPLETED','COMPLETED','COMPENSATED','COMPENSATED',
                                   'CANCELLED','RUNNING','FAILED'])[1 + (g * 7) % 20] AS status) s`,
      [SAGAS - 1],
    );
    await engine.db.query('ANALYZE saga_instance');
    const [{ n }] = await engine.db.query<{ n: string }>('SELECT count(*) AS n FROM saga_instance');
    const [{ events }] = await engine.db.query<{ events: string }>(
      'SELECT count(*) AS events FROM saga_event WHERE saga_id = $1',
      [id],
    );
    out(`\nseeded ${n} sagas in ${Date.now() - t0} ms; the 50-step saga has ${events} events`);

    // The API calls behind the pages.
    const api = async (path: string) => {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const s = performance.now();
        const res = await engine.as('viewer').get(path);
        expect(res.status).toBe(200);
        times.push(performance.now() - s);
      }
      out(`  API ${path.padEnd(48)} median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`);
    };
    out('\nAPI (supertest, in process):');
    await api('/v1/sagas?limit=50');
    await api('/v1/sagas?limit=50&status=FAILED');
    await api('/v1/stats?window=1h');
    await api('/v1/stats?window=7d');
    await api(`/v1/sagas/${id}`);
    await api(`/v1/sagas/${id}/events?afterSeq=0&limit=1000`);

    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}/dashboard/`);
    await page.fill('input[name=apiKey]', KEYS.viewer);
    await page.click('button[type=submit]');
    await page.locator('[data-testid=role]').waitFor();

    const measure = async (label: string, path: string, ready: (p: Page) => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        if (i === 0) await page.context().clearCookies();
        const s = performance.now();
        await page.goto(`${base}${path}`, { waitUntil: 'commit' });
        await ready(page);
        times.push(performance.now() - s);
      }
      const [cold, ...warm] = times;
      out(
        `  ${label.padEnd(34)} first ${cold.toFixed(0)} ms, then median ${median(warm).toFixed(0)} ms, ` +
          `max ${Math.max(...warm).toFixed(0)} ms`,
      );
    };
    out('\nChromium, navigation to content on screen:');
    await measure('list (50 of 10,000 rows)', '/dashboard/sagas', (p) =>
      p.locator('tr[data-saga]').nth(49).waitFor({ timeout: 10_000 }),
    );
    await measure('list filtered: FAILED', '/dashboard/sagas?status=FAILED', (p) =>
      p.locator('tr[data-saga]').nth(49).waitFor({ timeout: 10_000 }),
    );
    await measure('overview (counts, FAILED, 1h chart)', '/dashboard/', (p) =>
      p.locator('[data-testid=throughput-chart] rect.bar').first().waitFor({ timeout: 10_000 }),
    );
    const parts: string[] = [];
    await measure('50-step saga: graph, timeline, history', `/dashboard/sagas/${id}`, async (p) => {
      const s = performance.now();
      await p.locator('[data-step=step-50][data-status=SUCCEEDED]').waitFor({ timeout: 10_000 });
      const graph = performance.now() - s;
      await p.locator('[data-attempt="step-50:action:2"]').waitFor({ timeout: 10_000 });
      const timeline = performance.now() - s;
      await p.locator('[data-testid=event-history] td', { hasText: 'SagaStarted' }).waitFor({ timeout: 10_000 });
      parts.push(`${graph.toFixed(0)}/${timeline.toFixed(0)}/${(performance.now() - s).toFixed(0)}`);
    });
    out(`    (after commit, ms to graph/timeline/history per run: ${parts.join(', ')})`);
    expect(errors).toEqual([]);
    if (process.env.DASHBOARD_SCREENSHOTS) {
      // The README's overview: the seeded sagas make a fuller picture than the browser tests' few.
      await page.goto(`${base}/dashboard/`);
      await page.locator('[data-testid=throughput-chart] rect.bar').first().waitFor();
      await page.waitForTimeout(500);
      await page.screenshot({ path: `${process.env.DASHBOARD_SCREENSHOTS}/dashboard-overview.png` });
    }

    // Are the queries on indexes? (With 10k rows the planner prefers them; printed for the record.)
    out('\nEXPLAIN (the queries behind the pages):');
    const explain = async (label: string, sql: string, params: unknown[] = []) => {
      const rows = await engine.db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF) ${sql}`, params);
      const plan = rows.map((r) => r['QUERY PLAN']);
      const scans = plan.filter((l) => /Scan/.test(l)).map((l) => l.trim().replace(/\s+\(actual.*$/, ''));
      const time = plan.find((l) => l.startsWith('Execution Time')) ?? '';
      out(`  ${label}: ${scans.join('; ')} — ${time}`);
    };
    await explain('list page', `SELECT * FROM saga_instance ORDER BY created_at DESC, id DESC LIMIT 51`);
    await explain(
      'list FAILED',
      `SELECT * FROM saga_instance WHERE status IN ('FAILED') ORDER BY created_at DESC, id DESC LIMIT 51`,
    );
    await explain('stats counts', `SELECT status, count(*) FROM saga_instance GROUP BY status`);
    await explain(
      'stats started 1h',
      `SELECT floor(extract(epoch FROM (created_at - (now() - interval '1 hour'))) / 60)::int, count(*)
         FROM saga_instance WHERE created_at >= now() - interval '1 hour' GROUP BY 1`,
    );
    await explain(
      'stats ended 1h',
      `SELECT floor(extract(epoch FROM (completed_at - (now() - interval '1 hour'))) / 60)::int, status, count(*)
         FROM saga_instance WHERE completed_at >= now() - interval '1 hour'
          AND status IN ('COMPLETED', 'COMPENSATED', 'CANCELLED') GROUP BY 1, 2`,
    );
    await explain(
      'stats failed 1h',
      `SELECT count(*) FROM saga_instance WHERE status = 'FAILED' AND updated_at >= now() - interval '1 hour'`,
    );
    await explain('events page', `SELECT * FROM saga_event WHERE saga_id = $1 AND seq > 0 ORDER BY seq LIMIT 100`, [
      id,
    ]);
  }, 300_000);
});
