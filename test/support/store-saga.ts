import { type SagaDefinition, initialState, transition } from '@saga-engine/core';
import type { SagaSnapshot, SagaStore } from '../../libs/nestjs/src/store/saga-store';

/** Inserts a new instance as the scheduler's start does (the initial state after `SagaStarted`); returns it. */
export async function insertStarted(
  store: SagaStore,
  definition: SagaDefinition,
  id: string,
  input: unknown = {},
): Promise<SagaSnapshot> {
  const result = transition(definition, initialState(definition, input), { type: 'SagaStarted' });
  const inserted = await store.insert({
    id,
    definition,
    idempotencyKey: null,
    requestHash: 'h',
    state: result.state,
    history: result.history,
    commands: result.commands,
  });
  if (!inserted.inserted) throw new Error(`saga ${id} was not inserted`);
  return inserted.snapshot;
}
