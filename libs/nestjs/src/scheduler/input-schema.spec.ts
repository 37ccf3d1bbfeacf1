import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { inputSchemaOf, validateSagaInput } from './input-schema';

class Point {
  @IsInt()
  @Min(0)
  x!: number;
}

class ShipmentInput {
  @IsString()
  @MaxLength(8)
  @Matches(/^[a-z]+$/)
  orderId!: string;

  @IsObject()
  @ValidateNested()
  @Type(() => Point)
  from!: Point;

  @IsInt()
  @Max(50)
  weightKg!: number;

  @IsOptional()
  @IsObject()
  extra?: Record<string, unknown>;
}

const good = { orderId: 'abc', from: { x: 1 }, weightKg: 3, extra: { anything: [1, 2] } };

describe('the input schema a saga publishes (for processes without its code)', () => {
  const schema = inputSchemaOf(ShipmentInput);

  it('describes the class: its title, required fields, nested classes, and no other field', () => {
    expect(schema).toMatchObject({
      title: 'ShipmentInput',
      type: 'object',
      additionalProperties: false,
      required: expect.arrayContaining(['orderId', 'from', 'weightKg']),
    });
    expect((schema.definitions as Record<string, unknown>).Point).toMatchObject({ additionalProperties: false });
    expect(JSON.stringify(schema)).not.toContain('#/definitions/Object');
  });

  it.each([
    ['a good input', good],
    ['a missing field', { from: { x: 1 }, weightKg: 3 }],
    ['an unknown field', { ...good, color: 'red' }],
    ['an unknown nested field', { ...good, from: { x: 1, y: 2 } }],
    ['a wrong type', { ...good, weightKg: '3' }],
    ['a value out of range', { ...good, weightKg: 51 }],
    ['a nested value out of range', { ...good, from: { x: -1 } }],
    ['a pattern not matched', { ...good, orderId: 'ABC' }],
    ['a string too long', { ...good, orderId: 'abcdefghi' }],
  ])('accepts and refuses as the class does: %s', async (_, input) => {
    const byClass = await validateSagaInput({ inputClass: ShipmentInput }, input);
    const bySchema = await validateSagaInput({ inputSchema: schema }, input);
    expect(bySchema.length === 0).toBe(byClass.length === 0);
  });

  it('names the field in every message, never the value', async () => {
    const problems = await validateSagaInput(
      { inputSchema: schema },
      {
        orderId: 'secret-VALUE',
        from: { x: 1, y: 2 },
        weightKg: 3,
      },
    );
    expect(problems).toEqual(
      expect.arrayContaining([expect.stringMatching(/^input\.orderId /), 'input.from.y should not exist']),
    );
    expect(problems.join(' ')).not.toContain('secret-VALUE');
  });

  it('accepts any JSON object without an input class', async () => {
    expect(await validateSagaInput({ inputSchema: null }, { anything: 1 })).toEqual([]);
    expect(await validateSagaInput({ inputClass: null }, { anything: 1 })).toEqual([]);
  });
});
