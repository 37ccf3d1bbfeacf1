import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { Allow, ValidateBy } from 'class-validator';

export const REASON_MAX_LENGTH = 500;

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

/** What is wrong with a (trimmed) reason, or null. Lengths count characters (code points), as PostgreSQL does. */
export function reasonProblem(value: unknown): string | null {
  if (typeof value !== 'string') return `must be a string of 1 to ${REASON_MAX_LENGTH} characters`;
  if (value.length === 0) return 'must not be empty';
  if ([...value].length > REASON_MAX_LENGTH) return `must be at most ${REASON_MAX_LENGTH} characters`;
  // Shown in logs, the history and the dashboard: no control characters (line breaks included) to forge lines.
  if (/\p{Cc}/u.test(value)) return 'must not contain control characters';
  return null;
}

/** One rule with one message, rather than four messages for one missing field. */
export function IsReason(): PropertyDecorator {
  return ValidateBy({
    name: 'isReason',
    validator: {
      validate: (value: unknown) => reasonProblem(value) === null,
      defaultMessage: (args) => `${args?.property ?? 'reason'} ${reasonProblem(args?.value) ?? 'is invalid'}`,
    },
  });
}

/** The body of every operator action (cancel, retry, resolve): why, in the operator's words. Audited. */
export class OperatorActionDto {
  @ApiProperty({
    description: "Why, in the operator's words (audited)",
    example: 'customer asked to cancel, ticket 4711',
  })
  @Transform(trim)
  @IsReason()
  reason!: string;
}

/** The body of a skip: why, and the output the skipped step is to have (any JSON value; `null` for none). */
export class SkipStepDto extends OperatorActionDto {
  @ApiProperty({
    description:
      "The skipped step's output, as later steps read it (any JSON value, null for none; at most 256 KiB, 64 levels)",
    example: { trackingId: 'T-4711' },
    nullable: true,
  })
  // Any JSON value: its shape is checked by the action (skipOutputProblem), with a message naming the field.
  @Allow()
  output?: unknown;
}
