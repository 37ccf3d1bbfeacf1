import type { Pool, PoolClient } from 'pg';

/**
 * Runs `work` in a transaction on a client of `pool`. While the client is checked out, the pool does not listen
 * for its errors: a server that goes away (a restart: "terminating connection due to administrator command")
 * between two statements would emit an unhandled 'error' and kill the process. So we listen, and a client that
 * failed is destroyed rather than handed out again.
 */
export async function inTransaction<T>(pool: Pool, work: (tx: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError); // listenForClientErrors covers the instant before this line
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken ??= rollbackError; // the connection is unusable: the pool must not hand it out again
    });
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
