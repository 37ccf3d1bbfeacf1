import { Transform } from 'class-transformer';
import { Allow, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { DecimalInt, QUERY_DATE_DESCRIPTION, QueryDate, SequenceNumber } from '../http/query-params';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { SagaStatus, StepStatus } from '@saga-engine/core';

const SAGA_STATUSES = Object.values(SagaStatus);
export const TYPE_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
/** An ISO-8601 date-time with an explicit offset (`Z` or `+01:00`): a local time means another instant elsewhere. */
export const ISO_INSTANT_PATTERN = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Printable ASCII without spaces: safe in logs, headers and job ids. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

export class StartSagaDto {
  @ApiProperty({ description: 'A registered saga type (GET /v1/saga-types)', example: 'order', maxLength: 64 })
  @IsString({ message: 'type must be a string' })
  @MaxLength(64, { message: 'type must be at most 64 characters' })
  @Matches(TYPE_PATTERN, { message: 'type must be a kebab-case saga type name' })
  type!: string;

  @ApiProperty({
    description: "The saga's input, validated against the type's schema",
    type: 'object',
    additionalProperties: true,
    example: { orderId: 'o-1234', customerId: 'cus_42', totalCents: 4200 },
  })
  @IsObject({ message: 'input must be a JSON object' })
  input!: Record<string, unknown>;

  @ApiPropertyOptional({
    description: 'The same key and input answer 200 with the same saga; the same key with another input 409',
    example: 'order-1234',
  })
  @IsOptional()
  @IsString({ message: 'idempotencyKey must be a string' })
  @Matches(IDEMPOTENCY_KEY_PATTERN, {
    message: 'idempotencyKey must be 1-200 printable ASCII characters without spaces',
  })
  idempotencyKey?: string;

  @ApiPropertyOptional({
    description:
      'Start later, at this instant (ISO-8601 with an offset): the saga is DELAYED until then, and can be cancelled ' +
      'before it starts. At most 60 s in the past (it then starts at the next sweep) and 366 days ahead. Not with startIn.',
    format: 'date-time',
    example: '2026-12-24T18:00:00Z',
  })
  @IsOptional()
  @IsString({ message: 'startAt must be an ISO-8601 date-time with an offset, such as 2026-12-24T18:00:00Z' })
  @Matches(ISO_INSTANT_PATTERN, {
    message: 'startAt must be an ISO-8601 date-time with an offset, such as 2026-12-24T18:00:00Z',
  })
  @QueryDate('startAt', {
    message: 'startAt must be an ISO-8601 date-time with an offset, such as 2026-12-24T18:00:00Z',
  })
  startAt?: string;

  @ApiPropertyOptional({
    description:
      'Start later, after this long (counted on the database clock): a duration such as "90s", "10m", "2h", "1d", ' +
      'or milliseconds; 0 to 366 days. Not with startAt.',
    oneOf: [
      { type: 'string', pattern: '^\\d+(\\.\\d+)?(ms|s|m|h|d)$' },
      { type: 'integer', minimum: 0 },
    ],
    example: '10m',
  })
  @IsOptional()
  @Allow()
  startIn?: string | number;

  @ApiPropertyOptional({
    description:
      'Start this version of the type rather than the newest (GET /v1/saga-types/{type}/versions/{version}); ' +
      'a version that is not registered answers 400 SAGA_TYPE_UNKNOWN naming it',
    example: 2,
    minimum: 1,
  })
  @IsOptional()
  @IsInt({ message: 'version must be a positive integer' })
  @Min(1, { message: 'version must be a positive integer' })
  @Max(999_999_999, { message: 'version must be a positive integer' })
  version?: number;
}

const toArray = ({ value }: { value: unknown }) =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

export class ListSagasQuery {
  @ApiPropertyOptional({ example: 'order' })
  @IsOptional()
  @IsString({ message: 'type must be a single string' })
  @MaxLength(64, { message: 'type must be at most 64 characters' })
  @Matches(TYPE_PATTERN, { message: 'type must be a kebab-case saga type name' })
  type?: string;

  @ApiPropertyOptional({ enum: SAGA_STATUSES, isArray: true, example: ['FAILED'] })
  @IsOptional()
  @Transform(toArray)
  @IsIn(SAGA_STATUSES, { each: true, message: `status must be one of ${SAGA_STATUSES.join(', ')}` })
  status?: SagaStatus[];

  @ApiPropertyOptional({
    description: "Only the sagas with this business key (their type's businessKey input field), of every type",
    example: 'ORD-2026-0042',
    maxLength: 200,
  })
  @IsOptional()
  @IsString({ message: 'businessKey must be given once' })
  @MaxLength(200, { message: 'businessKey must be at most 200 characters' })
  @Matches(/^[\s\S]+$/, { message: 'businessKey must not be empty' })
  businessKey?: string;

  @ApiPropertyOptional({ description: QUERY_DATE_DESCRIPTION, example: '2026-11-21T00:00:00Z' })
  @IsOptional()
  @QueryDate('createdAfter')
  createdAfter?: string;

  @ApiPropertyOptional({ description: QUERY_DATE_DESCRIPTION, example: '2026-11-22' })
  @IsOptional()
  @QueryDate('createdBefore')
  createdBefore?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50, example: 50 })
  @IsOptional()
  @DecimalInt(1, 200, 'limit must be an integer between 1 and 200')
  limit?: number;

  @ApiPropertyOptional({ description: 'nextCursor of the previous page' })
  @IsOptional()
  @IsString({ message: 'cursor must be a single string' })
  @MaxLength(200, { message: 'cursor is invalid' })
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor is invalid' })
  cursor?: string;
}

const ITEM_STATUSES = Object.values(StepStatus).filter(
  (s) => s !== StepStatus.SKIPPED && s !== StepStatus.WAITING && s !== StepStatus.SLEEPING,
);

export class ListItemsQuery {
  @ApiPropertyOptional({ enum: ITEM_STATUSES, isArray: true, example: ['FAILED', 'COMPENSATION_FAILED'] })
  @IsOptional()
  @Transform(toArray)
  @IsIn(ITEM_STATUSES, { each: true, message: `status must be one of ${ITEM_STATUSES.join(', ')}` })
  status?: string[];

  @ApiPropertyOptional({ minimum: -1, example: 99, description: 'Items after this index (nextAfterIndex)' })
  @IsOptional()
  // Decimal digits (or -1) only, as every number in a query: `0x10` is not 16.
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^(-1|\d{1,9})$/.test(value) ? Number(value) : value,
  )
  @IsInt({ message: 'afterIndex must be an integer >= -1' })
  @Min(-1, { message: 'afterIndex must be an integer >= -1' })
  afterIndex?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100, example: 100 })
  @IsOptional()
  @DecimalInt(1, 500, 'limit must be an integer between 1 and 500')
  limit?: number;
}

export class ListEventsQuery {
  @ApiPropertyOptional({
    type: 'string',
    pattern: '^[0-9]{1,19}$',
    example: '0',
    description: 'Events after this sequence number: 0 to 9223372036854775807, in decimal digits',
  })
  @IsOptional()
  @SequenceNumber('afterSeq')
  afterSeq?: number | string;

  @ApiPropertyOptional({ example: 'ship-parcels', description: "Only this step's entries" })
  @IsOptional()
  @IsString({ message: 'step must be a single string' })
  @MaxLength(64, { message: 'step must be at most 64 characters' })
  @Matches(TYPE_PATTERN, { message: 'step must be a kebab-case step name' })
  step?: string;

  @ApiPropertyOptional({ minimum: 0, example: 149, description: "Only this fan-out item's entries (with step)" })
  @IsOptional()
  @DecimalInt(0, 999_999_999, 'item must be an integer >= 0')
  item?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, example: 100 })
  @IsOptional()
  @DecimalInt(1, 1000, 'limit must be an integer between 1 and 1000')
  limit?: number;
}
