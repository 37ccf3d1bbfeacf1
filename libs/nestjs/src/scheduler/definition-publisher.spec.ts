import 'reflect-metadata';
import { IsString } from 'class-validator';
import { specFromJson, toSpecJson } from '@saga-engine/core';
import { defineSaga } from '@saga-engine/sdk';
import { fingerprint, withOutputSchemas } from './definition-publisher';
import { classSchemaOf } from './input-schema';

class Shipment {
  @IsString()
  trackingId!: string;
}

const typed = defineSaga('published-output', { version: 1 })
  .step('ship', { output: Shipment, run: () => ({ trackingId: 't' }) })
  .step('notify', { run: () => null })
  .build();
const untyped = defineSaga('published-output', { version: 1 })
  .step('ship', { run: () => ({ trackingId: 't' }) })
  .step('notify', { run: () => null })
  .build();

describe('the published spec of a step with an output class', () => {
  const spec = withOutputSchemas(toSpecJson(typed), typed);

  it('carries the JSON Schema of the class on that step only, and keeps it when read back', () => {
    expect(spec.steps[0].outputSchema).toBe(classSchemaOf(Shipment));
    expect(spec.steps[1]).not.toHaveProperty('outputSchema');
    const readBack = specFromJson(JSON.parse(JSON.stringify(spec)));
    expect(readBack.stepsByName.ship.outputSchema).toEqual(classSchemaOf(Shipment));
    expect(toSpecJson(readBack).steps[0].outputSchema).toEqual(classSchemaOf(Shipment));
  });

  it('has the fingerprint of the same steps without it (declaring an output type is not a change of shape)', () => {
    expect(fingerprint(spec)).toBe(fingerprint(toSpecJson(untyped)));
    expect(fingerprint(spec)).toBe(fingerprint(toSpecJson(typed)));
  });
});
