import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
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
} from 'class-validator';
import { IsFaults, LatLngInput } from './drone-delivery.input';
import type { StepFault } from './drone-delivery.participants';

/** One parcel of an order: where it goes and what it weighs. */
export class ParcelInput {
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'parcelId must be letters, digits, _ or -' })
  parcelId!: string;

  @IsObject()
  @ValidateNested()
  @Type(() => LatLngInput)
  dropoff!: LatLngInput;

  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'weightKg must be a number' })
  @IsPositive({ message: 'weightKg must be greater than 0' })
  @Max(50, { message: 'weightKg must not be greater than 50' })
  weightKg!: number;

  /**
   * Demo knob: `refuse`, the delivery service refuses this parcel for good (its booking fails, the order is undone);
   * `flaky`, its first attempt fails; `slow`, the delivery service takes 0.8 s to book it.
   */
  @IsOptional()
  @Matches(/^(refuse|flaky|slow)$/, { message: "fault must be 'refuse', 'flaky' or 'slow'" })
  fault?: 'refuse' | 'flaky' | 'slow';
}

/**
 * The input of a multi-parcel order (API.md, "The parcel-order demo"): parcels picked up at one place, each booked
 * with the delivery service (a fan-out), the first one flown at once by a drone delivery of its own (a child saga).
 */
export class ParcelOrderInput {
  @IsString()
  @MaxLength(64)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'accountId must be letters, digits, _ or -' })
  accountId!: string;

  @IsObject()
  @ValidateNested()
  @Type(() => LatLngInput)
  pickup!: LatLngInput;

  @IsArray()
  @ArrayMinSize(1, { message: 'parcels must hold at least one parcel' })
  @ArrayMaxSize(500, { message: 'parcels must hold at most 500 parcels' })
  @ValidateNested({ each: true })
  @Type(() => ParcelInput)
  parcels!: ParcelInput[];

  /** The price of the express flight of the first parcel (the child drone delivery charges it). */
  @IsInt({ message: 'expressPriceCents must be an integer' })
  @Min(0)
  @Max(100_000_000)
  expressPriceCents!: number;

  /** Demo knobs of the express flight: the `faults` of its drone delivery (see the drone-delivery input). */
  @IsOptional()
  @IsFaults()
  expressFaults?: Record<string, StepFault>;
}
