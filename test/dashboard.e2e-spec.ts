import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { toSpecJson } from '@saga-engine/core';
import { IsBoolean, IsInt, IsString, Matches, Max, Min } from 'class-validator';
import { defineSaga } from '@saga-engine/sdk';
import { buildDashboard, launchChromium } from './support/browser';
import { droneInput } from './support/drone-input';
import { KEYS, startTestEngine, type TestEngine } from './support/test-engine';
import { waitFor } from './support/wait-for';

const XSS = '<img src=x onerror=alert(1)>';

/** A saga whose input is free text, so a hostile string reaches the page as a saga's input, output and error. */
const echo = defineSaga('text-echo', { version: 1, defaults: { retry: { maximumAttempts: 1 } } })
  .step('echo', { run: (ctx) => ({ echoed: ctx.input }), compensate: () => undefined })
  .step('refuse', {
    run: () => {
      throw Object.assign(new Error(`refused ${XSS}`), { code: 'REFUSED', retryable: false });
    },
  })
  .build();

/** A saga that waits until the test lets it go. */
const heldSaga = defineSaga('held', { version: 1 }).waitFor('hold', { signal: 'Go', timeout: '1h' }).build();

/** A saga that sleeps an hour: its page shows the wake-up time. */
const napping = defineSaga('dash-nap', { version: 1 })
  .step('prepare', { run: () => ({ ready: true }) })
  .sleep('cool-off', '1h')
  .step('finish', { run: () => undefined })
  .build();

/** Set by the test: whether `b`'s undo fails (it does, until an operator has fixed it and retries). */
let undoOfBFails = true;

/**
 * Lanes of a FAILED saga: `c` fails for good, `b2` is undone, the undo of `b` fails (FAILED), `a` is still to
 * undo, `d` never ran. A long step name and unlimited retries are shown as they are.
 */
const lanes = defineSaga('dash-lanes', {
  version: 1,
  defaults: { retry: { maximumAttempts: 1 }, compensationRetry: { maximumAttempts: 1 } },
})
  .step('a', { run: () => ({}), compensate: () => undefined })
  .step('b', {
    run: () => ({}),
    compensate: () => {
      if (undoOfBFails) throw Object.assign(new Error('warehouse API down'), { code: 'UNDO_DOWN', retryable: false });
    },
  })
  .step('b2', { run: () => ({}), compensate: () => undefined })
  .step('c', {
    run: () => {
      throw Object.assign(new Error('card declined'), { code: 'CARD_DECLINED', retryable: false });
    },
    compensate: () => undefined,
  })
  .step('reserve-the-inventory-in-every-warehouse-nearby', {
    run: () => ({}),
    compensate: () => undefined,
    retry: { maximumAttempts: 0 },
  })
  .build();

class FormInput {
  @IsString()
  @Matches(/^[a-z]{1,10}$/, { message: 'name must be 1-10 lowercase letters' })
  name!: string;

  @IsInt()
  @Min(1)
  @Max(9)
  count!: number;

  @IsBoolean()
  rush!: boolean;
}

/** A saga with an input class: the dashboard's start form is built from its JSON Schema. */
const formSaga = defineSaga('dash-form', { version: 1, input: FormInput })
  .step('take', { run: (ctx) => ({ got: ctx.input }) })
  .build();

class Booking {
  @IsString()
  ref!: string;

  @IsInt()
  @Min(1)
  seats!: number;
}

/** A saga whose step `book` declares its output type and fails for good after the pivot: an admin skips it. */
const typedSaga = defineSaga('dash-typed', { version: 1 })
  .step('charge', { run: () => ({}), pivot: true })
  .step('book', {
    output: Booking,
    run: (): Booking => {
      throw Object.assign(new Error('no seats left'), { code: 'SOLD_OUT', retryable: false });
    },
  })
  .step('confirm', { run: (ctx) => ({ confirmed: ctx.steps.book.ref }) })
  .build();

/**
 * The dashboard in a real browser (Debian's Chromium through playwright-core), against the real engine: the page
 * is the build of the current sources, served by the orchestrator, and every figure on it comes from the REST API.
 * DASHBOARD_SCREENSHOTS=docs writes the README's saga page screenshot (npm run bench:dashboard the overview's).
 */
describe('dashboard in a browser (e2e)', () => {
  let engine: TestEngine;
  let browser: Browser;
  let base: string;
  let dashboardDir: string;
  const contexts: BrowserContext[] = [];
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dashboardDir = buildDashboard();
    engine = await startTestEngine({
      demo: true,
      sagas: [echo, heldSaga, napping, lanes, formSaga, typedSaga],
      env: { DASHBOARD_DIR: dashboardDir },
    });
    base = `http://127.0.0.1:${((engine.app.getHttpServer() as Server).address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await engine?.close();
    if (dashboardDir) rmSync(dashboardDir, { recursive: true, force: true });
  });

  afterEach(() => {
    // Any alert() is an injected script that ran; any uncaught error is a bug on the page.
    expect(dialogs).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  async function open(path = '/dashboard/'): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    contexts.push(context);
    const page = await context.newPage();
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(`${base}${path}`);
    return page;
  }

  async function logIn(role: keyof typeof KEYS, path = '/dashboard/'): Promise<Page> {
    const page = await open(path);
    await page.fill('input[name=apiKey]', KEYS[role]);
    await page.click('button[type=submit]');
    await page.locator('[data-testid=role]', { hasText: role }).waitFor({ timeout: 10_000 });
    return page;
  }

  async function start(type: string, input: unknown): Promise<string> {
    const res = await engine.as('operator').post('/v1/sagas').send({ type, input });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  it('serves the page and its assets under the CSP, deep links included', async () => {
    const page = await engine.http().get('/dashboard/sagas/some/deep/link');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.text).not.toMatch(/<script>(?!<\/script>)/); // no inline script
    const script = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(page.text)?.[1];
    const asset = await engine.http().get(script!);
    expect(asset.status).toBe(200);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await engine.http().get('/dashboard/assets/nope.js')).status).toBe(404);
    expect((await engine.http().get('/dashboard/assets/..%2f..%2fpackage.json')).status).toBe(404);
  });

  it('says clearly that a wrong key was refused (401)', async () => {
    const page = await open();
    await page.fill('input[name=apiKey]', 'not-a-key-0000000000');
    await page.click('button[type=submit]');
    const message = await page.locator('[data-testid=login-error]').textContent({ timeout: 10_000 });
    expect(message).toContain('401');
    expect(message).toContain('refused');
    expect(await page.locator('[data-testid=role]').count()).toBe(0);
    // The page says where a key is.
    await page.click('[data-testid=key-help] summary');
    expect(await page.locator('[data-testid=key-help]').textContent()).toContain('.saga-data/admin.key');
  });

  it('shows a completed and a compensated saga; one opens with its graph, lanes and timeline', async () => {
    const completed = await start('drone-delivery', droneInput());
    const compensated = await start('drone-delivery', droneInput({ faults: { 'charge-account': { fatal: true } } }));
    await engine.waitForStatus(completed, ['COMPLETED']);
    await engine.waitForStatus(compensated, ['COMPENSATED']);

    const page = await logIn('admin');
    await page.locator('[data-count=COMPLETED] strong', { hasText: /^[1-9]/ }).waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=throughput-chart] rect.bar').first().waitFor({ timeout: 10_000 });

    await page.click('nav >> text=Sagas');
    await page.locator(`tr[data-saga="${completed}"][data-status=COMPLETED]`).waitFor({ timeout: 10_000 });
    await page.locator(`tr[data-saga="${compensated}"][data-status=COMPENSATED]`).waitFor({ timeout: 10_000 });

    // Filter by status: only the compensated one stays.
    await page.check('.status-filter input[type=checkbox] >> nth=4'); // COMPENSATED
    // The list may empty while the filtered page loads: wait for the old row to go and the kept one to be back.
    await page.locator(`tr[data-saga="${completed}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    await page.locator(`tr[data-saga="${compensated}"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator(`tr[data-saga="${completed}"]`).count()).toBe(0);

    await page.click(`tr[data-saga="${compensated}"] a`);
    await page.locator('[data-testid=saga-page]').waitFor();
    const graph = page.locator('[data-testid=saga-graph]');
    await graph.locator('[data-step=charge-account][data-status=FAILED]').waitFor({ timeout: 10_000 });
    // Each step's live status, forward and compensation lanes, as the API reports it.
    const saga = (await engine.as('viewer').get(`/v1/sagas/${compensated}`)).body as {
      steps: { name: string; status: string; compensation: { status: string } | null }[];
    };
    for (const step of saga.steps) {
      await graph.locator(`[data-step="${step.name}"][data-status="${step.status}"]`).waitFor({ timeout: 5000 });
      if (step.compensation) {
        await graph
          .locator(`[data-comp-step="${step.name}"][data-status="${step.compensation.status}"]`)
          .waitFor({ timeout: 5000 });
      }
    }
    // What completed was undone: create-delivery and register-package were compensated.
    expect(saga.steps.find((s) => s.name === 'create-delivery')?.compensation?.status).toBe('SUCCEEDED');
    expect(saga.steps.find((s) => s.name === 'register-package')?.compensation?.status).toBe('SUCCEEDED');
    // The timeline: the fatal attempt, and each compensation.
    const timeline = page.locator('[data-testid=timeline]');
    await timeline
      .locator('[data-attempt="charge-account:action:1"]', { hasText: 'failed' })
      .waitFor({ timeout: 10_000 });
    await timeline.locator('[data-attempt="create-delivery:compensation:1"]', { hasText: 'succeeded' }).waitFor();
    expect(await page.locator('[data-testid=saga-error]').textContent()).toContain('charge-account');
    // The history, paginated by the API.
    await page.locator('[data-testid=event-history] td', { hasText: 'SagaStarted' }).waitFor();
    await screenshot(page, 'dashboard-saga.png', true);

    // Saga types: each definition's graph, with its retry policies and timeouts.
    await page.click('nav >> text=Saga types');
    const type = page.locator('[data-type=drone-delivery]');
    await type.locator('[data-testid=saga-graph] [data-step=charge-account]').waitFor({ timeout: 10_000 });
    await type.locator('[data-comp-step=create-delivery]').waitFor();
    expect(await type.locator('table.policies').textContent()).toContain('maximumAttempts');
  });

  it('an operator cancels a running saga, after confirming with a reason, and sees it end CANCELLED', async () => {
    const slow = { delayMs: 1500 };
    const id = await start(
      'drone-delivery',
      droneInput({ faults: { 'create-delivery': slow, 'register-package': slow, 'schedule-drone': slow } }),
    );
    const page = await logIn('operator', `/dashboard/sagas/${id}`);
    await page
      .locator('[data-testid=saga-page] .saga-head .badge', { hasText: 'RUNNING' })
      .waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Cancel saga' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain('compensated, in reverse order');
    // No reason, no action.
    expect(await dialog.getByRole('button', { name: 'Cancel the saga' }).isDisabled()).toBe(true);
    await dialog.locator('textarea[name=reason]').fill('customer called, ticket 4711');
    await dialog.getByRole('button', { name: 'Cancel the saga' }).click();
    await page.locator('.saga-head .badge', { hasText: 'CANCELLED' }).waitFor({ timeout: 20_000 });
    expect((await engine.as('viewer').get(`/v1/sagas/${id}`)).body.status).toBe('CANCELLED');
    const events = (await engine.as('viewer').get(`/v1/sagas/${id}/events`)).body.items as {
      type: string;
      data: any;
    }[];
    expect(events.find((e) => e.type === 'CancelRequested')?.data?.reason).toBe('customer called, ticket 4711');
  });

  it('a FAILED saga is listed first on the overview; an admin marks its compensation resolved and it ends', async () => {
    const id = await start(
      'drone-delivery',
      droneInput({ faults: { 'charge-account': { fatal: true }, 'create-delivery': { compensationFatal: true } } }),
    );
    await engine.waitForStatus(id, ['FAILED']);
    const page = await logIn('admin');
    await page.locator(`[data-testid=attention] a[href="/dashboard/sagas/${id}"]`).click({ timeout: 10_000 });
    await page.locator('.saga-head .badge', { hasText: 'FAILED' }).waitFor({ timeout: 10_000 });
    // Both actions a FAILED saga allows; an admin also sees the resolve button for the failed compensation.
    await page.getByRole('button', { name: 'Retry saga' }).waitFor();
    await page.getByRole('button', { name: 'Mark "undo create-delivery" resolved' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain('The engine cannot check this');
    await dialog.locator('textarea[name=reason]').fill('delivery cancelled by phone');
    await dialog.getByRole('button', { name: 'Mark resolved' }).click();
    await page.locator('.saga-head .badge', { hasText: 'COMPENSATED' }).waitFor({ timeout: 20_000 });
    await page
      .locator('[data-attempt^="create-delivery:compensation:"]', { hasText: 'resolved by hand: delivery cancelled' })
      .waitFor({ timeout: 10_000 });
    const saga = (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
    expect(saga.steps.find((s: any) => s.name === 'create-delivery').compensation.status).toBe('RESOLVED');
  });

  it('an operator re-runs a COMPLETED saga from a step; an admin skips a FAILED step with an output', async () => {
    const done = await start('drone-delivery', droneInput());
    await engine.waitForStatus(done, ['COMPLETED']);
    const operator = await logIn('operator', `/dashboard/sagas/${done}`);
    await operator.locator('.saga-head .badge', { hasText: 'COMPLETED' }).waitFor({ timeout: 10_000 });
    // Only after the pivot (charge-account): no button on the steps before it, nor a skip for an operator.
    await operator.getByRole('button', { name: 'Retry from notify-customer' }).waitFor({ timeout: 10_000 });
    expect(await operator.getByRole('button', { name: 'Retry from charge-account' }).count()).toBe(0);
    expect(await operator.getByRole('button', { name: 'Retry from verify-account' }).count()).toBe(0);
    expect(await operator.getByRole('button', { name: /^Skip / }).count()).toBe(0);
    await operator.getByRole('button', { name: 'Retry from notify-customer' }).click();
    const rerun = operator.getByRole('dialog');
    expect(await rerun.textContent()).toContain('each with a new idempotency key');
    expect(await rerun.getByRole('button', { name: 'Re-run from here' }).isDisabled()).toBe(true);
    await rerun.locator('textarea[name=reason]').fill('mail bounced, INC-7');
    await rerun.getByRole('button', { name: 'Re-run from here' }).click();
    await operator.locator('[data-step-row=notify-customer] [data-testid=step-run]').waitFor({ timeout: 20_000 });
    await engine.waitForStatus(done, ['COMPLETED']);
    await waitFor(async () => (await engine.ledger(done)).filter((e) => e.operation === 'notify').length === 2, {
      what: 'the re-run notification',
      timeoutMs: 20_000,
    });
    const rerunEvents = (await engine.as('viewer').get(`/v1/sagas/${done}/events`)).body.items as any[];
    expect(rerunEvents.find((e) => e.type === 'RetryFromStepRequested')?.data).toMatchObject({
      reason: 'mail bounced, INC-7',
      steps: ['notify-customer'],
    });

    const failed = await start('drone-delivery', droneInput({ faults: { 'notify-customer': { fatal: true } } }));
    await engine.waitForStatus(failed, ['FAILED']);
    const admin = await logIn('admin', `/dashboard/sagas/${failed}`);
    await admin.locator('.saga-head .badge', { hasText: 'FAILED' }).waitFor({ timeout: 10_000 });
    await admin.getByRole('button', { name: 'Skip notify-customer' }).click();
    const skip = admin.getByRole('dialog');
    expect(await skip.textContent()).toContain('never compensated');
    await skip.locator('textarea[name=reason]').fill('called the customer, ticket 9');
    // Not JSON: said in the dialog, nothing sent.
    await skip.locator('textarea[name=json]').fill('{sent: phone}');
    await skip.getByRole('button', { name: 'Skip the step' }).click();
    await skip.getByRole('alert').filter({ hasText: 'not valid JSON' }).waitFor();
    await skip.locator('textarea[name=json]').fill('{"sent":"by phone"}');
    await skip.getByRole('button', { name: 'Skip the step' }).click();
    await admin.locator('.saga-head .badge', { hasText: 'COMPLETED' }).waitFor({ timeout: 20_000 });
    await admin.locator('[data-step-row=notify-customer] [data-testid=step-skipped]').waitFor({ timeout: 10_000 });
    await admin.locator('.outcome.skipped').first().waitFor({ timeout: 10_000 });
    const saga = (await engine.as('viewer').get(`/v1/sagas/${failed}`)).body;
    expect(saga.output.notifyCustomer).toEqual({ sent: 'by phone' });
    // (The demo's drone signals DeliveryCompleted: audited too, left out here.)
    const audit = (await engine.as('admin').get(`/v1/audit?sagaId=${failed}`)).body.items.filter(
      (a: any) => a.action !== 'signal',
    ) as any[];
    expect(audit.map((a) => [a.action, a.step, a.outcome, a.reason])).toEqual([
      ['skip-step', 'notify-customer', 'accepted', 'called the customer, ticket 9'],
    ]);
  });

  it("the skip dialog of a step with an output type starts from its skeleton and shows the API's 400", async () => {
    const id = await start('dash-typed', {});
    await engine.waitForStatus(id, ['FAILED']);
    const admin = await logIn('admin', `/dashboard/sagas/${id}`);
    await admin.locator('.saga-head .badge', { hasText: 'FAILED' }).waitFor({ timeout: 10_000 });
    await admin.getByRole('button', { name: 'Skip book' }).click({ timeout: 10_000 });
    const skip = admin.getByRole('dialog');
    const json = skip.locator('textarea[name=json]');
    expect(JSON.parse(await json.inputValue())).toEqual({ ref: '', seats: 0 });
    await skip.locator('textarea[name=reason]').fill('booked by phone, R-1');
    // The skeleton as it is does not fit (seats >= 1): the API's 400 names the field, in the dialog.
    await skip.getByRole('button', { name: 'Skip the step' }).click();
    await skip
      .getByRole('alert')
      .filter({ hasText: '400 INPUT_INVALID: output.seats must not be less than 1' })
      .waitFor({ timeout: 10_000 });
    await json.fill('{"ref":"R-1","seats":2}');
    await skip.getByRole('button', { name: 'Skip the step' }).click();
    await admin.locator('.saga-head .badge', { hasText: 'COMPLETED' }).waitFor({ timeout: 20_000 });
    const saga = (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
    expect(saga.output).toMatchObject({ book: { ref: 'R-1', seats: 2 }, confirm: { confirmed: 'R-1' } });
  });

  it('says so when no agent runs a saga type, on its page and on the saga types page', async () => {
    // Another service published `lonely` (its agent's start does that) and is down now: no heartbeat.
    const lonely = defineSaga('lonely', { version: 1 })
      .step('wait-for-me', { run: () => ({}) })
      .build();
    await engine.db.query(
      `INSERT INTO saga_definition (type, version, spec, input_schema, fingerprint, published_by)
       VALUES ('lonely', 1, $1, NULL, 'test', 'a service that is down')`,
      [JSON.stringify(toSpecJson(lonely))],
    );
    const id = await start('lonely', {});
    const page = await logIn('viewer', `/dashboard/sagas/${id}`);
    await page
      .locator('[data-testid=no-agent]', { hasText: 'No agent that runs lonely v1 is running' })
      .waitFor({ timeout: 10_000 });
    // A saga that this engine's agent runs, waiting for a signal: no such banner on its page.
    const held = await start('held', {});
    const other = await logIn('viewer', `/dashboard/sagas/${held}`);
    await other.locator('[data-testid=saga-graph] [data-step=hold]').waitFor({ timeout: 10_000 });
    await other.waitForTimeout(1_500); // the page asks for the agents as it opens a running saga
    expect(await other.locator('[data-testid=no-agent]').count()).toBe(0);
    await engine.as('operator').post(`/v1/sagas/${held}/signals/Go`).send({});

    const types = await logIn('viewer', '/dashboard/types');
    await types
      .locator('section[data-type=lonely] [data-testid=type-agents]', { hasText: 'No agent that runs lonely v1' })
      .waitFor({ timeout: 10_000 });
    await types
      .locator('section[data-type=drone-delivery] [data-testid=type-agents]', { hasText: 'Agents running it: 1' })
      .waitFor({ timeout: 10_000 });
    // The overview says that sagas are stranded on a version nobody runs.
    const overview = await logIn('viewer');
    const banner = overview.locator('[data-testid=stranded-versions]');
    await banner.waitFor({ timeout: 10_000 });
    expect(await banner.textContent()).toContain('lonely v1 (1 RUNNING)');
  });

  it('a viewer sees the saga but no action button; /v1/me says viewer', async () => {
    const id = await start('drone-delivery', droneInput({ faults: { 'create-delivery': { delayMs: 1500 } } }));
    const viewer = await logIn('viewer', `/dashboard/sagas/${id}`);
    await viewer.locator('[data-testid=saga-graph] [data-step=create-delivery]').waitFor({ timeout: 10_000 });
    expect(await viewer.locator('[data-testid=actions] button').count()).toBe(0);
    // The same saga, for an operator while it still runs: the button is there, so its absence above means something.
    const operator = await logIn('operator', `/dashboard/sagas/${id}`);
    const status = await operator.locator('.saga-head .badge').textContent({ timeout: 10_000 });
    if (status === 'RUNNING') expect(await operator.locator('[data-testid=actions] button').count()).toBeGreaterThan(0);
    expect(await viewer.locator('[data-testid=actions] button').count()).toBe(0);
    await engine.waitForStatus(id, ['COMPLETED']);
  });

  it('renders text from sagas as text: a hostile input and error stay inert', async () => {
    const id = await start('text-echo', { note: XSS });
    await engine.waitForStatus(id, ['COMPENSATED']);
    const page = await logIn('admin', `/dashboard/sagas/${id}`);
    await page.locator('[data-testid=saga-input]', { hasText: XSS }).waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=saga-error]', { hasText: XSS }).waitFor();
    await page.click('[data-step-row=echo]');
    await page.locator('[data-testid=step-detail]', { hasText: XSS }).waitFor();
    expect(await page.locator('img').count()).toBe(0);
    await page.waitForTimeout(300);
    expect(dialogs).toEqual([]);
  });

  it('links a parent and its child both ways, and shows a fan-out as counts and pages, not a box per item', async () => {
    const parcels = Array.from({ length: 120 }, (_, i) => ({
      parcelId: `p${i}`,
      dropoff: { lat: 52.5, lng: 13.45 },
      weightKg: 2,
      ...(i === 110 ? { fault: 'refuse' } : {}),
    }));
    const order = { accountId: 'acc-42', pickup: { lat: 52.52, lng: 13.405 }, expressPriceCents: 2500 };
    const completed = await start('parcel-order', { ...order, parcels: parcels.slice(0, 60) });
    const refused = await start('parcel-order', { ...order, parcels });
    const done = await engine.waitForStatus(completed, ['COMPLETED', 'COMPENSATED', 'FAILED'], 30_000);
    expect(done.status).toBe('COMPLETED');
    await engine.waitForStatus(refused, ['COMPENSATED', 'FAILED'], 60_000);
    const child = done.children[0].id as string;

    const page = await logIn('viewer', `/dashboard/sagas/${completed}`);
    const items = page.locator('[data-testid=items-book-parcels]');
    await items.locator('[data-state=SUCCEEDED]', { hasText: 'SUCCEEDED 60' }).waitFor({ timeout: 10_000 });
    // One page of 50 rows (rendered once the page's request answers), and the next page on demand.
    await items.locator('tbody tr').nth(49).waitFor({ timeout: 10_000 });
    expect(await items.locator('tbody tr').count()).toBe(50);
    await items.locator('button', { hasText: 'Next' }).click();
    await items.locator('[data-testid=items-page]', { hasText: 'items 50–59' }).waitFor();
    expect(await items.locator('tbody tr').count()).toBe(10);
    // An item opens with its own history.
    await items.locator('tr[data-item="55"]').click();
    await items.locator('[data-testid=item-detail]', { hasText: 'StepSucceeded #1' }).waitFor();
    // The child is linked from its step and from the saga; its page links back.
    await page.locator('[data-testid=step-child]', { hasText: 'drone-delivery' }).waitFor();
    await page.locator(`[data-testid=saga-children] a[href$="/sagas/${child}"]`).click();
    await page.locator('[data-testid=saga-parent]', { hasText: completed }).waitFor({ timeout: 10_000 });
    await page.locator('[data-testid=saga-parent]', { hasText: 'fly-express' }).waitFor();

    const compensated = await logIn('viewer', `/dashboard/sagas/${refused}`);
    const list = compensated.locator('[data-testid=items-book-parcels]');
    await list.locator('[data-state=FAILED]', { hasText: 'FAILED 1' }).waitFor({ timeout: 10_000 });
    await list.locator('[data-state=COMPENSATED]').waitFor();
    await list.locator('[data-state=FAILED]').click();
    await list.locator('tr[data-item="110"]').waitFor();
    expect(await list.locator('tbody tr').count()).toBe(1);
    expect(await compensated.locator('[data-testid=step-items]').textContent()).toMatch(/1 failed, \d+ undone/);
  });

  it('shows a sleeping step with its wake-up time, a delayed saga with its start, and schedules', async () => {
    const sleeping = await start('dash-nap', {});
    await waitForStep(sleeping, 'cool-off', 'SLEEPING');
    const delayed = await engine.as('operator').post('/v1/sagas').send({ type: 'dash-nap', input: {}, startIn: '2h' });
    expect(delayed.body.status).toBe('DELAYED');
    const created = await engine.as('operator').post('/v1/schedules').send({
      type: 'dash-nap',
      input: {},
      cron: '0 9 * * 1-5',
      timeZone: 'Europe/Berlin',
      description: 'weekday naps',
      reason: 'dashboard test',
    });
    expect(created.status).toBe(201);

    const page = await logIn('operator', `/dashboard/sagas/${sleeping}`);
    const wakes = await page.locator('[data-testid=wakes-at]').textContent({ timeout: 10_000 });
    expect(wakes).toContain('wakes at');
    await page.click('nav >> text=Sagas');
    await page
      .locator(`tr[data-saga="${delayed.body.id}"][data-status=DELAYED] [data-testid=starts-at]`)
      .waitFor({ timeout: 10_000 });
    await page.click(`tr[data-saga="${delayed.body.id}"] a`);
    await page.locator('[data-testid=saga-start-at]').waitFor({ timeout: 10_000 });
    // A delayed saga can be cancelled before it starts.
    await page.getByRole('button', { name: 'Cancel saga' }).click();
    await page.getByRole('dialog').locator('textarea[name=reason]').fill('not needed after all');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel the saga' }).click();
    await engine.waitForStatus(delayed.body.id, ['CANCELLED']);

    await page.click('nav >> text=Schedules');
    await page.click(`tr[data-schedule="${created.body.id}"] a`);
    await page.locator('[data-testid=schedule-state]', { hasText: 'ACTIVE' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-testid=next-runs] li').count()).toBe(5);
    await page.getByRole('button', { name: 'Pause schedule' }).click();
    await page.getByRole('dialog').locator('textarea[name=reason]').fill('holiday week');
    await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
    await page.locator('[data-testid=schedule-state]', { hasText: 'PAUSED' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-testid=changes]').textContent()).toContain('holiday week');
    expect((await engine.as('viewer').get(`/v1/schedules/${created.body.id}`)).body.paused).toBe(true);

    // A viewer reads the schedule but gets no button.
    const viewer = await logIn('viewer', `/dashboard/schedules/${created.body.id}`);
    await viewer.locator('[data-testid=schedule-state]', { hasText: 'PAUSED' }).waitFor({ timeout: 10_000 });
    expect(await viewer.locator('[data-testid=actions] button').count()).toBe(0);
  });

  it('a FAILED saga: its cause, undo lanes told apart, a stopped clock, and a history that follows a retry', async () => {
    undoOfBFails = true;
    const id = await start('dash-lanes', {});
    const twin = await start('dash-lanes', {});
    await engine.waitForStatus(id, ['FAILED']);
    await engine.waitForStatus(twin, ['FAILED']);

    // Two sagas started together (one UUIDv7 time prefix) do not look alike on the overview.
    const page = await logIn('operator');
    const short = async (sagaId: string) =>
      page.locator(`[data-testid=attention] a[href="/dashboard/sagas/${sagaId}"]`).textContent({ timeout: 10_000 });
    expect(await short(id)).not.toBe(await short(twin));

    await page.click(`[data-testid=attention] a[href="/dashboard/sagas/${id}"]`);
    await page.locator('.saga-head .badge', { hasText: 'FAILED' }).waitFor({ timeout: 10_000 });
    // The header says what went wrong first (c), then what stopped the undo (b).
    expect(await page.locator('[data-testid=saga-cause]').textContent()).toContain('c: CARD_DECLINED card declined');
    expect(await page.locator('[data-testid=saga-error]').textContent()).toContain('UNDO_DOWN');
    const lane = (step: string) => page.locator(`[data-comp-step="${step}"] .node-sub`).textContent();
    expect(await lane('b2')).toBe('undone');
    expect(await lane('b')).toContain('FAILED');
    expect(await lane('a')).toBe('to undo');
    expect(await lane('c')).toBe('not needed');
    expect(await lane('reserve-the-inventory-in-every-warehouse-nearby')).toBe('not needed');
    // Every label fits inside its box (long names are cut with an ellipsis, the full name in the tooltip).
    type Svg = { getBBox(): { x: number; width: number }; textContent: string | null };
    const overflow = await page.$$eval('[data-testid=saga-graph] g.node', (nodes) =>
      nodes.flatMap((g) => {
        const box = (g.querySelector('rect') as unknown as Svg).getBBox();
        return [...g.querySelectorAll('text')]
          .map((t) => t as unknown as Svg)
          .filter((t) => t.getBBox().x + t.getBBox().width > box.width - 4)
          .map((t) => t.textContent);
      }),
    );
    expect(overflow).toEqual([]);
    // The clock stops while the saga waits for an operator.
    const duration = await page.locator('[data-testid=saga-duration]').textContent();
    await page.waitForTimeout(2_200);
    expect(await page.locator('[data-testid=saga-duration]').textContent()).toBe(duration);
    // Escape closes a dialog without acting.
    await page.getByRole('button', { name: 'Retry saga' }).click();
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached', timeout: 5_000 });

    // The fix is in: an operator retries, and the history shows it without a reload.
    await page.locator('[data-testid=event-history] tbody tr').first().waitFor();
    undoOfBFails = false;
    await page.getByRole('button', { name: 'Retry saga' }).click();
    await page.getByRole('dialog').locator('textarea[name=reason]').fill('warehouse API is back');
    await page.getByRole('dialog').getByRole('button', { name: 'Retry now' }).click();
    await page.locator('.saga-head .badge', { hasText: 'COMPENSATED' }).waitFor({ timeout: 20_000 });
    await page
      .locator('[data-testid=event-history] tbody tr', { hasText: 'SagaCompensated' })
      .waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-testid=event-history] tbody').textContent()).toContain('RetryRequested');
    expect(await lane('a')).toBe('undone');
  });

  it('the saga types page: unlimited retries and waits say so; an operator starts a saga from a form', async () => {
    const page = await logIn('operator', '/dashboard/types');
    const policyOf = (type: string, step: string) =>
      page.locator(`[data-type="${type}"] tr`, { hasText: step }).locator('[data-testid=retry-policy]').textContent();
    expect(await policyOf('dash-lanes', 'reserve-the-inventory')).toContain('maximumAttempts unlimited');
    expect(await policyOf('held', 'hold')).toContain('none (a wait');
    expect(await policyOf('dash-nap', 'cool-off')).toContain('none (a sleep)');

    await page.locator('[data-type="dash-form"]').getByRole('button', { name: 'Start saga' }).click();
    const dialog = page.getByRole('dialog');
    // Escape closes it; reopened, the form has a control per input field.
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached', timeout: 5_000 });
    await page.locator('[data-type="dash-form"]').getByRole('button', { name: 'Start saga' }).click();
    await dialog.locator('input[name=name]').fill('BAD NAME');
    await dialog.locator('input[name=count]').fill('3');
    await dialog.locator('input[name=rush]').check();
    await dialog.getByRole('button', { name: 'Start saga' }).click();
    // The API's 400 names the field; nothing starts.
    await dialog.locator('[role=alert]', { hasText: 'name must be 1-10 lowercase letters' }).waitFor();
    await dialog.locator('input[name=name]').fill('parcel');
    await dialog.locator('input[name=idempotencyKey]').fill('form-start-1');
    await dialog.getByRole('button', { name: 'Start saga' }).click();
    await page
      .locator('[data-testid=saga-page] .saga-head .badge', { hasText: 'COMPLETED' })
      .waitFor({ timeout: 20_000 });
    const id = new URL(page.url()).pathname.split('/').pop()!;
    const saga = (await engine.as('viewer').get(`/v1/sagas/${id}`)).body;
    expect(saga).toMatchObject({ type: 'dash-form', input: { name: 'parcel', count: 3, rush: true } });
    // A viewer sees no start button.
    const viewer = await logIn('viewer', '/dashboard/types');
    await viewer.locator('[data-type="dash-form"]').waitFor({ timeout: 10_000 });
    expect(await viewer.locator('[data-type="dash-form"]').getByRole('button', { name: 'Start saga' }).count()).toBe(0);
  });

  async function waitForStep(id: string, step: string, status: string): Promise<void> {
    await waitFor(
      async () =>
        (await engine.as('viewer').get(`/v1/sagas/${id}`)).body.steps.find((s: any) => s.name === step)?.status ===
        status,
      { what: `saga ${id}: step ${step} to be ${status}` },
    );
  }
});

/** Writes a README screenshot when DASHBOARD_SCREENSHOTS names the directory (docs/). */
async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  const dir = process.env.DASHBOARD_SCREENSHOTS;
  if (!dir) return;
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(resolve(__dirname, '..', dir), name), fullPage });
}
