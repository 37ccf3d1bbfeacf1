import { tearDownTestBackends } from './support/test-backends';

export default async function globalTeardown(): Promise<void> {
  // Each test file drops its own database and Redis keys.
  await tearDownTestBackends();
}
