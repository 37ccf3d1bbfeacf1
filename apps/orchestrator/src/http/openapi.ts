import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';

/** OpenAPI response schemas of API.md's shapes (saga-views.ts builds them), with examples. */
const nullable = (schema: Record<string, unknown>) => ({ ...schema, nullable: true });
const ERROR_INFO = nullable({
  type: 'object',
  properties: {
    name: { type: 'string' },
    code: { type: 'string' },
    message: { type: 'string' },
    retryable: { type: 'boolean' },
  },
});
const SAGA_ID = '01a20002-2f09-7700-8806-cda05e7b3245';

export const SAGA_SUMMARY_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid', example: SAGA_ID },
    type: { type: 'string', example: 'drone-delivery' },
    version: { type: 'integer', example: 1 },
    status: { type: 'string', enum: ['RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED', 'CANCELLED', 'FAILED'] },
    error: ERROR_INFO,
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    completedAt: nullable({ type: 'string', format: 'date-time' }),
  },
};

export const SAGA_SCHEMA = {
  type: 'object',
  properties: {
    ...SAGA_SUMMARY_SCHEMA.properties,
    input: { type: 'object', additionalProperties: true, example: { accountId: 'acc-42', weightKg: 2.5 } },
    output: nullable({ type: 'object', additionalProperties: true }),
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', example: 'charge-account' },
          status: { type: 'string', example: 'SUCCEEDED' },
          attempts: { type: 'integer', example: 1 },
          startedAt: nullable({ type: 'string', format: 'date-time' }),
          finishedAt: nullable({ type: 'string', format: 'date-time' }),
          output: nullable({ type: 'object', additionalProperties: true }),
          error: ERROR_INFO,
          compensation: nullable({
            type: 'object',
            properties: {
              status: { type: 'string', example: 'COMPENSATED' },
              attempts: { type: 'integer' },
              startedAt: nullable({ type: 'string', format: 'date-time' }),
              finishedAt: nullable({ type: 'string', format: 'date-time' }),
              error: ERROR_INFO,
            },
          }),
        },
      },
    },
  },
};

export const SAGA_PAGE_SCHEMA = {
  type: 'object',
  properties: { items: { type: 'array', items: SAGA_SUMMARY_SCHEMA }, nextCursor: nullable({ type: 'string' }) },
};

export const EVENTS_SCHEMA = {
  type: 'object',
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          seq: { type: 'integer', example: 1 },
          type: { type: 'string', example: 'StepSucceeded' },
          step: nullable({ type: 'string', example: 'verify-account' }),
          attempt: nullable({ type: 'integer', example: 1 }),
          at: { type: 'string', format: 'date-time' },
          data: nullable({ type: 'object', additionalProperties: true }),
        },
      },
    },
  },
};

export const ERROR_SCHEMA = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer', example: 404 },
    error: { type: 'string', example: 'Not Found' },
    message: { type: 'string', example: `saga ${SAGA_ID} not found` },
    code: { type: 'string', example: 'SAGA_NOT_FOUND' },
  },
};

/** The error answers every authenticated route may give, plus `extra` statuses. */
export function ApiErrors(...extra: [number, string][]) {
  return applyDecorators(
    ApiResponse({ status: 401, description: 'Missing or unknown key', schema: ERROR_SCHEMA }),
    ApiResponse({ status: 403, description: 'Role too low', schema: ERROR_SCHEMA }),
    ...extra.map(([status, description]) => ApiResponse({ status, description, schema: ERROR_SCHEMA })),
  );
}
