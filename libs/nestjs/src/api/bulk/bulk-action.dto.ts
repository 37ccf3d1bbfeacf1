import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { SagaStatus } from '@saga-engine/core';
import { QUERY_DATE_DESCRIPTION, QueryDate } from '../http/query-params';
import { IsReason } from '../sagas/operator-action.dto';
import { TYPE_PATTERN } from '../sagas/saga.dto';
import { BulkAction } from '../../store/bulk-job-store';

const SAGA_STATUSES = Object.values(SagaStatus);
const BULK_ACTIONS = Object.values(BulkAction);

/** The cap of a job when the request names none. */
export const DEFAULT_BULK_CAP = 10_000;
/** The largest cap a request may name. */
export const MAX_BULK_CAP = 100_000;

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const toArray = ({ value }: { value: unknown }) =>
  value === undefined ? undefined : Array.isArray(value) ? value : [value];

/** Which sagas: the filter of `GET /v1/sagas`, with the same rules and messages. */
export class BulkFilterDto {
  @ApiPropertyOptional({ example: 'order' })
  @IsOptional()
  @IsString({ message: 'filter.type must be a single string' })
  @MaxLength(64, { message: 'filter.type must be at most 64 characters' })
  @Matches(TYPE_PATTERN, { message: 'filter.type must be a kebab-case saga type name' })
  type?: string;

  @ApiPropertyOptional({ enum: SAGA_STATUSES, isArray: true, example: ['FAILED'] })
  @IsOptional()
  @Transform(toArray)
  @IsIn(SAGA_STATUSES, { each: true, message: `filter.status must be one of ${SAGA_STATUSES.join(', ')}` })
  status?: SagaStatus[];

  @ApiPropertyOptional({ description: QUERY_DATE_DESCRIPTION, example: '2026-11-21T00:00:00Z' })
  @IsOptional()
  @QueryDate('filter.createdAfter')
  createdAfter?: string;

  @ApiPropertyOptional({ description: QUERY_DATE_DESCRIPTION, example: '2026-11-22' })
  @IsOptional()
  @QueryDate('filter.createdBefore')
  createdBefore?: string;
}

/** `POST /v1/bulk-actions`. */
export class BulkActionDto {
  @ApiProperty({
    enum: BULK_ACTIONS,
    description: 'What to do to each matching saga: retry and cancel need the operator role, resolve admin',
    example: 'retry',
  })
  @IsIn(BULK_ACTIONS, { message: `action must be one of ${BULK_ACTIONS.join(', ')}` })
  action!: BulkAction;

  @ApiPropertyOptional({
    description: 'The step whose failed compensation is resolved in each saga (resolve only, and required for it)',
    example: 'register-package',
  })
  @IsOptional()
  @IsString({ message: 'step must be a kebab-case step name' })
  @MaxLength(64, { message: 'step must be at most 64 characters' })
  @Matches(TYPE_PATTERN, { message: 'step must be a kebab-case step name' })
  step?: string;

  @ApiProperty({ type: BulkFilterDto, description: 'Which sagas (as GET /v1/sagas filters them); {} is every saga' })
  @IsObject({ message: 'filter must be an object (type, status, createdAfter, createdBefore)' })
  @ValidateNested()
  @Type(() => BulkFilterDto)
  filter!: BulkFilterDto;

  @ApiProperty({
    description: "Why, in the operator's words (audited with each saga); not needed for a dry run",
    example: 'fixed in 2.3.1',
  })
  @Transform(trim)
  @ValidateIf((o: BulkActionDto) => o.dryRun !== true || o.reason !== undefined)
  @IsReason()
  reason!: string;

  @ApiPropertyOptional({
    description: 'Only count the matching sagas (200 {matched}); nothing is done',
    default: false,
  })
  @IsOptional()
  @IsBoolean({ message: 'dryRun must be true or false' })
  dryRun?: boolean;

  @ApiPropertyOptional({
    description: `Refuse the job (409 CAP_EXCEEDED) when more sagas match; 1 to ${MAX_BULK_CAP}`,
    default: DEFAULT_BULK_CAP,
    minimum: 1,
    maximum: MAX_BULK_CAP,
  })
  @IsOptional()
  @IsInt({ message: `cap must be an integer from 1 to ${MAX_BULK_CAP}` })
  @Min(1, { message: `cap must be an integer from 1 to ${MAX_BULK_CAP}` })
  @Max(MAX_BULK_CAP, { message: `cap must be an integer from 1 to ${MAX_BULK_CAP}` })
  cap?: number;
}

/** `POST /v1/bulk-actions/{id}/cancel`. */
export class StopBulkJobDto {
  @ApiProperty({ description: "Why, in the operator's words (audited)", example: 'wrong filter' })
  @Transform(trim)
  @IsReason()
  reason!: string;
}

export class ListBulkJobsQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' && /^\d{1,3}$/.test(value) ? Number(value) : value,
  )
  @IsInt({ message: 'limit must be an integer between 1 and 200' })
  @Min(1, { message: 'limit must be an integer between 1 and 200' })
  @Max(200, { message: 'limit must be an integer between 1 and 200' })
  limit?: number;
}
