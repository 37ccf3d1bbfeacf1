import type { JsonSchema } from '../api';

/**
 * A JSON value shaped like `schema`, for an operator to fill in: every property of an object (required or not),
 * `""` for a string, `0` for a number, `false` for a boolean, `[]` for a list, the first value of an enum, null for
 * anything the schema does not say. Nested classes are followed through `#/definitions/...` (a few levels deep).
 */
export function jsonSkeleton(schema: JsonSchema, root: JsonSchema = schema, depth = 0): unknown {
  if (depth > 6) return null;
  const ref = typeof schema.$ref === 'string' ? schema.$ref : null;
  if (ref !== null) {
    if (ref === '#') return jsonSkeleton(root, root, depth + 1);
    const name = ref.startsWith('#/definitions/') ? ref.slice('#/definitions/'.length) : null;
    const target = name ? (root.definitions as Record<string, JsonSchema> | undefined)?.[name] : undefined;
    return target ? jsonSkeleton(target, root, depth + 1) : null;
  }
  if (schema.enum && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  if (type === 'object' || schema.properties) {
    return Object.fromEntries(
      Object.entries(schema.properties ?? {}).map(([key, value]) => [key, jsonSkeleton(value, root, depth + 1)]),
    );
  }
  if (type === 'string') return '';
  if (type === 'number' || type === 'integer') return 0;
  if (type === 'boolean') return false;
  if (type === 'array') return [];
  return null;
}

/** The skip dialog's starting text for a step's output: its skeleton, a list of one for a fan-out; '' without one. */
export function outputSkeletonText(step: { outputSchema?: JsonSchema | null; fanOut?: unknown }): string {
  if (!step.outputSchema) return '';
  const one = jsonSkeleton(step.outputSchema);
  return JSON.stringify(step.fanOut ? [one] : one, null, 2);
}
