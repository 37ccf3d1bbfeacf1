import { rmSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { defineSaga } from '@saga-engine/sdk';
import { buildDashboard, launchChromium } from './support/browser';
import { startOidcProvider, type TestOidcProvider } from './support/oidc';
import { KEYS, freePort, startTestEngine, type TestEngine } from './support/test-engine';

/** A saga that waits: RUNNING for as long as the test needs, so an operator has buttons on its page. */
const held = defineSaga('sso-held', { version: 1 }).waitFor('hold', { signal: 'Go', timeout: '1h' }).build();

/**
 * Issue 18: the dashboard logs in through single sign-on, the OIDC authorization-code flow with PKCE, against a
 * real OpenID Provider run locally (oidc-provider): the test's browser clicks "Log in with single sign-on", fills
 * the provider's own login and consent pages, comes back with a code, and the dashboard redeems it and calls the
 * API with the token. Each user sees their role's view: a viewer no action button, an operator the buttons, and
 * what they do is audited under their name. The API key still logs in beside it.
 */
describe('dashboard single sign-on in a browser (e2e)', () => {
  let idp: TestOidcProvider;
  let engine: TestEngine;
  let browser: Browser;
  let base: string;
  let dashboardDir: string;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dashboardDir = buildDashboard();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    idp = await startOidcProvider({ redirectUris: [`${base}/dashboard/`] });
    engine = await startTestEngine({
      sagas: [held],
      port,
      env: {
        DASHBOARD_DIR: dashboardDir,
        SAGA_OIDC_ISSUER: idp.issuer,
        SAGA_OIDC_AUDIENCE: idp.audience,
        SAGA_OIDC_CLIENT_ID: idp.clientId,
        SAGA_OIDC_SCOPES: 'openid profile email saga',
        SAGA_OIDC_RESOURCE: idp.audience,
      },
    });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await engine?.close();
    await idp?.stop();
    if (dashboardDir) rmSync(dashboardDir, { recursive: true, force: true });
  });

  afterEach(() => {
    expect(pageErrors).toEqual([]);
  });

  async function open(path = '/dashboard/'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${base}${path}`);
    return page;
  }

  /** Through the provider's own pages: its login form (any password), then its consent. */
  async function ssoLogIn(user: string, path = '/dashboard/'): Promise<Page> {
    const page = await open(path);
    await page.click('[data-testid=sso-login]');
    await page.waitForURL((url) => url.origin === idp.issuer, { timeout: 15_000 });
    await page.fill('input[name=login]', user);
    await page.fill('input[name=password]', 'any password');
    await page.click('button[type=submit]');
    // The consent page (first login of this user in this browser context).
    await page.locator('button[type=submit]', { hasText: 'Continue' }).click({ timeout: 15_000 });
    await page.waitForURL((url) => url.origin === base, { timeout: 15_000 });
    return page;
  }

  it('puts the public SSO settings in the page and lets it reach the provider (CSP)', async () => {
    const page = await engine.http().get('/dashboard/');
    expect(page.status).toBe(200);
    const meta = /<meta name="saga-oidc" content="([^"]+)"/.exec(page.text)?.[1];
    expect(JSON.parse(meta!.replace(/&#(\d+);/g, (_, c) => String.fromCharCode(Number(c))))).toEqual({
      issuer: idp.issuer,
      clientId: idp.clientId,
      scopes: 'openid profile email saga',
      resource: idp.audience,
    });
    expect(page.headers['content-security-policy']).toContain(`connect-src 'self' ${idp.issuer}`);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('a viewer logs in through the provider and sees the viewer view: no action button', async () => {
    const res = await engine.as('operator').post('/v1/sagas').send({ type: 'sso-held', input: {} });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    const page = await ssoLogIn('alice', `/dashboard/sagas/${id}`);
    await page.locator('[data-testid=role]', { hasText: 'viewer' }).waitFor({ timeout: 15_000 });
    // Back where the login started, the code gone from the address bar.
    expect(new URL(page.url()).pathname).toBe(`/dashboard/sagas/${id}`);
    expect(page.url()).not.toContain('code=');
    await page.locator('[data-testid=saga-graph]').waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-testid=actions] button').count()).toBe(0);
    // The token is kept in this tab only, and it is a JWT of the provider for the API.
    const stored = await page.evaluate(() =>
      (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem(
        'saga-dashboard-key',
      ),
    );
    expect(stored?.split('.')).toHaveLength(3);
  });

  it('an operator logs in through the provider, gets the buttons, and acts under their own name', async () => {
    const res = await engine.as('operator').post('/v1/sagas').send({ type: 'sso-held', input: {} });
    const id = res.body.id as string;
    const page = await ssoLogIn('olga', `/dashboard/sagas/${id}`);
    await page.locator('[data-testid=role]', { hasText: 'operator' }).waitFor({ timeout: 15_000 });
    const actions = page.locator('[data-testid=actions] button');
    await actions.first().waitFor({ timeout: 10_000 });
    expect(await actions.count()).toBeGreaterThan(0);
    // Signals and cancels from the API with the same token are audited as olga.
    const token = await page.evaluate(() =>
      (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem(
        'saga-dashboard-key',
      ),
    );
    const cancel = await engine
      .http()
      .post(`/v1/sagas/${id}/cancel`)
      .set('Authorization', `Bearer ${token}`)
      .send({ reason: 'done from SSO' });
    expect(cancel.status).toBe(202);
    const audit = await engine.as('admin').get(`/v1/audit?sagaId=${id}`);
    expect(audit.body.items[0]).toMatchObject({ actor: 'sso:olga', role: 'operator', action: 'cancel' });
  });

  it('a user without a role is told so, and the API key login still works', async () => {
    const page = await ssoLogIn('nina');
    const notice = page.locator('.banner', { hasText: '403' });
    await notice.waitFor({ timeout: 15_000 });
    expect(await notice.textContent()).toMatch(/no role/);
    await page.fill('input[name=apiKey]', KEYS.admin);
    await page.click('form button[type=submit]');
    await page.locator('[data-testid=role]', { hasText: 'admin' }).waitFor({ timeout: 10_000 });
  });
});
