import { PostgresConnection } from 'bullmq';
import { retryFailedPgBootstraps } from './pg-bootstrap-retry';

describe('retryFailedPgBootstraps', () => {
  it("finds BullMQ's PostgresConnection as it expects it (else the fix would be silently lost)", () => {
    expect(retryFailedPgBootstraps()).toBe(true);
    expect(retryFailedPgBootstraps()).toBe(true); // once per process
  });

  it('forgets a failed bootstrap, so that the next query bootstraps again; keeps a good one', async () => {
    retryFailedPgBootstraps();
    // No server is contacted: the pool connects lazily, and bootstrap is replaced on this instance.
    const connection = new PostgresConnection({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    const outcomes = [new Error('the database system is shutting down'), undefined, new Error('never reached')];
    let calls = 0;
    (connection as unknown as { bootstrap(): Promise<void> }).bootstrap = () => {
      const outcome = outcomes[calls++];
      return outcome ? Promise.reject(outcome) : Promise.resolve();
    };
    await expect(connection.waitUntilReady()).rejects.toThrow('shutting down');
    await expect(connection.waitUntilReady()).resolves.toBeUndefined();
    await expect(connection.waitUntilReady()).resolves.toBeUndefined();
    expect(calls).toBe(2);
    await connection.close();
  });
});
