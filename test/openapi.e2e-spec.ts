import { startTestEngine, type TestEngine } from './support/test-engine';

/** OpenAPI at /docs (UI) and /docs-json (document), for any key (viewer is enough); 401 without one. */
describe('OpenAPI (e2e)', () => {
  let engine: TestEngine;

  beforeAll(async () => {
    engine = await startTestEngine({ demo: true });
  });
  afterAll(() => engine?.close());

  it('lists every route with the request schemas, examples and the bearer scheme', async () => {
    expect((await engine.http().get('/docs-json')).status).toBe(401);
    const res = await engine.as('viewer').get('/docs-json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\./);
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'GET /health',
        'GET /metrics',
        'GET /v1/agents',
        'GET /v1/audit',
        'GET /v1/audit/verify',
        'GET /v1/bulk-actions',
        'GET /v1/bulk-actions/{id}',
        'POST /v1/bulk-actions',
        'POST /v1/bulk-actions/{id}/cancel',
        'GET /v1/me',
        'GET /v1/participants',
        'GET /v1/saga-types',
        'GET /v1/saga-types/{type}',
        'GET /v1/saga-types/{type}/versions/{version}',
        'GET /v1/saga-versions',
        'GET /v1/sagas',
        'GET /v1/sagas/{id}',
        'GET /v1/sagas/{id}/events',
        'GET /v1/sagas/{id}/steps/{step}/items',
        'GET /v1/stats',
        'GET /v1/schedules',
        'GET /v1/schedules/{id}',
        'PATCH /v1/schedules/{id}',
        'DELETE /v1/schedules/{id}',
        'POST /v1/schedules',
        'POST /v1/sagas',
        'POST /v1/sagas/{id}/cancel',
        'POST /v1/sagas/{id}/retry',
        'POST /v1/sagas/{id}/signals/{name}',
        'POST /v1/sagas/{id}/steps/{step}/resolve',
        'POST /v1/sagas/{id}/steps/{step}/retry',
        'POST /v1/sagas/{id}/steps/{step}/skip',
      ].sort(),
    );
    const start = doc.components.schemas.StartSagaDto;
    expect(start.required).toEqual(expect.arrayContaining(['type', 'input']));
    expect(start.properties.type.example).toBe('order');
    expect(start.properties.input.example).toMatchObject({ orderId: 'o-1234' });
    expect(doc.components.schemas.OperatorActionDto.properties.reason.example).toEqual(expect.any(String));
    expect(doc.components.schemas.SkipStepDto.properties.output.description).toContain('output');
    expect(doc.paths['/v1/sagas/{id}/steps/{step}/skip'].post.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/SkipStepDto',
    );
    const stepView =
      doc.paths['/v1/sagas/{id}'].get.responses['200'].content['application/json'].schema.properties.steps.items;
    expect(stepView.properties.run.type).toBe('integer');
    expect(stepView.properties.skipped.type).toBe('boolean');
    expect(start.properties.startAt).toMatchObject({ format: 'date-time' });
    expect(start.properties.startIn.description).toContain('duration');
    const schedule = doc.components.schemas.CreateScheduleDto;
    expect(schedule.required).toEqual(expect.arrayContaining(['type', 'input', 'cron', 'reason']));
    expect(schedule.properties.overlap.enum).toEqual(['skip', 'allow', 'buffer']);
    expect(schedule.properties.catchUp.enum).toEqual(['none', 'last', 'all']);
    expect(
      doc.paths['/v1/schedules/{id}'].get.responses['200'].content['application/json'].schema.properties.nextRuns,
    ).toBeDefined();
    expect(doc.paths['/v1/sagas'].post.requestBody.content['application/json'].schema.$ref).toBe(
      '#/components/schemas/StartSagaDto',
    );
    expect(
      doc.paths['/v1/sagas/{id}'].get.responses['200'].content['application/json'].schema.properties.steps,
    ).toBeDefined();
    // Children and fan-outs: the links between parent and child, and the items of a fan-out by page.
    const saga = doc.paths['/v1/sagas/{id}'].get.responses['200'].content['application/json'].schema;
    expect(Object.keys(saga.properties)).toEqual(expect.arrayContaining(['parentId', 'parentStep', 'children']));
    expect(Object.keys(saga.properties.steps.items.properties)).toEqual(expect.arrayContaining(['child', 'items']));
    const items = doc.paths['/v1/sagas/{id}/steps/{step}/items'].get;
    expect(items.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['id', 'step', 'status', 'afterIndex', 'limit']),
    );
    expect(Object.keys(items.responses['200'].content['application/json'].schema.properties)).toEqual([
      'total',
      'counts',
      'items',
      'nextAfterIndex',
    ]);
    expect(doc.paths['/v1/sagas/{id}/events'].get.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['step', 'item']),
    );
    expect(doc.paths['/v1/sagas'].post.responses).toHaveProperty('409');
    const bulk = doc.components.schemas.BulkActionDto;
    expect(bulk.required).toEqual(expect.arrayContaining(['action', 'filter', 'reason']));
    expect(bulk.properties.action.enum).toEqual(['retry', 'cancel', 'resolve']);
    expect(bulk.properties.cap).toMatchObject({ minimum: 1, maximum: 100000, default: 10000 });
    expect(doc.paths['/v1/bulk-actions'].post.responses).toHaveProperty('409');
    expect(
      doc.paths['/v1/bulk-actions/{id}'].get.responses['200'].content['application/json'].schema.properties.status.enum,
    ).toEqual(['PENDING', 'RUNNING', 'COMPLETED', 'CANCELLED', 'FAILED']);
    // Search (issue 19): the list's filters, the view's key and attributes, the type's declarations.
    expect(doc.paths['/v1/sagas'].get.parameters.map((p: any) => p.name)).toEqual(
      expect.arrayContaining(['type', 'status', 'createdAfter', 'businessKey', 'attr.{name}', 'limit', 'cursor']),
    );
    expect(doc.paths['/v1/sagas'].post.responses['409'].description).toContain('BUSINESS_KEY_CONFLICT');
    expect(Object.keys(saga.properties)).toEqual(expect.arrayContaining(['businessKey', 'attributes']));
    const listed = doc.paths['/v1/sagas'].get.responses['200'].content['application/json'].schema;
    expect(Object.keys(listed.properties.items.items.properties)).toEqual(
      expect.arrayContaining(['businessKey', 'attributes']),
    );
    const typeView = doc.paths['/v1/saga-types/{type}'].get.responses['200'].content['application/json'].schema;
    expect(Object.keys(typeView.properties)).toEqual(expect.arrayContaining(['businessKey', 'searchAttributes']));
    // PostgreSQL away: 503 UNAVAILABLE with Retry-After, on every route that needs it.
    expect(doc.paths['/v1/sagas'].post.responses['503']).toMatchObject({
      headers: { 'Retry-After': expect.anything() },
    });
    expect(doc.paths['/v1/sagas/{id}'].get.responses).toHaveProperty('503');
    expect(doc.paths['/v1/sagas/{id}/signals/{name}'].post.responses).toHaveProperty('409');
    // Every route but /health documents the key check's answers: 401, and 429 with Retry-After.
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(ops)) {
        const statuses = Object.keys(op.responses as Record<string, unknown>);
        expect([`${method} ${path}`, statuses]).toEqual([
          `${method} ${path}`,
          expect.arrayContaining(path === '/health' ? ['200', '503', '401', '429'] : ['401', '429']),
        ]);
        if (path !== '/health') expect(op.responses['429'].headers).toHaveProperty('Retry-After');
      }
    }
    // Every route documents its 200/2xx answer with a schema, not only the ones with request bodies.
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      if (path === '/metrics') continue; // Prometheus text, not JSON
      for (const [method, op] of Object.entries(ops)) {
        const ok = Object.entries(op.responses as Record<string, any>).find(([status]) => status.startsWith('2'));
        expect([`${method} ${path}`, ok?.[1].content?.['application/json']?.schema]).toEqual([
          `${method} ${path}`,
          expect.anything(),
        ]);
      }
    }
    const sagaType = doc.paths['/v1/saga-types/{type}'].get.responses['200'].content['application/json'].schema;
    expect(sagaType.properties.steps.items.properties.retry.properties.maximumAttempts).toBeDefined();
    expect(
      doc.paths['/v1/audit'].get.responses['200'].content['application/json'].schema.properties.items,
    ).toBeDefined();
    // The dashboard codes against this contract.
    const item =
      doc.paths['/v1/participants'].get.responses['200'].content['application/json'].schema.properties.items.items;
    expect(item.required).toEqual(['name', 'state', 'since', 'agents', 'limits']);
    expect(item.properties.state.enum).toEqual(['closed', 'open', 'half-open']);
    expect(item.properties.limits).toMatchObject({ type: 'object', nullable: true });
    expect(item.properties.limits.required).toEqual([
      'concurrency',
      'ratePerSecond',
      'inFlight',
      'callsLastSecond',
      'throttled',
    ]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    // Single sign-on: an OIDC access token in the same header, either one will do.
    expect(doc.components.securitySchemes.oidc).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.security).toEqual([{ bearer: [] }, { oidc: [] }]);
    expect(
      doc.paths['/v1/audit/verify'].get.responses['200'].content['application/json'].schema.properties.firstBadId,
    ).toBeDefined();
  });

  it('serves the UI at /docs', async () => {
    expect((await engine.http().get('/docs')).status).toBe(401);
    const res = await engine.as('viewer').get('/docs');
    expect(res.status).toBe(200);
    expect(res.text).toContain('swagger');
  });
});
