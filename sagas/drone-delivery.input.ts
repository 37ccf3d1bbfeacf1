import { Type } from 'class-transformer';
import {
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsPositive,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
  ValidateBy,
  type ValidationOptions,
} from 'class-validator';
import type { StepFault } from './drone-delivery.participants';

export class LatLngInput {
  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'lat must be a number' })
  @Min(-90)
  @Max(90)
  lat!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'lng must be a number' })
  @Min(-180)
  @Max(180)
  lng!: number;
}

const STEPS = [
  'verify-account',
  'create-delivery',
  'register-package',
  'schedule-drone',
  'book-ground-transport',
  'await-delivery',
  'charge-account',
  'notify-customer',
];
const FAULT_KEYS = ['transient', 'fatal', 'delayMs', 'compensationTransient', 'compensationFatal', 'never'];

/** `faults` maps step names to fault knobs; unknown steps, unknown knobs and bad values are refused. */
export function IsFaults(options?: ValidationOptions) {
  return ValidateBy(
    {
      name: 'isFaults',
      validator: {
        validate: (value: unknown) => {
          if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
          return Object.entries(value).every(([step, fault]) => {
            if (!STEPS.includes(step) || typeof fault !== 'object' || fault === null || Array.isArray(fault))
              return false;
            return Object.entries(fault as Record<string, unknown>).every(([knob, v]) => {
              if (!FAULT_KEYS.includes(knob)) return false;
              if (knob === 'fatal' || knob === 'compensationFatal' || knob === 'never') return typeof v === 'boolean';
              return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 600_000;
            });
          });
        },
        defaultMessage: () =>
          `faults must map step names (${STEPS.join(', ')}) to { transient?: int, fatal?: boolean, delayMs?: int, ` +
          `compensationTransient?: int, compensationFatal?: boolean, never?: boolean }`,
      },
    },
    options,
  );
}

/** The input of a drone delivery (API.md). */
export class DroneDeliveryInput {
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'accountId must be letters, digits, _ or -' })
  accountId!: string;

  @IsObject()
  @ValidateNested()
  @Type(() => LatLngInput)
  pickup!: LatLngInput;

  @IsObject()
  @ValidateNested()
  @Type(() => LatLngInput)
  dropoff!: LatLngInput;

  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'weightKg must be a number' })
  @IsPositive({ message: 'weightKg must be greater than 0' })
  @Max(50, { message: 'weightKg must not be greater than 50' })
  weightKg!: number;

  @IsInt({ message: 'priceCents must be an integer' })
  @Min(0)
  @Max(100_000_000)
  priceCents!: number;

  /** Where notify-customer texts the customer. Sensitive: encrypted at rest, "[REDACTED]" in the API and logs. */
  @IsOptional()
  @IsString()
  @Matches(/^\+?[0-9][0-9 ()-]{5,30}$/, {
    message: 'contactPhone must be a phone number: digits, spaces, (, ), - and an optional leading +',
  })
  contactPhone?: string;

  @IsOptional()
  @IsFaults()
  faults?: Record<string, StepFault>;
}

export const DRONE_DELIVERY_STEPS = STEPS;
