/**
 * Start and follow sagas from another service: `SagaClient` over the REST API, typed by the saga's definition.
 * Depends on `@saga-engine/core` only (types, and `parseDuration`); Nest users import `@saga-engine/client/nestjs`.
 */
export {
  SagaClient,
  SETTLED_STATUSES,
  type AnySagaDefinition,
  type ListEventsOptions,
  type ListItemsOptions,
  type ListSagasOptions,
  type AttributeCondition,
  type AttributeValue,
  type OperatorActionOptions,
  type SkipOptions,
  type StartOptions,
  type WaitForOptions,
} from './saga-client';
export { DEFAULT_REQUEST_TIMEOUT_MS, HttpSagaTransport, type HttpSagaClientOptions } from './http-saga-transport';
export type {
  BulkActionRequest,
  SagaEventsQuery,
  SagaItemsQuery,
  SagaListQuery,
  SagaTransport,
  StartLater,
  TransportCallOptions,
} from './saga-transport';
export {
  SagaApiError,
  SagaConflictError,
  SagaNotFoundError,
  SagaWaitTimeoutError,
  createSagaApiError,
  type SagaApiErrorCode,
} from './errors';
export type {
  AgentView,
  BulkActionName,
  BulkDryRunView,
  BulkFilter,
  BulkJobView,
  ChildSagaView,
  CompensationView,
  ItemPage,
  ItemView,
  RetryPolicyView,
  SagaErrorView,
  SagaEventPage,
  SagaEventView,
  SagaPage,
  SagaSummaryView,
  SagaTypeStepView,
  SagaTypeView,
  SagaView,
  StartedSaga,
  StepErrorView,
  StepView,
} from './saga-view';
export {
  CompensationStatus,
  SagaStatus,
  StepStatus,
  type Duration,
  type InputOf,
  type OutputOf,
} from '@saga-engine/core';
