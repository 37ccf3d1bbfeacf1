import { prepareEngine } from '../scripts/support/cluster';
import { setUpTestBackends } from './support/test-backends';

/**
 * Settles where the tests run (the real PostgreSQL and Redis, or an embedded PostgreSQL with BullMQ on it where
 * they are missing; see test-backends.ts), failing fast with a hint when a required one is not there; builds
 * dist/ when it is older than the sources.
 */
export default async function globalSetup(): Promise<void> {
  await setUpTestBackends((line) => process.stdout.write(`\n${line}\n`));
  // The recovery and chaos tests run the built engine as real processes, and the packaging tests pack the
  // packages: build what changed, once (see prepareEngine).
  await prepareEngine((line) => process.stdout.write(`\n${line}\n`));
}
