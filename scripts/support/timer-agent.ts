/**
 * An agent process for the tests that kill the engine's processes (test/timers-cluster.e2e-spec.ts): the `agent`
 * role of SagaModule with two small sagas, configured from the environment like apps/agent. Not an app.
 *
 * - `timer-probe`: a step, a sleep of TIMER_PROBE_SLEEP (default 2s), a step that returns when it ran.
 * - `tick-probe`: one no-op step, for the schedules that fire every second.
 */
import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { defineSaga, type Duration } from '@saga-engine/sdk';
import { SagaModule, loadConfig, sagaOptionsFromEnv } from '@saga-engine/nestjs';

export const timerProbe = defineSaga('timer-probe', { version: 1 })
  .step('before', { run: () => ({ at: new Date().toISOString() }) })
  .sleep('nap', (process.env.TIMER_PROBE_SLEEP ?? '2s') as Duration)
  .step('after', { run: () => ({ ranAt: new Date().toISOString() }) })
  .build();

export const tickProbe = defineSaga('tick-probe', { version: 1 })
  .step('tick', { run: (ctx) => ({ key: ctx.key }) })
  .build();

async function main(): Promise<void> {
  const config = loadConfig();
  const { options } = sagaOptionsFromEnv(config);
  @Module({ imports: [SagaModule.forRoot({ ...options, roles: ['agent'], sagas: [timerProbe, tickProbe] })] })
  class TimerAgentModule {}
  const app = await NestFactory.createApplicationContext(TimerAgentModule, { logger: ['error', 'warn', 'log'] });
  app.enableShutdownHooks();
  new Logger('Bootstrap').log('timer agent is ready');
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
