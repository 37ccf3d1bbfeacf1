import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { type SagaDefinition, type SagaSpecJson, toSpecJson } from '@saga-engine/core';
import { DefinitionStore } from '../store/definition-store';
import { classSchemaOf } from './input-schema';
import { SagaRegistry } from './saga-registry';

/**
 * Publishes the saga definitions of this process (its code) to PostgreSQL as data, at start, so that every other
 * process can drive their instances without the code: a central API validates and starts them, a supervisor
 * times them out, the dashboard draws them. A version whose shape changed while instances still run on it stops
 * the start (see DefinitionStore.publish): the author forgot to bump `version`.
 */
@Injectable()
export class DefinitionPublisher implements OnModuleInit {
  private readonly logger = new Logger('SagaRegistry');

  constructor(
    private readonly registry: SagaRegistry,
    private readonly store: DefinitionStore,
  ) {}

  async onModuleInit(): Promise<void> {
    const by = `${hostname()}:${process.pid}`;
    for (const def of this.registry.codeDefinitions()) {
      const spec = withOutputSchemas(toSpecJson(def), def);
      const outcome = await this.store.publish({
        type: def.name,
        version: def.version,
        spec,
        inputSchema: def.inputClass ? classSchemaOf(def.inputClass) : null,
        fingerprint: fingerprint(spec),
        publishedBy: by,
      });
      if (outcome === 'replaced') {
        this.logger.warn(
          `saga "${def.name}" version ${def.version} changed shape; no instance ran on it, so it was replaced ` +
            '(bump `version` when you change steps: instances run on the version they started with)',
        );
      }
    }
  }
}

/**
 * The spec with the JSON Schema of each step's `output` class (`outputSchema`), so that a process without the
 * code (a central API) checks an operator's skip against it as the agents would.
 */
export function withOutputSchemas(spec: SagaSpecJson, def: SagaDefinition): SagaSpecJson {
  return {
    ...spec,
    steps: spec.steps.map((step) => {
      const outputClass = def.stepsByName[step.name]?.outputClass;
      return outputClass ? { ...step, outputSchema: classSchemaOf(outputClass) } : step;
    }),
  };
}

/**
 * What instances in flight depend on: the stages and steps with their policies, not the words shown on the
 * dashboard (descriptions, condition labels), which may change without a new version, nor the output schemas
 * (like the input schema, refreshed on every publish: a changed output class checks what comes next).
 */
export function fingerprint(spec: SagaSpecJson): string {
  const shape = {
    ...spec,
    description: null,
    steps: spec.steps.map((step) => ({ ...step, description: null, whenLabel: null, outputSchema: undefined })),
  };
  return createHash('sha256').update(JSON.stringify(shape)).digest('hex');
}
