import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested } from 'class-validator';
import { classSchemaOf, validateSagaInput, validateStepOutput } from './input-schema';

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
  const schema = classSchemaOf(ShipmentInput);

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

describe("a step's output type (its output class, or the schema its agents published)", () => {
  class Shipment {
    @IsString()
    trackingId!: string;

    @IsInt()
    parcels!: number;
  }
  const schema = classSchemaOf(Shipment);
  const step = (extra: Record<string, unknown>) =>
    ({ name: 'ship', fanOut: null, ...extra }) as unknown as Parameters<typeof validateStepOutput>[0];

  it('derives the schema once per class (the same object for a class, another for another class)', () => {
    expect(classSchemaOf(Shipment)).toBe(schema);
    expect(classSchemaOf(ShipmentInput)).not.toBe(schema);
    expect(schema).toMatchObject({ title: 'Shipment', required: expect.arrayContaining(['trackingId', 'parcels']) });
  });

  it.each([
    ['a good output', { trackingId: 't-1', parcels: 2 }, []],
    ['a wrong type', { trackingId: 7, parcels: 2 }, ['output.trackingId must be a string']],
    ['a missing field', { parcels: 2 }, ['output.trackingId must be a string']],
    ['an unknown field', { trackingId: 't', parcels: 1, extra: 1 }, ['output.extra: property extra should not exist']],
    ['not an object', 'T-1', ['output must be an object (Shipment)']],
    ['null', null, ['output must be an object (Shipment)']],
  ])('names what does not fit, by the class: %s', async (_, value, expected) => {
    expect(await validateStepOutput(step({ outputClass: Shipment }), value)).toEqual(expected);
  });

  it.each([
    ['a good output', { trackingId: 't-1', parcels: 2 }, 0],
    ['a wrong type', { trackingId: 7, parcels: 2 }, 1],
    ['a missing field', { parcels: 2 }, 1],
    ['an unknown field', { trackingId: 't', parcels: 1, extra: 1 }, 1],
    ['not an object', 'T-1', 1],
  ])('the published schema agrees with the class, naming the fields: %s', async (_, value, count) => {
    const problems = await validateStepOutput(step({ outputSchema: schema }), value);
    expect(problems).toHaveLength(count);
    for (const problem of problems) expect(problem).toMatch(/^output(\.| )/);
    if (typeof value === 'object' && value !== null && 'extra' in value) {
      expect(problems).toEqual(['output.extra should not exist']);
    }
    if (typeof value === 'object' && value !== null && !('trackingId' in value)) {
      expect(problems).toEqual(['output.trackingId is required']);
    }
  });

  it("checks a fan-out's output item by item (and one item's output alone)", async () => {
    const fanOut = step({ outputClass: Shipment, fanOut: { concurrency: 2, keyed: false } });
    const ok = { trackingId: 't', parcels: 1 };
    expect(await validateStepOutput(fanOut, [ok, ok])).toEqual([]);
    expect(await validateStepOutput(fanOut, [ok, { trackingId: 1, parcels: 1 }])).toEqual([
      'output[1].trackingId must be a string',
    ]);
    expect(await validateStepOutput(fanOut, ok)).toEqual(['output must be an array (the output of each item)']);
    expect(await validateStepOutput(fanOut, ok, { item: true })).toEqual([]);
    const many = await validateStepOutput(
      fanOut,
      Array.from({ length: 50 }, () => ({})),
    );
    expect(many.length).toBeLessThanOrEqual(10);
  });

  it('takes anything when the step declares no output type', async () => {
    expect(await validateStepOutput(step({}), 'anything')).toEqual([]);
    expect(await validateStepOutput(step({ outputClass: null, outputSchema: null }), 42)).toEqual([]);
  });
});
