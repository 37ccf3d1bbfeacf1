/**
 * An agent process for the tests that need agents of their own (test/crash-containment.e2e-spec.ts,
 * test/fail-fast.e2e-spec.ts): the `agent` role of SagaModule with the sagas of ./probe-sagas (one of whose steps
 * aborts the process for the sagas marked so), configured from the environment like apps/agent. Not an app.
 */
import 'reflect-metadata';
import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SagaModule, loadConfig, sagaOptionsFromEnv } from '@saga-engine/nestjs';
import { crashAfterPivot, crashProbe } from './probe-sagas';

async function main(): Promise<void> {
  const config = loadConfig();
  const { options } = sagaOptionsFromEnv(config);
  @Module({ imports: [SagaModule.forRoot({ ...options, roles: ['agent'], sagas: [crashProbe, crashAfterPivot] })] })
  class ProbeAgentModule {}
  const app = await NestFactory.createApplicationContext(ProbeAgentModule, { logger: ['error', 'warn', 'log'] });
  app.enableShutdownHooks();
  new Logger('Bootstrap').log('probe agent is ready');
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
