// An agent process for test/participant-limits.e2e-spec.ts: the built @saga-engine/nestjs with the `agent` role,
// configured from the environment as the engine's own apps are (loadConfig + sagaOptionsFromEnv, so
// SAGA_PARTICIPANT_LIMITS and PARTICIPANT_LEASE_MS go through the real parsing), and one saga, `limited`, whose
// only step calls the participant `payments` over HTTP (TEST_PARTICIPANT_URL) through the engine's `http()`
// invoker, with the limits TEST_CODE_LIMITS (JSON) given in code, as a saga author would.
require('reflect-metadata');
const { NestFactory } = require('@nestjs/core');
const { Logger } = require('@nestjs/common');
const { SagaModule, ParticipantPolicies, http, loadConfigOrExit, sagaOptionsFromEnv } = require('@saga-engine/nestjs');
const { defineSaga } = require('@saga-engine/sdk');

// Every call says when this agent sent it (x-sent-at, ms since the epoch), stamped as the engine's invoker calls
// fetch: the participant then tells what the engine let through from what the way to it (the loopback, its own
// event loop) bunched up.
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init = {}) =>
  realFetch(url, {
    ...init,
    headers: { ...init.headers, 'x-sent-at': String(performance.timeOrigin + performance.now()) },
  });

const config = loadConfigOrExit();
const { options } = sagaOptionsFromEnv(config);
const limits = process.env.TEST_CODE_LIMITS ? JSON.parse(process.env.TEST_CODE_LIMITS) : undefined;

const limited = defineSaga('limited', {
  version: 1,
  deps: { policies: ParticipantPolicies },
  defaults: { timeout: process.env.TEST_STEP_TIMEOUT || '2s' },
})
  .step('call', {
    run: (ctx, { policies }) =>
      http({
        participant: 'payments',
        baseUrl: process.env.TEST_PARTICIPANT_URL,
        policies,
        policy: limits ? { limits } : {},
        headers: { 'x-agent': String(process.pid) },
      }).call({ path: '/calls', body: { sagaId: ctx.sagaId }, idempotencyKey: ctx.key, signal: ctx.signal }),
  })
  .build();

async function main() {
  Logger.overrideLogger(['error', 'warn', 'log']);
  const app = await NestFactory.createApplicationContext(
    SagaModule.forRoot({ ...options, roles: ['agent'], sagas: [limited] }),
  );
  app.enableShutdownHooks();
  console.log(`limited agent ready (pid ${process.pid})`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
