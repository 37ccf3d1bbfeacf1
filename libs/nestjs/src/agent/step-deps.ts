import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { SagaDefinition } from '@saga-engine/core';
import { SagaRegistry } from '../scheduler/saga-registry';

/**
 * What each saga's handlers get as `deps` (see `SagaOptions.deps`): the app's providers, found by Nest's DI from
 * the tokens the saga declares, once at start. A token that no module provides stops the start with a message
 * that names the saga, the dep and the token: better than a step failing at 3 a.m.
 */
@Injectable()
export class StepDeps implements OnModuleInit {
  private readonly logger = new Logger('Agent');
  private readonly resolved = new Map<SagaDefinition, Readonly<Record<string, unknown>>>();

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly registry: SagaRegistry,
  ) {}

  onModuleInit(): void {
    for (const def of this.registry.codeDefinitions()) {
      const deps: Record<string, unknown> = {};
      for (const [name, declared] of Object.entries(def.deps)) {
        const token = isDepToken(declared) ? declared.token : declared;
        try {
          deps[name] = this.moduleRef.get(token as string, { strict: false });
        } catch (error) {
          throw new Error(
            `saga "${def.name}" (version ${def.version}) needs deps.${name} = ${describeToken(token)}, but no ` +
              `provider of the app gives it: add it to the providers of a module your AppModule imports ` +
              `(${(error as Error).message})`,
            { cause: error },
          );
        }
      }
      this.resolved.set(def, Object.freeze(deps));
    }
    const count = [...this.resolved.values()].reduce((n, d) => n + Object.keys(d).length, 0);
    if (count > 0) this.logger.debug(`resolved ${count} saga dependencies from the app's providers`);
  }

  /** The resolved deps of one of this process's definitions. */
  of(def: SagaDefinition): Readonly<Record<string, unknown>> {
    const deps = this.resolved.get(def);
    if (!deps) throw new Error(`the deps of saga "${def.name}" version ${def.version} were not resolved`);
    return deps;
  }
}

function isDepToken(value: unknown): value is { kind: 'dep'; token: unknown } {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'dep';
}

function describeToken(token: unknown): string {
  if (typeof token === 'function') return token.name || 'an anonymous class';
  if (typeof token === 'symbol') return token.toString();
  return JSON.stringify(token);
}
