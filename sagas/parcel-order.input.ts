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
import { LatLngInput } from './drone-delivery.input';

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

  /** Demo knob: the delivery service refuses this parcel for good (its booking fails, the order is undone). */
  @IsOptional()
  @Matches(/^(refuse|flaky)$/, { message: "fault must be 'refuse' or 'flaky'" })
  fault?: 'refuse' | 'flaky';
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
}
