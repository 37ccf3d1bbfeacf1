import type { ClientBase } from 'pg';

/**
 * node-postgres's pool listens for the errors of its idle clients only. A client it has handed out has no
 * 'error' listener until its user adds one, and the server's FATAL (a restart or a failover: "terminating
 * connection due to administrator command") reaching that client between two statements, or in the same network
 * read that completed its connect (before the caller's code could run), is an unhandled 'error' event: the
 * process dies. Every pool of the engine (its DataSource, BullMQ's PostgreSQL backend, the demo services) passes
 * this as its `onConnect` hook, so each client listens for its whole life. Nothing is hidden: the failure still
 * reaches whoever uses the client (its next query rejects), and the pool drops a broken client when it is released.
 */
export function listenForClientErrors(client: ClientBase): void {
  client.on('error', ignore);
}

function ignore(): void {
  // The client's next query reports the failure to its user; here it only must not crash the process.
}
