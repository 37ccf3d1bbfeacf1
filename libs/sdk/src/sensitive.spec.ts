import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsEmail, IsObject, IsOptional, IsString, ValidateNested } from 'class-validator';
import { defineSaga } from './define-saga';
import { SagaDefinitionError } from './errors';

const run = async () => ({ ok: true });

class PaymentInput {
  @IsString()
  cardNumber!: string;

  @IsString()
  holder!: string;
}

class CustomerInput {
  @IsEmail()
  email!: string;
}

class CheckoutInput {
  @IsObject()
  @ValidateNested()
  @Type(() => PaymentInput)
  payment!: PaymentInput;

  @IsObject()
  @ValidateNested()
  @Type(() => CustomerInput)
  customer!: CustomerInput;

  @IsOptional()
  @IsObject()
  metadata?: Record<string, string>;
}

function build(sensitive: unknown, input: (new () => object) | null = CheckoutInput) {
  return defineSaga('checkout', { version: 1, input: input ?? undefined, sensitive: sensitive as string[] })
    .step('pay', { run })
    .build();
}

function expectDefinitionError(fn: () => unknown, message: string): void {
  expect(fn).toThrow(SagaDefinitionError);
  expect(fn).toThrow(new SagaDefinitionError(message));
}

describe('defineSaga: sensitive input fields', () => {
  it('keeps the declared paths, in order, frozen, and none by default', () => {
    const definition = build(['payment.cardNumber', 'customer.email']);
    expect(definition.sensitive).toEqual(['payment.cardNumber', 'customer.email']);
    expect(Object.isFrozen(definition.sensitive)).toBe(true);
    expect(build(undefined).sensitive).toEqual([]);
  });

  it('accepts a whole object, and paths under a plain record (nothing more to check there)', () => {
    expect(build(['payment']).sensitive).toEqual(['payment']);
    expect(build(['metadata.token']).sensitive).toEqual(['metadata.token']);
  });

  it('accepts any well-formed path without an input class', () => {
    expect(build(['a.b.c', 'x'], null).sensitive).toEqual(['a.b.c', 'x']);
  });

  it('refuses a path that is not a property of the input class, naming the class and its properties', () => {
    expectDefinitionError(
      () => build(['payment.cardNumbr']),
      'Saga "checkout": sensitive path "payment.cardNumbr": "cardNumbr" is not a property of PaymentInput ' +
        '(it has cardNumber, holder)',
    );
    expectDefinitionError(
      () => build(['card']),
      'Saga "checkout": sensitive path "card": "card" is not a property of CheckoutInput ' +
        '(it has payment, customer, metadata)',
    );
  });

  it.each([
    ['', '""'],
    ['payment..cardNumber', '"payment..cardNumber"'],
    ['.payment', '".payment"'],
    ['payment.', '"payment."'],
    ['payment[0]', '"payment[0]"'],
    ['payment.__proto__', '"payment.__proto__"'],
    ['constructor', '"constructor"'],
  ])('refuses the malformed path %j', (path, shown) => {
    expectDefinitionError(
      () => build([path], null),
      `Saga "checkout": sensitive path ${shown} is malformed: property names joined by dots, e.g. "payment.cardNumber"`,
    );
  });

  it('refuses a path that is not a string, and sensitive that is not an array', () => {
    expectDefinitionError(
      () => build([42], null),
      'Saga "checkout": sensitive path 42 is malformed: property names joined by dots, e.g. "payment.cardNumber"',
    );
    expectDefinitionError(
      () => build('payment.cardNumber', null),
      'Saga "checkout": sensitive must be an array of dotted paths (got "payment.cardNumber")',
    );
  });

  it('refuses a path listed twice, and paths inside one another', () => {
    expectDefinitionError(
      () => build(['customer.email', 'customer.email']),
      'Saga "checkout": sensitive path "customer.email" is listed twice',
    );
    expectDefinitionError(
      () => build(['payment', 'payment.cardNumber']),
      'Saga "checkout": sensitive paths "payment" and "payment.cardNumber" overlap; list only the outer one',
    );
  });
});
