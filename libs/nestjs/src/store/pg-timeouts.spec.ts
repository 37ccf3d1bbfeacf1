import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { Pool } from 'pg';
import { FailFastClient, QUERY_READ_TIMEOUT, pgPoolOptions } from './pg-timeouts';

describe('pgPoolOptions', () => {
  it("sets the server's statement_timeout, the client's a second longer, and the connect timeout", () => {
    expect(pgPoolOptions({ statementMs: 5_000, connectMs: 2_000 })).toMatchObject({
      statement_timeout: 5_000,
      query_timeout: 6_000,
      connectionTimeoutMillis: 2_000,
      Client: FailFastClient,
    });
    const off = pgPoolOptions({ statementMs: 0, connectMs: 2_000 });
    expect(off).not.toHaveProperty('statement_timeout');
    expect(off).not.toHaveProperty('query_timeout');
  });
});

/**
 * A "server" that speaks just enough of PostgreSQL's protocol to let a client in (trust authentication), then
 * answers nothing: a hung PostgreSQL.
 */
function hungPostgres(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let started = false;
    socket.on('data', () => {
      if (started) return; // queries: never answered
      started = true;
      // AuthenticationOk, then ReadyForQuery (idle).
      socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0]));
      socket.write(Buffer.from([0x5a, 0, 0, 0, 5, 0x49]));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, sockets })),
  );
}

describe('FailFastClient', () => {
  it('closes a connection whose query timed out, so that the pool never hands it out again', async () => {
    const { server, port, sockets } = await hungPostgres();
    const pool = new Pool({
      host: '127.0.0.1',
      port,
      user: 'u',
      database: 'd',
      max: 1,
      ...pgPoolOptions({ statementMs: 100, connectMs: 1_000 }),
      statement_timeout: undefined, // the fake server does not read startup parameters anyway
    });
    pool.on('error', () => undefined); // as TypeORM's and BullMQ's pools have one
    try {
      const client = await pool.connect();
      await expect(client.query('SELECT 1')).rejects.toThrow(QUERY_READ_TIMEOUT);
      client.release(); // as TypeORM does: without the error
      await new Promise((resolve) => setTimeout(resolve, 50));
      // Its socket is closed, and the pool dropped it.
      expect(sockets.size).toBe(0);
      expect(pool.totalCount).toBe(0);
      // The callback form too (pg-pool's own `pool.query`).
      await expect(pool.query('SELECT 1')).rejects.toThrow(QUERY_READ_TIMEOUT);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(sockets.size).toBe(0);
    } finally {
      await pool.end();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
