import { SagaApiController } from '../http/saga-api-controller';
import { Body, Get, Headers, HttpCode, Param, ParseUUIDPipe, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SagaQueries } from '../../store/saga-queries';
import { ApiError } from '../http/api-error';
import { ApiQuery, ApiResponse } from '@nestjs/swagger';
import type { SearchAttributeSpec } from '@saga-engine/core';
import { SagaRegistry } from '../../scheduler/saga-registry';
import { sagaValidationPipe } from '../http/saga-api-controller';
import { parseAttributeFilters, parseBusinessKey, splitAttributeParams } from './search-filters';
import { CurrentPrincipal, type Principal, RequireRole, ScopedBy, allowsType } from '../http/auth';
import { ApiErrors, EVENTS_SCHEMA, ITEMS_PAGE_SCHEMA, SAGA_PAGE_SCHEMA, SAGA_SCHEMA } from '../http/openapi';
import {
  IDEMPOTENCY_KEY_PATTERN,
  ListEventsQuery,
  ListItemsQuery,
  ListSagasQuery,
  StartSagaDto,
  TYPE_PATTERN,
} from './saga.dto';
import { MAX_EVENT_SEQ, parseQueryDate } from '../http/query-params';
import { eventView, itemView, summaryView } from './saga-views';
import { SagaOperations, parseStartDelay } from './saga-operations';

export const uuidPipe = new ParseUUIDPipe({
  exceptionFactory: () => new ApiError(400, 'INPUT_INVALID', 'id must be a UUID'),
});

@SagaApiController('v1/sagas')
export class SagasController {
  constructor(
    private readonly operations: SagaOperations,
    private readonly queries: SagaQueries,
    private readonly registry: SagaRegistry,
  ) {}

  /**
   * Starts a saga, at once or later (`startAt` / `startIn`: it is DELAYED until then). 201 when created; 200 with
   * the same instance when the idempotency key is replayed.
   */
  @Post()
  @RequireRole('operator')
  @ScopedBy('handler')
  @ApiResponse({ status: 201, description: 'Started', schema: SAGA_SCHEMA })
  @ApiResponse({ status: 200, description: 'Idempotency key replayed: the same saga', schema: SAGA_SCHEMA })
  @ApiErrors(
    [400, 'Unknown type or version, invalid input, or a bad start time (startAt, startIn)'],
    [
      409,
      'Idempotency key used with another input or start time (IDEMPOTENCY_CONFLICT), or the business key is held by a saga of the type that is not over (BUSINESS_KEY_CONFLICT)',
    ],
  )
  async start(
    @Body() body: StartSagaDto,
    @Headers('idempotency-key') headerKey: string | undefined,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ) {
    // A key limited to other types: the same answer as a type that does not exist.
    if (!allowsType(principal, body.type)) throw unknownType();
    const key = this.idempotencyKey(body.idempotencyKey, headerKey);
    const delay = parseStartDelay(body);
    const started = await this.operations.start(body.type, body.input, key, delay, body.version);
    res.status(started.created ? 201 : 200);
    return this.operations.started(started);
  }

  @Get()
  @RequireRole('viewer')
  @ScopedBy('handler')
  @ApiResponse({ status: 200, description: 'A page, newest first', schema: SAGA_PAGE_SCHEMA })
  @ApiErrors([400, 'Invalid filter'])
  @ApiQuery({ type: ListSagasQuery, required: false })
  @ApiQuery({
    name: 'attr.{name}',
    required: false,
    description:
      'A search attribute of the type (needs type; GET /v1/saga-types/{type} lists them): attr.<name>=<value> is ' +
      'equality; attr.<name>.gt|gte|lt|lte=<value> a bound, for number and datetime attributes. Repeatable ' +
      'with other names (at most 10); every condition must hold.',
    schema: { type: 'string' },
    example: 'gold',
  })
  async list(@Req() req: Request, @CurrentPrincipal() principal: Principal) {
    // attr.<name> parameters are open-ended, so they are taken out before the DTO's strict validation.
    const { rest, attrs } = splitAttributeParams(req.query ?? {});
    const query = (await sagaValidationPipe.transform(rest, {
      type: 'query',
      metatype: ListSagasQuery,
    })) as ListSagasQuery;
    const attributes = parseAttributeFilters(
      attrs,
      query.type,
      attrs.length > 0 && query.type !== undefined ? await this.declaredAttributes(query.type) : [],
    );
    const page = await this.queries.list({
      type: query.type,
      types: principal.sagaTypes,
      statuses: query.status,
      businessKey: parseBusinessKey(query.businessKey),
      attributes,
      createdAfter: (query.createdAfter && parseQueryDate(query.createdAfter)) || undefined,
      createdBefore: (query.createdBefore && parseQueryDate(query.createdBefore)) || undefined,
      limit: query.limit ?? 50,
      after: query.cursor ? decodeCursor(query.cursor) : undefined,
    });
    return { items: page.items.map(summaryView), nextCursor: page.last ? encodeCursor(page.last) : null };
  }

  @Get(':id')
  @RequireRole('viewer')
  @ScopedBy('saga')
  @ApiResponse({ status: 200, description: 'The saga with its steps', schema: SAGA_SCHEMA })
  @ApiErrors([404, 'No such saga'])
  async get(@Param('id', uuidPipe) id: string) {
    return this.view(id);
  }

  @Get(':id/events')
  @RequireRole('viewer')
  @ScopedBy('saga')
  @ApiResponse({ status: 200, description: 'Its history, in order', schema: EVENTS_SCHEMA })
  @ApiErrors([404, 'No such saga'])
  @HttpCode(200)
  async events(@Param('id', uuidPipe) id: string, @Query() query: ListEventsQuery) {
    const limit = query.limit ?? 1000;
    if (query.item !== undefined && query.step === undefined) {
      throw new ApiError(400, 'INPUT_INVALID', 'item needs step: the item of which fan-out step');
    }
    // Sequence numbers are 32-bit in the database: nothing comes after its largest.
    const afterSeq = Math.min(Number(query.afterSeq ?? 0), MAX_EVENT_SEQ);
    const items = await this.queries.events(id, afterSeq, limit, { step: query.step, item: query.item });
    if (items.length === 0 && !(await this.queries.exists(id))) throw notFound(id);
    return { items: items.map(eventView), nextAfterSeq: items.length === limit ? items[items.length - 1].seq : null };
  }

  /**
   * A page of a fan-out step's items, in list order (never all of them: a list may hold 10,000), with the counts
   * by status of all of them. Each item's own history: `GET /v1/sagas/{id}/events?step=<step>&item=<index>`.
   */
  @Get(':id/steps/:step/items')
  @RequireRole('viewer')
  @ScopedBy('saga')
  @ApiResponse({
    status: 200,
    description: 'A page of the items, and their counts by status',
    schema: ITEMS_PAGE_SCHEMA,
  })
  @ApiErrors([400, 'Invalid filter'], [404, 'No such saga'])
  async items(@Param('id', uuidPipe) id: string, @Param('step') step: string, @Query() query: ListItemsQuery) {
    if (step.length > 64 || !TYPE_PATTERN.test(step)) {
      throw new ApiError(400, 'INPUT_INVALID', 'step must be a kebab-case step name');
    }
    const limit = query.limit ?? 100;
    const [counts, rows] = await Promise.all([
      this.queries.itemCounts(id, step),
      this.queries.items(id, step, { statuses: query.status, afterIndex: query.afterIndex, limit }),
    ]);
    if (Object.keys(counts).length === 0 && !(await this.queries.exists(id))) throw notFound(id);
    return {
      total: Object.values(counts).reduce((a, b) => a + b, 0),
      counts,
      items: rows.map(itemView),
      nextAfterIndex: rows.length === limit ? rows[rows.length - 1].index : null,
    };
  }

  private view(id: string) {
    return this.operations.view(id);
  }

  /** The attributes a type declares in any of its versions (the newest declaration of a name wins). */
  private async declaredAttributes(type: string): Promise<SearchAttributeSpec[]> {
    const byName = new Map<string, SearchAttributeSpec>();
    const versions = [...(await this.registry.versions(type))].sort((a, b) => a.spec.version - b.spec.version);
    for (const known of versions) for (const a of known.spec.searchAttributes ?? []) byName.set(a.name, a);
    return [...byName.values()];
  }

  private idempotencyKey(bodyKey: string | undefined, headerKey: string | undefined): string | null {
    if (headerKey !== undefined && !IDEMPOTENCY_KEY_PATTERN.test(headerKey)) {
      throw new ApiError(
        400,
        'INPUT_INVALID',
        'Idempotency-Key header must be 1-200 printable ASCII characters without spaces',
      );
    }
    if (bodyKey !== undefined && headerKey !== undefined && bodyKey !== headerKey) {
      throw new ApiError(400, 'INPUT_INVALID', 'idempotencyKey and the Idempotency-Key header differ');
    }
    return bodyKey ?? headerKey ?? null;
  }
}

export const unknownType = () =>
  new ApiError(400, 'SAGA_TYPE_UNKNOWN', 'type is not a registered saga type (GET /v1/saga-types lists them)');

function notFound(id: string): ApiError {
  return new ApiError(404, 'SAGA_NOT_FOUND', `saga ${id} not found`);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PG_TIMESTAMP = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2})?$/;

/**
 * Cursors are opaque and signed (HMAC-SHA-256, a key drawn at process start), so a client cannot forge a keyset
 * position. A cursor is valid for the process that made it: after a restart, or on another orchestrator behind a
 * load balancer, it is a 400 and the client pages again from the start.
 */
const CURSOR_KEY = randomBytes(32);
const SIGNATURE_BYTES = 16;

function sign(payload: Buffer): Buffer {
  return createHmac('sha256', CURSOR_KEY).update(payload).digest().subarray(0, SIGNATURE_BYTES);
}

export function encodeCursor(last: { createdAt: string; id: string }): string {
  const payload = Buffer.from(JSON.stringify([last.createdAt, last.id]));
  return Buffer.concat([sign(payload), payload]).toString('base64url');
}

export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const raw = Buffer.from(cursor, 'base64url');
    const payload = raw.subarray(SIGNATURE_BYTES);
    if (raw.length <= SIGNATURE_BYTES || !timingSafeEqual(raw.subarray(0, SIGNATURE_BYTES), sign(payload))) {
      throw new Error('bad signature');
    }
    const value: unknown = JSON.parse(payload.toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      PG_TIMESTAMP.test(String(value[0])) &&
      UUID.test(String(value[1]))
    ) {
      return { createdAt: String(value[0]), id: String(value[1]) };
    }
  } catch {
    // fall through
  }
  throw new ApiError(400, 'INPUT_INVALID', 'cursor is invalid');
}
