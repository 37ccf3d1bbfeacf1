import type { SagaDefinition } from '@saga-engine/sdk';
import type { DroneDeliveryParticipants } from './drone-delivery.participants';
import { droneDeliverySaga } from './drone-delivery.saga';

export * from './drone-delivery.input';
export * from './drone-delivery.participants';
export { droneDeliverySaga } from './drone-delivery.saga';

/** Every saga this deployment runs. Add yours here; the apps wire the participants. */
export function allSagas(participants: { droneDelivery: DroneDeliveryParticipants }): SagaDefinition[] {
  return [droneDeliverySaga(participants.droneDelivery)];
}
