import { allSagas } from '@app/sagas';
import { DemoLedger } from './demo-ledger';
import { inProcessParticipants } from './in-process-participants';

/**
 * The demo participants as the engine's processes run them today: in-process, keeping their state in schema
 * `demo` of the engine's database, until they move out to their own services (issue 4).
 */
export function inProcessDemo(databaseUrl: string) {
  const ledger = new DemoLedger(databaseUrl);
  return { ledger, sagas: allSagas({ droneDelivery: inProcessParticipants(ledger) }) };
}
