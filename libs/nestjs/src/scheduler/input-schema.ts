import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { plainToInstance } from 'class-transformer';
import { type ValidationError, validate } from 'class-validator';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
// class-transformer keeps its @Type() metadata here; without it nested classes would not be followed.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: unknown };

export type JsonSchema = Record<string, unknown>;

/**
 * The JSON Schema of a saga's input class, published with its definition, so that a process without the saga's
 * code (a central API) validates starts too. Derived from the class-validator decorators by
 * class-validator-jsonschema; nested classes (`@ValidateNested() @Type(() => X)`) come along in `definitions`.
 * Unknown fields are refused, as the class-validator check refuses them (`forbidNonWhitelisted`).
 */
export function inputSchemaOf(inputClass: new () => unknown): JsonSchema {
  const all = validationMetadatasToSchemas({
    classTransformerMetadataStorage: defaultMetadataStorage as never,
    refPointerPrefix: '#/definitions/',
  }) as Record<string, JsonSchema>;
  const definitions: Record<string, JsonSchema> = {};
  const pending = [inputClass.name];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (definitions[name] || !all[name]) continue;
    definitions[name] = closed(all[name]);
    for (const ref of JSON.stringify(all[name]).matchAll(/"#\/definitions\/([^"]+)"/g)) pending.push(ref[1]);
  }
  const root = definitions[inputClass.name] ?? { type: 'object', additionalProperties: false, properties: {} };
  delete definitions[inputClass.name];
  const schema = { $schema: 'http://json-schema.org/draft-07/schema#', title: inputClass.name, ...root, definitions };
  return openUnknownRefs(schema, new Set(Object.keys(definitions)), inputClass.name) as JsonSchema;
}

/**
 * A property the decorators do not describe as a class (a plain record, `@IsObject()`, a custom validator) comes
 * out as a reference to a class that has no schema (`#/definitions/Object`): it accepts any value there, as
 * the schema cannot say more. The input class, which the saga's agents have, still checks it exactly.
 */
function openUnknownRefs(node: unknown, known: Set<string>, root: string): unknown {
  if (Array.isArray(node)) return node.map((child) => openUnknownRefs(child, known, root));
  if (typeof node !== 'object' || node === null) return node;
  const ref = (node as { $ref?: unknown }).$ref;
  if (typeof ref === 'string' && ref.startsWith('#/definitions/')) {
    const name = ref.slice('#/definitions/'.length);
    if (name === root) return { $ref: '#' };
    if (!known.has(name)) return {};
  }
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, openUnknownRefs(value, known, root)]));
}

/** Objects of the input admit only the properties their class declares. */
function closed(schema: JsonSchema): JsonSchema {
  return schema.type === 'object' || schema.properties ? { ...schema, additionalProperties: false } : schema;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

/**
 * Messages that name each field that does not fit the input (`input.pickup.lat must be number`): with the input
 * class when this process has the saga's code (exactly what the step code expects), else with the published
 * JSON Schema. Unknown fields are refused and nothing is converted implicitly ("100" is not a number).
 */
export async function validateSagaInput(
  source: { inputClass: (new () => unknown) | null } | { inputSchema: JsonSchema | null },
  input: Record<string, unknown>,
): Promise<string[]> {
  if ('inputClass' in source) {
    if (!source.inputClass) return [];
    const instance = plainToInstance(source.inputClass as new () => object, input, {
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
  if (!source.inputSchema) return [];
  let check = compiled.get(source.inputSchema);
  if (!check) {
    check = ajv.compile(source.inputSchema);
    compiled.set(source.inputSchema, check);
  }
  return check(input) ? [] : (check.errors ?? []).map(describeSchemaError);
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

/** `input.pickup.lat must be number`; never the value (it may be a secret). */
function describeSchemaError(error: ErrorObject): string {
  const path = `input${error.instancePath.replace(/\/([^/]+)/g, (_, segment: string) => `.${segment.replace(/~1/g, '/').replace(/~0/g, '~')}`)}`;
  switch (error.keyword) {
    case 'required':
      return `${path}.${String((error.params as { missingProperty: string }).missingProperty)} is required`;
    case 'additionalProperties':
      return `${path}.${String((error.params as { additionalProperty: string }).additionalProperty)} should not exist`;
    default:
      return `${path} ${error.message ?? 'is invalid'}`;
  }
}
