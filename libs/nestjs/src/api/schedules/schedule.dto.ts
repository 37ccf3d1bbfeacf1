import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
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
  ValidateBy,
} from 'class-validator';
import { CATCH_UP_POLICIES, OVERLAP_POLICIES, cronProblem, timeZoneProblem } from '../../schedules/schedule-plan';
import { IsReason } from '../sagas/operator-action.dto';
import { TYPE_PATTERN } from '../sagas/saga.dto';
import { DecimalInt } from '../http/query-params';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

/** A cron expression croner accepts (5 or 6 fields, or a nickname), with croner's reason when not. */
function IsCron(): PropertyDecorator {
  return ValidateBy({
    name: 'isCron',
    validator: {
      validate: (value: unknown) => cronProblem(value) === null,
      defaultMessage: (args) => cronProblem(args?.value) ?? 'cron is invalid',
    },
  });
}

/** An IANA time zone this runtime knows. */
function IsTimeZone(): PropertyDecorator {
  return ValidateBy({
    name: 'isTimeZone',
    validator: {
      validate: (value: unknown) => timeZoneProblem(value) === null,
      defaultMessage: (args) => timeZoneProblem(args?.value) ?? 'timeZone is invalid',
    },
  });
}

const CRON_DOC = {
  description:
    'When it fires: 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or a nickname ' +
    '(@hourly, @daily, @weekly, @monthly, @yearly), read in timeZone',
  example: '0 9 * * 1-5',
};
const ZONE_DOC = { description: 'IANA time zone the cron is read in (DST included)', example: 'Europe/Berlin' };
const OVERLAP_DOC = {
  enum: OVERLAP_POLICIES,
  description:
    "A tick while the previous run is still active (RUNNING, COMPENSATING, DELAYED): 'skip' it, 'allow' it, or " +
    "'buffer' one (it starts when the previous run ends; more are skipped)",
};
const CATCH_UP_DOC = {
  enum: CATCH_UP_POLICIES,
  description:
    "Ticks missed while no supervisor ran: 'none' (skipped; a tick found more than max(60 s, 2 sweeps) late is " +
    "missed), 'last' (only the newest starts), 'all' (each starts, oldest first, up to catchUpLimit)",
};

export class CreateScheduleDto {
  @ApiProperty({ description: 'A registered saga type (GET /v1/saga-types)', example: 'order', maxLength: 64 })
  @IsString({ message: 'type must be a string' })
  @MaxLength(64, { message: 'type must be at most 64 characters' })
  @Matches(TYPE_PATTERN, { message: 'type must be a kebab-case saga type name' })
  type!: string;

  @ApiProperty({
    description: "Each run's input, validated against the type's schema now and at each tick",
    type: 'object',
    additionalProperties: true,
    example: { report: 'daily-sales' },
  })
  @IsObject({ message: 'input must be a JSON object' })
  input!: Record<string, unknown>;

  @ApiProperty(CRON_DOC)
  @Transform(trim)
  @IsCron()
  cron!: string;

  @ApiPropertyOptional({ ...ZONE_DOC, default: 'UTC' })
  @IsOptional()
  @IsTimeZone()
  timeZone?: string;

  @ApiPropertyOptional({ ...OVERLAP_DOC, default: 'skip' })
  @IsOptional()
  @IsIn(OVERLAP_POLICIES, { message: `overlap must be one of ${OVERLAP_POLICIES.join(', ')}` })
  overlap?: (typeof OVERLAP_POLICIES)[number];

  @ApiPropertyOptional({ ...CATCH_UP_DOC, default: 'last' })
  @IsOptional()
  @IsIn(CATCH_UP_POLICIES, { message: `catchUp must be one of ${CATCH_UP_POLICIES.join(', ')}` })
  catchUp?: (typeof CATCH_UP_POLICIES)[number];

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 10, description: "With catchUp 'all': at most this many" })
  @IsOptional()
  @IsInt({ message: 'catchUpLimit must be an integer between 1 and 1000' })
  @Min(1, { message: 'catchUpLimit must be an integer between 1 and 1000' })
  @Max(1000, { message: 'catchUpLimit must be an integer between 1 and 1000' })
  catchUpLimit?: number;

  @ApiPropertyOptional({ maxLength: 500, example: 'Daily sales report for the finance team' })
  @IsOptional()
  @IsString({ message: 'description must be a string' })
  @MaxLength(500, { message: 'description must be at most 500 characters' })
  description?: string;

  @ApiPropertyOptional({ default: false, description: 'Create it paused' })
  @IsOptional()
  @IsBoolean({ message: 'paused must be true or false' })
  paused?: boolean;

  @ApiProperty({ description: "Why, in the operator's words (audited)", example: 'finance wants it every weekday' })
  @Transform(trim)
  @IsReason()
  reason!: string;
}

/** A change: any of the fields, and why. `paused: true` pauses; `paused: false` resumes from the next tick. */
export class UpdateScheduleDto {
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Validated like a start' })
  @IsOptional()
  @IsObject({ message: 'input must be a JSON object' })
  input?: Record<string, unknown>;

  @ApiPropertyOptional(CRON_DOC)
  @IsOptional()
  @Transform(trim)
  @IsCron()
  cron?: string;

  @ApiPropertyOptional(ZONE_DOC)
  @IsOptional()
  @IsTimeZone()
  timeZone?: string;

  @ApiPropertyOptional(OVERLAP_DOC)
  @IsOptional()
  @IsIn(OVERLAP_POLICIES, { message: `overlap must be one of ${OVERLAP_POLICIES.join(', ')}` })
  overlap?: (typeof OVERLAP_POLICIES)[number];

  @ApiPropertyOptional(CATCH_UP_DOC)
  @IsOptional()
  @IsIn(CATCH_UP_POLICIES, { message: `catchUp must be one of ${CATCH_UP_POLICIES.join(', ')}` })
  catchUp?: (typeof CATCH_UP_POLICIES)[number];

  @ApiPropertyOptional({ minimum: 1, maximum: 1000 })
  @IsOptional()
  @IsInt({ message: 'catchUpLimit must be an integer between 1 and 1000' })
  @Min(1, { message: 'catchUpLimit must be an integer between 1 and 1000' })
  @Max(1000, { message: 'catchUpLimit must be an integer between 1 and 1000' })
  catchUpLimit?: number;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString({ message: 'description must be a string' })
  @MaxLength(500, { message: 'description must be at most 500 characters' })
  description?: string;

  @ApiPropertyOptional({ description: 'true pauses it; false resumes it from the next tick after now' })
  @IsOptional()
  @IsBoolean({ message: 'paused must be true or false' })
  paused?: boolean;

  @ApiProperty({ description: "Why, in the operator's words (audited)", example: 'paused during the migration' })
  @Transform(trim)
  @IsReason()
  reason!: string;
}

export class ListSchedulesQuery {
  @ApiPropertyOptional({ example: 'order' })
  @IsOptional()
  @IsString({ message: 'type must be a single string' })
  @MaxLength(64, { message: 'type must be at most 64 characters' })
  @Matches(TYPE_PATTERN, { message: 'type must be a kebab-case saga type name' })
  type?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @IsOptional()
  @DecimalInt(1, 500, 'limit must be an integer between 1 and 500')
  limit?: number;
}
