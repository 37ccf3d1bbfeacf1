import { disposeEngine } from '../scripts/support/cluster';
import { tearDownTestBackends } from './support/test-backends';

export default async function globalTeardown(): Promise<void> {
  // Each test file drops its own database and Redis keys; only the snapshot of the built engine is shared.
  disposeEngine();
  await tearDownTestBackends();
}
