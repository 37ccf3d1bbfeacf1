import type { INestApplication } from '@nestjs/common';

/** A port taken by another program, named with the variable that sets it. */
export class PortTakenError extends Error {
  override readonly name = 'PortTakenError' as const;
}

/**
 * `app.listen`, with the error a person can act on when the port is taken: it names the port and the variable that
 * sets it (`PORT`, ...), instead of EADDRINUSE.
 */
export async function listenOn(app: INestApplication, port: number, host: string, variable: string): Promise<string> {
  try {
    await app.listen(port, host);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new PortTakenError(`port ${port} (${variable}) is taken by another program: set ${variable} to a free one`);
    }
    throw error;
  }
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}

/** For a process entry point: the message of a failed start, on standard error, and exit 1. */
export function exitOnStartFailure(what: string): (error: unknown) => never {
  return (error: unknown) => {
    console.error(`${what} failed to start: ${(error as Error)?.message ?? String(error)}`);
    process.exit(1);
  };
}
