import { jsonSkeleton, outputSkeletonText } from './json-skeleton';

// The schema a step's output class publishes (class-validator-jsonschema's shape, as GET /v1/saga-types shows it).
const shipment = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Shipment',
  type: 'object',
  additionalProperties: false,
  properties: {
    trackingId: { type: 'string' },
    parcels: { type: 'integer', minimum: 1 },
    insured: { type: 'boolean' },
    carrier: { type: 'string', enum: ['dhl', 'ups'] },
    labels: { type: 'array', items: { type: 'string' } },
    to: { $ref: '#/definitions/Address' },
    extra: {},
  },
  required: ['trackingId', 'parcels'],
  definitions: { Address: { type: 'object', properties: { city: { type: 'string' } } } },
};

describe('the skeleton of a step output', () => {
  it('has every property, typed placeholders, enums and nested classes followed', () => {
    expect(jsonSkeleton(shipment)).toEqual({
      trackingId: '',
      parcels: 0,
      insured: false,
      carrier: 'dhl',
      labels: [],
      to: { city: '' },
      extra: null,
    });
  });

  it('stops on a self-reference and an unknown reference', () => {
    const tree = { type: 'object', properties: { child: { $ref: '#' }, other: { $ref: '#/definitions/Nope' } } };
    const value = jsonSkeleton(tree) as Record<string, unknown>;
    expect(value.other).toBeNull();
    expect(JSON.stringify(value).length).toBeLessThan(500);
  });

  it('is a list of one for a fan-out, and empty text without a schema', () => {
    expect(JSON.parse(outputSkeletonText({ outputSchema: shipment, fanOut: { concurrency: 2 } }))).toHaveLength(1);
    expect(JSON.parse(outputSkeletonText({ outputSchema: shipment }))).toMatchObject({ trackingId: '' });
    expect(outputSkeletonText({ outputSchema: null })).toBe('');
    expect(outputSkeletonText({})).toBe('');
  });
});
