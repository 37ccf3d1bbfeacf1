/**
 * The saga DSL: everything a saga file imports. Pure: no Nest, TypeORM, BullMQ or I/O.
 *
 * Start with `defineSaga`; read `StepOptions` for what happens when a step fails.
 */
export {
  defineSaga,
  dep,
  type AddStep,
  type CamelCase,
  type ChildOptions,
  type ForEachOptions,
  type DepToken,
  type DepTokens,
  type Deps,
  type NoDeps,
  type NoSteps,
  type OutputClass,
  type ParallelGroupBuilder,
  type ParallelStepOptions,
  type SagaBuilder,
  type SagaDefaults,
  type SagaOptions,
  type SleepOptions,
  type SleepOutput,
  type StepOptions,
  type StepWhen,
  type Token,
  type WaitOptions,
  type WaitTimedOut,
} from './define-saga';
export { parseDuration, type Duration } from '@saga-engine/core';
export {
  MAX_ERROR_MESSAGE_LENGTH,
  NonRetryableError,
  RetryableError,
  SagaDefinitionError,
  toErrorInfo,
  type NonRetryableErrorOptions,
  type RetryableErrorOptions,
} from './errors';
export { DEFAULT_RETRY_POLICY, DEFAULT_TIMEOUT_MS, resolveRetryPolicy, type RetryPolicy } from './retry-policy';
export type {
  CompensationContext,
  ConditionContext,
  DepsOf,
  ErrorInfo,
  InputOf,
  ItemCompensationContext,
  ItemContext,
  OutputOf,
  ResolvedRetryPolicy,
  SagaDefinition,
  SagaSpec,
  StageDefinition,
  StepContext,
  StepDefinition,
  StepSpec,
} from '@saga-engine/core';
