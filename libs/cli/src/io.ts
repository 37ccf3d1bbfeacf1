import type { HttpSagaClientOptions, SagaTransport } from '@saga-engine/client';

/**
 * Everything `run` touches outside itself, so that tests call it in-process with their own writers, environment
 * and transport, and `main.ts` passes the process's.
 */
export interface CliIo {
  /** Results: the table or summary, or the JSON document (JSON lines for `events --follow --json`). */
  stdout(text: string): void;
  /** Errors, hints, `--verbose` notes. Never the API key. */
  stderr(text: string): void;
  /** `SAGA_URL`, `SAGA_API_KEY`, `NO_COLOR`. */
  env: Readonly<Record<string, string | undefined>>;
  /** Where `--key-file`, `--input-file` and `./.saga-data/admin.key` are looked for. */
  cwd: string;
  /** stdout is a terminal: statuses in colour (unless `NO_COLOR`), long JSON cut to the line. */
  isTTY: boolean;
  /** All of stdin, for `--input -`. */
  readStdin(): Promise<string>;
  /** Aborts on Ctrl-C: a wait or a follow stops and `run` returns 130. */
  signal?: AbortSignal;
  /** How to reach the engine. Default: `new HttpSagaTransport(options)`; tests pass an in-memory transport. */
  connect?(options: HttpSagaClientOptions): SagaTransport;
}
