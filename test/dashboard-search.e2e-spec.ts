import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { defineSaga } from '@saga-engine/sdk';
import { buildDashboard, launchChromium } from './support/browser';
import { KEYS, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

/** An order that waits for its approval: it stays RUNNING, with its key and attributes, while the test searches. */
const order = defineSaga<{ orderNumber: string; tier: string; amount: number; express: boolean }>('dash-order', {
  version: 1,
  businessKey: 'orderNumber',
  searchAttributes: {
    tier: { type: 'keyword', from: 'input.tier' },
    amount: { type: 'number', from: 'input.amount' },
    express: { type: 'boolean', from: 'input.express' },
    parcel: { type: 'keyword', from: 'steps.pack.parcelId' },
  },
})
  .step('pack', { run: (ctx) => ({ parcelId: `P-${ctx.input.orderNumber}` }) })
  .waitFor('approve', { signal: 'Approve', timeout: '1h' })
  .build();

const ORDERS = [
  { orderNumber: 'ORD-A1', tier: 'gold', amount: 100, express: true },
  { orderNumber: 'ORD-A2', tier: 'gold', amount: 250, express: false },
  { orderNumber: 'ORD-A3', tier: 'silver', amount: 300, express: true },
  { orderNumber: 'ORD-A4', tier: 'gold', amount: 400, express: true },
  { orderNumber: 'ORD-A5', tier: 'bronze', amount: 500, express: false },
];

/**
 * Issue 19 item 2 in a real browser: the sagas list searches by business key and by the attributes of the chosen
 * type (equality, a number range, a boolean), keeps the search in the URL, says what is wrong with a bad value (the
 * API's 400), and the saga page shows the key and the attributes.
 */
describe('dashboard search by business key and attributes (e2e)', () => {
  let engine: TestEngine;
  let browser: Browser;
  let base: string;
  let dashboardDir: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  const ids = new Map<string, string>();

  beforeAll(async () => {
    dashboardDir = buildDashboard();
    engine = await startTestEngine({ sagas: [order], env: { DASHBOARD_DIR: dashboardDir } });
    base = `http://127.0.0.1:${((engine.app.getHttpServer() as Server).address() as AddressInfo).port}`;
    browser = await launchChromium();
    for (const input of ORDERS) {
      const res = await engine.as('operator').post('/v1/sagas').send({ type: 'dash-order', input });
      expect(res.status).toBe(201);
      ids.set(input.orderNumber, res.body.id);
    }
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await engine?.close();
    if (dashboardDir) rmSync(dashboardDir, { recursive: true, force: true });
  });

  afterEach(() => expect(pageErrors).toEqual([]));

  async function logIn(path = '/dashboard/sagas'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${base}${path}`);
    await page.fill('input[name=apiKey]', KEYS.viewer);
    await page.click('button[type=submit]');
    await page.locator('[data-testid=role]', { hasText: 'viewer' }).waitFor({ timeout: 10_000 });
    return page;
  }

  /** The ids of the rows the list shows, once it shows exactly `expected` (in any order). */
  async function rowsBecome(page: Page, expected: string[]): Promise<void> {
    const want = JSON.stringify(expected.map((n) => ids.get(n)!).sort());
    await waitFor(
      async () => {
        const shown = await page.$$eval('tr[data-saga]', (rows) => rows.map((r) => r.getAttribute('data-saga')));
        return JSON.stringify(shown.sort()) === want || undefined;
      },
      { timeoutMs: 10_000, what: `the list to show ${expected.join(', ')}` },
    );
  }

  it('searches by business key, then by the attributes of a type, and opens a saga with them', async () => {
    const page = await logIn();
    await rowsBecome(
      page,
      ORDERS.map((o) => o.orderNumber),
    );

    // A business key: one saga, its key in the row.
    await page.fill('[data-testid=search-form] input[aria-label="Business key"]', 'ORD-A3');
    await page.click('[data-testid=search-form] button[type=submit]');
    await rowsBecome(page, ['ORD-A3']);
    expect(await page.locator(`tr[data-saga="${ids.get('ORD-A3')}"] [data-testid=saga-key]`).textContent()).toContain(
      'ORD-A3',
    );
    expect(page.url()).toContain('businessKey=ORD-A3');

    // The attributes of the chosen type: equality on a keyword, a number range, a boolean.
    await page.fill('[data-testid=search-form] input[aria-label="Business key"]', '');
    await page.click('[data-testid=search-form] button[type=submit]');
    await rowsBecome(
      page,
      ORDERS.map((o) => o.orderNumber),
    );
    await page.selectOption('.filters select >> nth=0', 'dash-order');
    await page.locator('[data-testid=search-form] [data-attribute=amount]').waitFor({ timeout: 10_000 });
    await page.fill('[data-testid=search-form] input[aria-label=tier]', 'gold');
    await page.fill('[data-testid=search-form] input[aria-label="amount from"]', '200');
    await page.click('[data-testid=search-form] button[type=submit]');
    await rowsBecome(page, ['ORD-A2', 'ORD-A4']);
    expect(page.url()).toContain('attr.tier=gold');
    expect(page.url()).toContain('attr.amount.gte=200');
    await page.selectOption('[data-testid=search-form] select[aria-label=express]', 'true');
    await page.click('[data-testid=search-form] button[type=submit]');
    await rowsBecome(page, ['ORD-A4']);
    expect(
      await page.locator(`tr[data-saga="${ids.get('ORD-A4')}"] [data-testid=saga-attributes]`).textContent(),
    ).toContain('tier=gold');

    // The search is the URL: a reload shows the same, with the form filled in.
    await page.reload();
    await rowsBecome(page, ['ORD-A4']);
    expect(await page.inputValue('[data-testid=search-form] input[aria-label=tier]')).toBe('gold');

    // A step's output set an attribute too; the saga page shows the key and the attributes.
    await page.click(`tr[data-saga="${ids.get('ORD-A4')}"] a`);
    await page.locator('[data-testid=saga-page]').waitFor();
    expect(await page.locator('[data-testid=saga-business-key]').textContent()).toBe('ORD-A4');
    const attributes = page.locator('[data-testid=saga-attributes]');
    await attributes.locator('[data-attribute=parcel]', { hasText: 'P-ORD-A4' }).waitFor({ timeout: 10_000 });
    expect(await attributes.textContent()).toContain('amount = 400');
    expect(await attributes.textContent()).toContain('express = true');

    // The key links back to the list of every saga with it.
    await page.click('[data-testid=saga-business-key] a');
    await rowsBecome(page, ['ORD-A4']);
    expect(page.url()).toContain('businessKey=ORD-A4');
  });

  it("shows a type's business key and attributes on the saga types page", async () => {
    const page = await logIn('/dashboard/types/dash-order');
    const search = page.locator('[data-type=dash-order] [data-testid=type-search]');
    await search.waitFor({ timeout: 10_000 });
    expect(await search.textContent()).toContain('Business key: input.orderNumber');
    expect(await search.textContent()).toContain('parcel (keyword, from step pack)');
  });

  it("says what is wrong with a value the attribute's type refuses (the API's 400)", async () => {
    const page = await logIn('/dashboard/sagas?type=dash-order');
    await page.locator('[data-testid=search-form] [data-attribute=amount]').waitFor({ timeout: 10_000 });
    await page.fill('[data-testid=search-form] input[aria-label="amount from"]', 'lots');
    await page.click('[data-testid=search-form] button[type=submit]');
    await page.locator('.banner', { hasText: 'attr.amount.gte must be a decimal number' }).waitFor({ timeout: 10_000 });
  });
});
