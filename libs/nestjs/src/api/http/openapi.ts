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
    type: { type: 'string', example: 'order' },
    version: { type: 'integer', example: 1 },
    status: {
      type: 'string',
      enum: ['RUNNING', 'COMPENSATING', 'COMPLETED', 'COMPENSATED', 'CANCELLED', 'FAILED', 'DELAYED'],
    },
    error: ERROR_INFO,
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    completedAt: nullable({ type: 'string', format: 'date-time' }),
    startAt: nullable({
      type: 'string',
      format: 'date-time',
      description: 'When a saga accepted with startAt/startIn starts (DELAYED until then), or started',
    }),
    parentId: nullable({
      type: 'string',
      format: 'uuid',
      description: "A child saga's parent: the saga whose child step started it",
    }),
    businessKey: nullable({
      type: 'string',
      example: 'ORD-2026-0042',
      description: "The business key: its type's businessKey input field (docs/search.md)",
    }),
    attributes: {
      type: 'object',
      description: 'Search attributes by name (a datetime as ISO-8601 UTC); {} when none is set',
      additionalProperties: { oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }] },
      example: { tier: 'gold', amountCents: 4200 },
    },
  },
};

const STATUS_COUNTS = {
  type: 'object',
  additionalProperties: { type: 'integer' },
  example: { SUCCEEDED: 149, FAILED: 1, COMPENSATED: 0 },
};

export const SAGA_SCHEMA = {
  type: 'object',
  properties: {
    ...SAGA_SUMMARY_SCHEMA.properties,
    input: { type: 'object', additionalProperties: true, example: { accountId: 'acc-42', weightKg: 2.5 } },
    output: nullable({ type: 'object', additionalProperties: true }),
    parentStep: nullable({ type: 'string', description: "The parent's step that started this child saga" }),
    children: {
      type: 'array',
      description: "The sagas this saga's child steps started, oldest first",
      items: {
        type: 'object',
        properties: {
          id: { type: 'string', format: 'uuid' },
          type: { type: 'string', example: 'drone-delivery' },
          status: { type: 'string', example: 'COMPLETED' },
          step: { type: 'string', example: 'deliver-parcel', description: 'the child step that started it' },
          createdAt: { type: 'string', format: 'date-time' },
          completedAt: nullable({ type: 'string', format: 'date-time' }),
        },
      },
    },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', example: 'charge-account' },
          status: { type: 'string', example: 'SUCCEEDED' },
          attempts: { type: 'integer', example: 1 },
          run: {
            type: 'integer',
            example: 0,
            description: 'How many times an operator re-ran the step (its idempotency key ends `:rerun-<run>` above 0)',
          },
          skipped: { type: 'boolean', description: 'SUCCEEDED because an operator skipped it; `output` is theirs' },
          startedAt: nullable({ type: 'string', format: 'date-time' }),
          finishedAt: nullable({ type: 'string', format: 'date-time' }),
          output: nullable({ type: 'object', additionalProperties: true }),
          error: ERROR_INFO,
          wakeAt: nullable({
            type: 'string',
            format: 'date-time',
            description: "A SLEEPING step's wake-up time (it may fire up to one supervisor sweep later)",
          }),
          deadlineAt: nullable({ type: 'string', format: 'date-time', description: "A WAITING step's timeout" }),
          child: nullable({
            type: 'object',
            description: "A child step's child saga (the newest, after an operator's retry)",
            properties: {
              id: { type: 'string', format: 'uuid' },
              type: { type: 'string', example: 'drone-delivery' },
              status: { type: 'string', example: 'RUNNING' },
            },
          }),
          items: nullable({
            type: 'object',
            description:
              "A fan-out step's items by status, once its list is known (page them with /steps/{step}/items)",
            properties: { total: { type: 'integer', example: 150 }, counts: STATUS_COUNTS },
          }),
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
          item: nullable({ type: 'integer', example: 149, description: 'the item of a fan-out step it is about' }),
          attempt: nullable({ type: 'integer', example: 1 }),
          at: { type: 'string', format: 'date-time' },
          data: nullable({ type: 'object', additionalProperties: true }),
        },
      },
    },
  },
};

export const ITEMS_PAGE_SCHEMA = {
  type: 'object',
  properties: {
    total: { type: 'integer', example: 200, description: 'Items in the list' },
    counts: STATUS_COUNTS,
    items: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer', example: 149 },
          key: { type: 'string', example: '149', description: 'Its idempotency key is <sagaId>:<step>:<key>' },
          item: { description: 'The item, as the list gave it' },
          status: { type: 'string', example: 'FAILED' },
          attempts: { type: 'integer', example: 3 },
          startedAt: nullable({ type: 'string', format: 'date-time' }),
          finishedAt: nullable({ type: 'string', format: 'date-time' }),
          output: nullable({ description: "The item's output" }),
          error: ERROR_INFO,
          compensation: nullable({
            type: 'object',
            properties: {
              status: { type: 'string', example: 'SUCCEEDED' },
              attempts: { type: 'integer' },
              startedAt: nullable({ type: 'string', format: 'date-time' }),
              finishedAt: nullable({ type: 'string', format: 'date-time' }),
              error: ERROR_INFO,
            },
          }),
        },
      },
    },
    nextAfterIndex: nullable({ type: 'integer', description: 'afterIndex of the next page; null on the last' }),
  },
};

const RETRY_POLICY_SCHEMA = {
  type: 'object',
  properties: {
    maximumAttempts: { type: 'integer', example: 5 },
    initialIntervalMs: { type: 'integer', example: 100 },
    backoffCoefficient: { type: 'number', example: 2 },
    maximumIntervalMs: { type: 'integer', example: 1000 },
    jitter: { type: 'number', example: 0.2 },
    nonRetryableCodes: { type: 'array', items: { type: 'string' } },
  },
};

export const SAGA_TYPE_SCHEMA = {
  type: 'object',
  properties: {
    name: { type: 'string', example: 'order' },
    version: { type: 'integer', example: 1 },
    versions: {
      type: 'array',
      items: { type: 'integer' },
      example: [1],
      description: 'Every version the engine knows of; an instance runs on the one it started with',
    },
    description: nullable({ type: 'string' }),
    input: nullable({ type: 'string', example: 'OrderInput', description: 'the input class' }),
    inputSchema: nullable({
      type: 'object',
      description: 'JSON Schema of the input (from the input class); null: any JSON object',
    }),
    businessKey: nullable({
      type: 'string',
      example: 'orderNumber',
      description: 'The dotted input path of the business key; null when the type declares none',
    }),
    searchAttributes: {
      type: 'array',
      description: 'The search attributes GET /v1/sagas filters on as attr.<name>',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', example: 'tier' },
          type: { type: 'string', enum: ['keyword', 'number', 'boolean', 'datetime'] },
          step: nullable({ type: 'string', description: 'The step whose output sets it; null: the input, at start' }),
          path: { type: 'string', example: 'customer.tier', description: 'Dotted path into the input or the output' },
        },
      },
    },
    agents: {
      type: 'integer',
      example: 2,
      description: 'Agents that run this version now; 0: its steps wait in their queue until one starts',
    },
    stages: {
      type: 'array',
      description: 'The order of execution: one step, or a parallel group whose steps run together',
      items: {
        type: 'object',
        properties: {
          index: { type: 'integer', example: 3 },
          group: nullable({ type: 'string', example: 'transport' }),
          steps: { type: 'array', items: { type: 'string' }, example: ['charge-card', 'reserve-stock'] },
        },
      },
    },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', example: 'charge-card' },
          key: { type: 'string', example: 'chargeCard', description: 'its name in ctx.steps' },
          stage: { type: 'integer', example: 3 },
          group: nullable({ type: 'string', example: 'transport' }),
          description: nullable({ type: 'string' }),
          compensation: { type: 'boolean', example: true },
          conditional: { type: 'boolean', example: true },
          when: nullable({ type: 'string', example: 'weightKg <= 20' }),
          pivot: { type: 'boolean', example: false },
          signal: nullable({ type: 'string', description: 'the signal a wait step waits for' }),
          child: nullable({
            type: 'object',
            description: 'the saga a child step starts',
            properties: { type: { type: 'string' }, version: { type: 'integer' } },
          }),
          fanOut: nullable({
            type: 'object',
            description: "a fan-out step: items at once, and whether their keys are the author's",
            properties: { concurrency: { type: 'integer', example: 20 }, keyed: { type: 'boolean' } },
          }),
          outputSchema: nullable({
            type: 'object',
            description:
              "JSON Schema of the step's output (each item's, for a fan-out), from its output class; null: undeclared. " +
              'A skip must give an output that fits it',
          }),
          sleep: nullable({
            type: 'object',
            description:
              "a sleep step's length, or until: true when its wake-up time is computed; waits and sleeps never retry",
            properties: {
              durationMs: nullable({ type: 'integer', example: 3600000 }),
              until: { type: 'boolean', example: false },
            },
          }),
          timeoutMs: { type: 'integer', example: 2000 },
          compensationTimeoutMs: { type: 'integer', example: 2000 },
          retry: RETRY_POLICY_SCHEMA,
          compensationRetry: RETRY_POLICY_SCHEMA,
        },
      },
    },
  },
};

export const AUDIT_PAGE_SCHEMA = {
  type: 'object',
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string', example: '42' },
          at: { type: 'string', format: 'date-time' },
          actor: { type: 'string', example: '3f9a1c07d2e4', description: 'who: the API key id, never the key' },
          role: nullable({ type: 'string', enum: ['viewer', 'operator', 'admin'] }),
          action: {
            type: 'string',
            enum: [
              'cancel',
              'retry',
              'resolve-compensation',
              'signal',
              'retry-from-step',
              'skip-step',
              'bulk-start',
              'bulk-stop',
            ],
          },
          sagaId: nullable({ type: 'string', format: 'uuid', example: SAGA_ID }),
          step: nullable({ type: 'string' }),
          signal: nullable({ type: 'string', description: 'the signal delivered (action signal only)' }),
          reason: nullable({ type: 'string', example: 'customer called to cancel' }),
          outcome: { type: 'string', enum: ['accepted', 'refused'] },
          statusCode: { type: 'integer', example: 202 },
          detail: nullable({ type: 'string', description: 'why it was refused' }),
          hash: {
            type: 'string',
            description: "the row's link in the audit's hash chain (hex sha256); see GET /v1/audit/verify",
          },
        },
      },
    },
  },
};

export const AUDIT_VERIFY_SCHEMA = {
  type: 'object',
  required: ['ok', 'checked'],
  properties: {
    ok: { type: 'boolean', description: 'true when every row is linked to the one before it and unchanged' },
    checked: { type: 'integer', example: 1234, description: 'rows found good (before the first bad one)' },
    firstBadId: { type: 'string', example: '42', description: 'the first row found bad (ok false only)' },
    reason: {
      type: 'string',
      example: 'its content does not match its hash: the row was changed after it was written',
      description: 'what is wrong with that row (ok false only)',
    },
  },
};

export const SCHEDULE_SUMMARY_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    type: { type: 'string', example: 'order' },
    input: { type: 'object', additionalProperties: true, description: 'Sensitive fields read "[REDACTED]"' },
    cron: { type: 'string', example: '0 9 * * 1-5' },
    timeZone: { type: 'string', example: 'Europe/Berlin' },
    overlap: { type: 'string', enum: ['skip', 'allow', 'buffer'] },
    catchUp: { type: 'string', enum: ['none', 'last', 'all'] },
    catchUpLimit: { type: 'integer', example: 10 },
    description: nullable({ type: 'string' }),
    paused: { type: 'boolean' },
    nextFireAt: nullable({ type: 'string', format: 'date-time', description: 'The next tick (null while paused)' }),
    bufferedTick: nullable({ type: 'string', format: 'date-time', description: 'A tick held back by overlap buffer' }),
    lastSagaId: nullable({ type: 'string', format: 'uuid' }),
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

export const SCHEDULE_SCHEMA = {
  type: 'object',
  properties: {
    ...SCHEDULE_SUMMARY_SCHEMA.properties,
    nextRuns: { type: 'array', items: { type: 'string', format: 'date-time' }, description: 'The next 5 ticks' },
    lastRuns: {
      type: 'array',
      description: 'The last 20 ticks handled, newest first',
      items: {
        type: 'object',
        properties: {
          tick: { type: 'string', format: 'date-time' },
          outcome: { type: 'string', enum: ['started', 'skipped', 'buffered', 'failed'] },
          sagaId: nullable({ type: 'string', format: 'uuid' }),
          sagaStatus: nullable({ type: 'string', example: 'COMPLETED' }),
          detail: nullable({ type: 'string' }),
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
    changes: {
      type: 'array',
      description: 'The last 20 changes, newest first (audited)',
      items: {
        type: 'object',
        properties: {
          at: { type: 'string', format: 'date-time' },
          actor: { type: 'string' },
          role: { type: 'string' },
          action: { type: 'string', enum: ['create', 'update', 'pause', 'resume', 'delete'] },
          reason: { type: 'string' },
          detail: nullable({ type: 'object', additionalProperties: true }),
        },
      },
    },
  },
};

export const SCHEDULE_PAGE_SCHEMA = {
  type: 'object',
  properties: { items: { type: 'array', items: SCHEDULE_SUMMARY_SCHEMA } },
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

const UNAVAILABLE_EXAMPLE = {
  statusCode: 503,
  error: 'Service Unavailable',
  message: 'PostgreSQL is unavailable: retry later',
  code: 'UNAVAILABLE',
};

/** The 503 of a route that needs PostgreSQL: down, hung or out of connections. */
export const ApiUnavailable = () =>
  ApiResponse({
    status: 503,
    description:
      'UNAVAILABLE: PostgreSQL is down, does not answer in time, or has no connection to spare. Not a bug: retry ' +
      'after Retry-After (a start answered 503 may have started: retry it with the same idempotency key)',
    headers: { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer' } } },
    schema: { ...ERROR_SCHEMA, example: UNAVAILABLE_EXAMPLE },
  });

/** The error answers every authenticated route that reads or writes sagas may give, plus `extra` statuses. */
export function ApiErrors(...extra: [number, string][]) {
  return applyDecorators(
    ApiResponse({ status: 401, description: 'Missing or unknown key', schema: ERROR_SCHEMA }),
    ApiResponse({
      status: 403,
      description: 'Role too low, or a key limited to some saga types on a route that spans every type',
      schema: ERROR_SCHEMA,
    }),
    ApiResponse({
      status: 429,
      description:
        'Too many wrong keys from this address (blocked for 30 s, doubling at each new block), or too many ' +
        "requests for this key (RATE_LIMIT_PER_MINUTE): wait the Retry-After header's seconds",
      schema: ERROR_SCHEMA,
      headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer', minimum: 1 } } },
    }),
    ...extra.map(([status, description]) => ApiResponse({ status, description, schema: ERROR_SCHEMA })),
    ApiUnavailable(),
  );
}

export const BULK_JOB_SCHEMA = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    action: { type: 'string', enum: ['retry', 'cancel', 'resolve'] },
    step: nullable({ type: 'string', description: 'the step a bulk resolve resolves in each saga' }),
    filter: {
      type: 'object',
      description: 'as given (dates normalized to ISO instants)',
      properties: {
        type: { type: 'string' },
        status: { type: 'array', items: { type: 'string' } },
        createdAfter: { type: 'string', format: 'date-time' },
        createdBefore: { type: 'string', format: 'date-time' },
      },
    },
    reason: { type: 'string' },
    requestedBy: { type: 'string', description: 'the key (or token subject) that asked for it' },
    status: { type: 'string', enum: ['PENDING', 'RUNNING', 'COMPLETED', 'CANCELLED', 'FAILED'] },
    cap: { type: 'integer', example: 10000 },
    matched: { type: 'integer', example: 500, description: 'sagas matching when the job was asked for' },
    processed: { type: 'integer', description: 'done + skipped + failed' },
    done: { type: 'integer', description: 'sagas the action was accepted for' },
    skipped: {
      type: 'integer',
      description: 'sagas no longer in a state for the action (409 INVALID_STATE), or gone (404): nothing to do',
    },
    failed: { type: 'integer', description: 'sagas the action failed for otherwise (see errors)' },
    errors: {
      type: 'array',
      description: 'the first 20 failures',
      items: {
        type: 'object',
        properties: {
          sagaId: { type: 'string', format: 'uuid' },
          status: { type: 'integer', example: 409 },
          code: { type: 'string', example: 'VERSION_UNAVAILABLE' },
          message: { type: 'string' },
        },
      },
    },
    lastError: nullable({ type: 'string', description: "why the job's last run failed (a FAILED job's cause)" }),
    cancelledBy: nullable({ type: 'string' }),
    cancelReason: nullable({ type: 'string' }),
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    finishedAt: nullable({ type: 'string', format: 'date-time' }),
  },
};

export const BULK_JOB_PAGE_SCHEMA = {
  type: 'object',
  properties: { items: { type: 'array', items: BULK_JOB_SCHEMA } },
};

export const BULK_DRY_RUN_SCHEMA = {
  type: 'object',
  properties: {
    dryRun: { type: 'boolean', example: true },
    matched: { type: 'integer', example: 500, description: 'sagas the filter matches now' },
    sample: { type: 'array', items: { type: 'string', format: 'uuid' }, description: 'up to 10 of them, oldest first' },
  },
};
