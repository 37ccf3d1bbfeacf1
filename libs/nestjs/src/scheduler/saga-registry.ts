import type { SagaDefinition } from '@saga-engine/core';

/** The definitions this process can run, by type and version. An instance runs on the version it started with. */
export class SagaRegistry {
  private readonly byType = new Map<string, Map<number, SagaDefinition>>();

  constructor(definitions: readonly SagaDefinition[]) {
    for (const def of definitions) {
      const versions = this.byType.get(def.name) ?? new Map<number, SagaDefinition>();
      if (versions.has(def.version)) {
        throw new Error(`Saga "${def.name}" version ${def.version} is registered twice`);
      }
      versions.set(def.version, def);
      this.byType.set(def.name, versions);
    }
  }

  /** The newest version of a type, used to start new instances. */
  latest(type: string): SagaDefinition | undefined {
    const versions = this.byType.get(type);
    if (!versions) return undefined;
    return versions.get(Math.max(...versions.keys()));
  }

  get(type: string, version: number): SagaDefinition {
    const def = this.byType.get(type)?.get(version);
    if (!def) {
      // A running instance whose definition was removed from the code: a deploy mistake an operator must see.
      throw new Error(`Saga "${type}" version ${version} is not registered in this process`);
    }
    return def;
  }

  /** The newest version of every type, sorted by name. */
  all(): SagaDefinition[] {
    return [...this.byType.keys()].sort().map((type) => this.latest(type)!);
  }
}
