import {
  Controller,
  UseFilters,
  UseGuards,
  UseInterceptors,
  UsePipes,
  ValidationPipe,
  applyDecorators,
} from '@nestjs/common';
import { ApiExceptionFilter } from './api-exception.filter';
import { ApiKeyGuard } from './auth';
import { UnavailableInterceptor } from './unavailable.interceptor';

/**
 * Strict validation of the engine's request DTOs: unknown fields are refused, nothing is converted implicitly, and
 * messages never carry the value (it may be a secret).
 */
export const sagaValidationPipe = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  transform: true,
  transformOptions: { enableImplicitConversion: false },
  validationError: { target: false, value: false },
});

/**
 * A controller of the engine's API. The key check, the error shape, the validation and the fast 503 while
 * PostgreSQL is away are the controller's own, not global: mounted in your app, the engine changes nothing about
 * your routes, and yours nothing about its.
 */
export function SagaApiController(path: string): ClassDecorator {
  return applyDecorators(
    Controller(path),
    UseGuards(ApiKeyGuard),
    UseFilters(ApiExceptionFilter),
    UseInterceptors(UnavailableInterceptor),
    UsePipes(sagaValidationPipe),
  );
}
