import { Inject, Injectable } from '@nestjs/common';
import { type SagaDefinition, type SagaSpec, specFromJson } from '@saga-engine/core';
import { DefinitionStore } from '../store/definition-store';
import { SAGA_DEFINITIONS } from '../module/tokens';

/**
 * No process registers this version of a saga type (in code, or published in PostgreSQL), or no live agent runs
 * it: its sagas cannot move until its code is deployed again. The API answers it with 409 `VERSION_UNAVAILABLE`.
 */
export class VersionUnavailableError extends Error {
  override readonly name = 'VersionUnavailableError' as const;
  readonly code = 'VERSION_UNAVAILABLE' as const;
  constructor(
    readonly type: string,
    readonly version: number,
    why = 'no process registers it',
  ) {
    super(
      `saga "${type}" version ${version} is unavailable: ${why}. Deploy that version's code again (keep old ` +
        `versions registered until their sagas finish: GET /v1/saga-versions shows which are in use), or cancel ` +
        `the saga`,
    );
  }
}

/** A version as this process knows it: its spec, and where it came from. */
export interface KnownVersion {
  spec: SagaSpec;
  /** The code of this process, or null: only published (another process has the code). */
  code: SagaDefinition | null;
  /** JSON Schema of the input, when it came from PostgreSQL (the code's input class validates otherwise). */
  inputSchema: Record<string, unknown> | null;
}

/** How long the list of published definitions is trusted before it is read again (for `latest` and `all`). */
const LIST_TTL_MS = 5_000;

/**
 * Every saga type and version the engine can drive, by type and version. An instance runs to its end on the
 * version it started with; new instances get the newest.
 *
 * Two sources: the definitions of this process (its code: what its agent can run), and the ones other processes
 * published in PostgreSQL (data: enough to start, steer and show instances, see DefinitionPublisher). So a central
 * API and supervisor need none of the services' code. Specs never change once published (a changed shape needs a
 * new version), so they are cached for good; the list of versions is re-read every few seconds.
 */
@Injectable()
export class SagaRegistry {
  private readonly local = new Map<string, SagaDefinition>();
  private readonly published = new Map<string, KnownVersion>();
  private listedAt = 0;
  private listing: Promise<void> | null = null;

  constructor(
    @Inject(SAGA_DEFINITIONS) definitions: readonly SagaDefinition[],
    private readonly store: DefinitionStore,
  ) {
    for (const def of definitions) {
      const id = versionId(def.name, def.version);
      if (this.local.has(id)) throw new Error(`saga "${def.name}" version ${def.version} is registered twice`);
      this.local.set(id, def);
    }
  }

  /** The definitions this process has the code of, newest version last within a type. */
  codeDefinitions(): SagaDefinition[] {
    return [...this.local.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  }

  /** This process's code for a version, or undefined (an agent runs only what it has the code of). */
  code(type: string, version: number): SagaDefinition | undefined {
    return this.local.get(versionId(type, version));
  }

  /** The spec of a version, from the code of this process or from PostgreSQL. */
  async spec(type: string, version: number): Promise<SagaSpec> {
    return (await this.version(type, version)).spec;
  }

  /** A version with where it came from. Throws VersionUnavailableError when nobody registers it. */
  async version(type: string, version: number): Promise<KnownVersion> {
    const id = versionId(type, version);
    const code = this.local.get(id);
    if (code) return { spec: code, code, inputSchema: null };
    const cached = this.published.get(id);
    if (cached) return cached;
    const row = await this.store.find(type, version);
    if (!row) throw new VersionUnavailableError(type, version);
    return this.remember(row.spec, row.inputSchema);
  }

  /** The newest version of a type (for new instances), or undefined when the type is unknown. */
  async latest(type: string): Promise<KnownVersion | undefined> {
    await this.refresh(false);
    let newest = this.newest(type);
    if (!newest) {
      // Unknown here: maybe published a moment ago.
      await this.refresh(true);
      newest = this.newest(type);
    }
    return newest;
  }

  /** The newest version of every type, sorted by name. */
  async all(): Promise<KnownVersion[]> {
    await this.refresh(false);
    const types = new Set([...this.local.values()].map((d) => d.name));
    for (const known of this.published.values()) types.add(known.spec.name);
    return [...types].sort().map((type) => this.newest(type)!);
  }

  /** Every version of a type this engine knows (code and published), oldest first. */
  async versions(type: string): Promise<KnownVersion[]> {
    await this.refresh(false);
    const found = new Map<number, KnownVersion>();
    for (const known of this.published.values()) if (known.spec.name === type) found.set(known.spec.version, known);
    for (const def of this.local.values()) {
      if (def.name === type) found.set(def.version, { spec: def, code: def, inputSchema: null });
    }
    return [...found.values()].sort((a, b) => a.spec.version - b.spec.version);
  }

  private newest(type: string): KnownVersion | undefined {
    let best: KnownVersion | undefined;
    for (const known of this.published.values()) {
      if (known.spec.name === type && (!best || known.spec.version > best.spec.version)) best = known;
    }
    for (const def of this.local.values()) {
      if (def.name === type && (!best || def.version >= best.spec.version)) {
        best = { spec: def, code: def, inputSchema: null };
      }
    }
    return best;
  }

  private remember(json: Parameters<typeof specFromJson>[0], inputSchema: Record<string, unknown> | null) {
    const known: KnownVersion = { spec: specFromJson(json), code: null, inputSchema };
    this.published.set(versionId(json.name, json.version), known);
    return known;
  }

  /** Reads the published list when it is older than LIST_TTL_MS (or at once when `force`); one read at a time. */
  private async refresh(force: boolean): Promise<void> {
    if (!force && Date.now() - this.listedAt < LIST_TTL_MS) return;
    this.listing ??= (async () => {
      try {
        for (const row of await this.store.list()) {
          const id = versionId(row.type, row.version);
          const cached = this.published.get(id);
          // A version replaced while no instance ran on it (see DefinitionStore.publish): take the new shape.
          if (!cached || cached.inputSchema !== row.inputSchema) this.remember(row.spec, row.inputSchema);
        }
        this.listedAt = Date.now();
      } finally {
        this.listing = null;
      }
    })();
    await this.listing;
  }
}

function versionId(type: string, version: number): string {
  return `${type}@${version}`;
}
