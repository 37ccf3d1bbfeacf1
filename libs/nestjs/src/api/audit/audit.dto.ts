import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsUUID } from 'class-validator';
import { DecimalInt } from '../http/query-params';

export class ListAuditQuery {
  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID('all', { message: 'sagaId must be a UUID' })
  sagaId?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, example: 50 })
  @IsOptional()
  @DecimalInt(1, 200, 'limit must be an integer between 1 and 200')
  limit?: number;
}
