import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsInt, IsString, Matches, Max, Min, ValidateNested } from 'class-validator';

export class OrderLine {
  @IsString()
  @Matches(/^[A-Z0-9-]{1,32}$/, { message: 'sku must be 1-32 capital letters, digits or -' })
  sku!: string;

  @IsInt()
  @Min(1)
  @Max(1000)
  quantity!: number;
}

/** What `POST /orders` takes, and the order saga's input (the engine checks it against this class too). */
export class OrderInput {
  @IsString()
  @Matches(/^[a-z0-9-]{1,64}$/, { message: 'orderId must be 1-64 lowercase letters, digits or -' })
  orderId!: string;

  @IsString()
  @Matches(/^cus_[A-Za-z0-9]{1,32}$/, { message: 'customerId must look like cus_123' })
  customerId!: string;

  @ValidateNested({ each: true })
  @Type(() => OrderLine)
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  lines!: OrderLine[];

  @IsInt()
  @Min(1)
  @Max(10_000_000)
  totalCents!: number;

  @IsString()
  @Matches(/^[A-Z]{2}$/, { message: 'country must be a two-letter code' })
  country!: string;
}
