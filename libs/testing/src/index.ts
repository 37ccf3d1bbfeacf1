/**
 * Test sagas without a server. `SagaTestEnvironment` runs a definition in memory with its real handlers (or stubs),
 * scripted faults (`fail`), and a virtual clock, through the engine's own `transition`; `createTestDatabase` gives
 * integration tests a fresh PostgreSQL for a real `SagaModule`. Nothing here loads Nest or a database driver until
 * `createTestDatabase` is called.
 */
export { SagaTestEnvironment, type SagaTestEnvironmentOptions } from './saga-test-environment';
export { SagaTestRun } from './saga-test-run';
export { SagaTestError } from './saga-test-error';
export { fail, type DefiniteFaultOptions, type Fault, type FaultEntry, type TransientFaultOptions } from './faults';
export { createTestDatabase, type TestDatabase, type TestDatabaseOptions } from './test-database';
export type {
  AlertRecord,
  AnySagaDefinition,
  At,
  AttemptRecord,
  ChildResult,
  CompensationResult,
  CompensationStub,
  SagaTestResult,
  ItemResult,
  StartOptions,
  StepName,
  StepOutput,
  StepResult,
  StepStub,
  TestCompensationContext,
  TestDeps,
  TestStepContext,
  TimedEvent,
  TimedHistoryEntry,
  VirtualTime,
} from './types';
