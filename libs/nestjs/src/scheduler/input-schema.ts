import type { StepSpec } from '@saga-engine/core';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { plainToInstance } from 'class-transformer';
import { type ValidationError, validate } from 'class-validator';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
// class-transformer keeps its @Type() metadata here; without it nested classes would not be followed.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { defaultMetadataStorage } = require('class-transformer/cjs/storage') as { defaultMetadataStorage: unknown };

export type JsonSchema = Record<string, unknown>;

/** A class-validator class (a saga's `input`, a step's `output`). */
export type ValidatedClass = new () => unknown;

const schemas = new WeakMap<ValidatedClass, JsonSchema>();

/**
 * The JSON Schema of a class-validator class: a saga's input class, or a step's output class, published with its
 * definition so that a process without the saga's code (a central API) validates starts and skips too. Derived
 * from the decorators by class-validator-jsonschema; nested classes (`@ValidateNested() @Type(() => X)`) come
 * along in `definitions`. Unknown fields are refused, as the class-validator check refuses them
 * (`forbidNonWhitelisted`). Computed once per class (decorators do not change once the class is loaded).
 */
export function classSchemaOf(inputClass: ValidatedClass): JsonSchema {
  let schema = schemas.get(inputClass);
  if (!schema) {
    schema = deriveSchema(inputClass);
    schemas.set(inputClass, schema);
  }
  return schema;
}

function deriveSchema(inputClass: ValidatedClass): JsonSchema {
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

/** Objects of the class admit only the properties their class declares. */
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
  source: { inputClass: ValidatedClass | null } | { inputSchema: JsonSchema | null },
  input: Record<string, unknown>,
): Promise<string[]> {
  return 'inputClass' in source
    ? validateValue({ class: source.inputClass }, input, 'input')
    : validateValue({ schema: source.inputSchema }, input, 'input');
}

/**
 * The same check for any value against a class-validator class, or else its published JSON Schema (null: anything
 * goes), each message prefixed with `path` (`output.trackingId must be a string`). A value that is not a JSON
 * object does not fit a class. Cheap to repeat: a schema is compiled once, a class needs no compiling.
 */
export async function validateValue(
  source: { class: ValidatedClass | null } | { schema: JsonSchema | null },
  value: unknown,
  path: string,
): Promise<string[]> {
  if ('class' in source) {
    if (!source.class) return [];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return [`${path} must be an object (${source.class.name})`];
    }
    const instance = plainToInstance(source.class as new () => object, value, {
      enableImplicitConversion: false,
    });
    const errors = await validate(instance, {
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      validationError: { target: false, value: false },
    });
    return flatten(errors, path);
  }
  if (!source.schema) return [];
  let check = compiled.get(source.schema);
  if (!check) {
    check = ajv.compile(source.schema);
    compiled.set(source.schema, check);
  }
  return check(value) ? [] : (check.errors ?? []).map((error) => describeSchemaError(error, path));
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
function describeSchemaError(error: ErrorObject, prefix: string): string {
  const path = `${prefix}${error.instancePath.replace(/\/([^/]+)/g, (_, segment: string) => `.${segment.replace(/~1/g, '/').replace(/~0/g, '~')}`)}`;
  switch (error.keyword) {
    case 'required':
      return `${path}.${String((error.params as { missingProperty: string }).missingProperty)} is required`;
    case 'additionalProperties':
      return `${path}.${String((error.params as { additionalProperty: string }).additionalProperty)} should not exist`;
    default:
      return `${path} ${error.message ?? 'is invalid'}`;
  }
}

/** At most this many problems are named in one answer (a 1,000-item list could have 1,000). */
const MAX_PROBLEMS = 10;

/**
 * What does not fit a step's declared output type (`output.trackingId must be a string`), or [] when it fits or
 * the step declares none: by its `output` class when this process has the code (`outputClass`), else by the JSON
 * Schema its agents published (`outputSchema`). A fan-out's class is each item's: its output is then a list whose
 * items are checked one by one (`output[2].trackingId ...`); `item` checks one item's output alone.
 */
export async function validateStepOutput(
  step: StepSpec & { outputClass?: ValidatedClass | null },
  value: unknown,
  options: { path?: string; item?: boolean } = {},
): Promise<string[]> {
  const path = options.path ?? 'output';
  const source = step.outputClass
    ? { class: step.outputClass }
    : step.outputSchema
      ? { schema: step.outputSchema }
      : null;
  if (!source) return [];
  if (!step.fanOut || options.item) return validateValue(source, value, path);
  if (!Array.isArray(value)) return [`${path} must be an array (the output of each item)`];
  const problems: string[] = [];
  for (let index = 0; index < value.length && problems.length < MAX_PROBLEMS; index++) {
    problems.push(...(await validateValue(source, value[index], `${path}[${index}]`)));
  }
  return problems.slice(0, MAX_PROBLEMS);
}
