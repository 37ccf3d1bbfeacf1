import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsInt, IsObject, IsString, ValidateNested } from 'class-validator';
import { toSpecJson } from '@saga-engine/core';
import { defineSaga } from './define-saga';
import { SagaDefinitionError } from './errors';

class PaymentInput {
  @IsString()
  cardNumber!: string;

  @IsString()
  currency!: string;
}

class OrderInput {
  @IsString()
  orderNumber!: string;

  @IsInt()
  amountCents!: number;

  @IsObject()
  @ValidateNested()
  @Type(() => PaymentInput)
  payment!: PaymentInput;
}

function build(options: { businessKey?: unknown; searchAttributes?: unknown; sensitive?: string[] }) {
  return defineSaga('order', { version: 1, input: OrderInput, ...(options as object) })
    .step('charge-card', { run: () => ({ receiptId: 'r-1', amount: 10 }) })
    .build();
}

describe('defineSaga: business key and search attributes', () => {
  it('builds them into the definition and its published spec', () => {
    const def = build({
      businessKey: 'orderNumber',
      searchAttributes: {
        amount: { type: 'number', from: 'input.amountCents' },
        currency: { type: 'keyword', from: 'input.payment.currency' },
        receipt: { type: 'keyword', from: 'steps.chargeCard.receiptId' },
        charged: { type: 'number', from: 'steps.chargeCard' },
      },
      sensitive: ['payment.cardNumber'],
    });
    expect(def.businessKey).toBe('orderNumber');
    expect(def.searchAttributes).toEqual([
      { name: 'amount', type: 'number', step: null, path: 'amountCents' },
      { name: 'currency', type: 'keyword', step: null, path: 'payment.currency' },
      { name: 'receipt', type: 'keyword', step: 'charge-card', path: 'receiptId' },
      { name: 'charged', type: 'number', step: 'charge-card', path: '' },
    ]);
    const spec = toSpecJson(def);
    expect(spec.businessKey).toBe('orderNumber');
    expect(spec.searchAttributes).toEqual(def.searchAttributes);
  });

  it('leaves them out of a definition that declares none (its spec keeps its fingerprint)', () => {
    const spec = toSpecJson(build({}));
    expect(Object.keys(spec)).not.toContain('businessKey');
    expect(Object.keys(spec)).not.toContain('searchAttributes');
  });

  it.each([
    [{ businessKey: 'order-number' }, /businessKey must be a dotted path into the input/],
    [{ businessKey: 'orderNo' }, /businessKey "orderNo": "orderNo" is not a property of OrderInput/],
    [
      { businessKey: 'payment.cardNumber', sensitive: ['payment.cardNumber'] },
      /businessKey "payment.cardNumber" overlaps the sensitive path "payment.cardNumber": a business key is stored in clear/,
    ],
    [
      { searchAttributes: { card: { type: 'keyword', from: 'input.payment' } }, sensitive: ['payment.cardNumber'] },
      /searchAttributes.card: from "input.payment" overlaps the sensitive path "payment.cardNumber"/,
    ],
    [
      { searchAttributes: { card: { type: 'keyword', from: 'input.payment.cardNumber' } }, sensitive: ['payment'] },
      /overlaps the sensitive path "payment": an attribute is stored and shown in clear/,
    ],
    [
      { searchAttributes: { Amount: { type: 'number', from: 'input.amountCents' } } },
      /searchAttributes.Amount: the name/,
    ],
    [
      { searchAttributes: { amount: { type: 'money', from: 'input.amountCents' } } },
      /type must be one of keyword, number, boolean, datetime/,
    ],
    [
      { searchAttributes: { amount: { type: 'number', from: 'amountCents' } } },
      /from must be "input.<path>" or "steps.<stepKey>/,
    ],
    [
      { searchAttributes: { amount: { type: 'number', from: 'input.total' } } },
      /input path "total": "total" is not a property/,
    ],
    [{ searchAttributes: { amount: { type: 'number', from: 'input.amountCents', index: true } } }, /unknown/i],
    [
      { searchAttributes: { receipt: { type: 'keyword', from: 'steps.chargeCrad.receiptId' } } },
      /no step has the key "chargeCrad" \(the steps: chargeCard\)/,
    ],
    [{ searchAttributes: 'amount' }, /searchAttributes must be an object/],
  ])('refuses %j', (options, message) => {
    expect(() => build(options)).toThrow(SagaDefinitionError);
    expect(() => build(options)).toThrow(message);
  });

  it('refuses more than 32 attributes', () => {
    const many = Object.fromEntries(
      Array.from({ length: 33 }, (_, i) => [`a${i}`, { type: 'number', from: 'input.amountCents' }]),
    );
    expect(() => build({ searchAttributes: many })).toThrow(/declares 33 attributes \(at most 32\)/);
  });
});
