import { plainToInstance } from 'class-transformer';
import { type ValidationError, validate } from 'class-validator';
import type { SagaDefinition } from '@saga-engine/core';

/**
 * Validates a start request's input against the saga's input class. Unknown fields are refused and nothing is
 * converted implicitly ("100" is not a number). Returns messages that name each field (`input.pickup.lat ...`).
 */
export async function validateSagaInput(definition: SagaDefinition, input: Record<string, unknown>): Promise<string[]> {
  if (!definition.inputClass) return [];
  const instance = plainToInstance(definition.inputClass as new () => object, input, {
    enableImplicitConversion: false,
  });
  const errors = await validate(instance, {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    validationError: { target: false, value: false },
  });
  return flatten(errors, 'input');
}

function flatten(errors: ValidationError[], prefix: string): string[] {
  return errors.flatMap((error) => {
    const path = `${prefix}.${error.property}`;
    const own = Object.values(error.constraints ?? {}).map((message) =>
      // class-validator names the property itself; we name the full path instead.
      message.startsWith(`${error.property} `)
        ? `${path}${message.slice(error.property.length)}`
        : `${path}: ${message}`,
    );
    return [...own, ...flatten(error.children ?? [], path)];
  });
}
