import type { SagaClient } from '@saga-engine/client';
import type { ExitCode } from './exit-codes';
import type { Style } from './format';
import type { CliIo } from './io';

/** What a command gets to do its work. */
export interface CommandContext {
  io: CliIo;
  /** `--json`: one JSON document on stdout (JSON lines for `events --follow`). */
  json: boolean;
  verbose: boolean;
  style: Style;
  /** The client, made on first use (a command whose flags are wrong never needs a key). */
  client(): SagaClient;
  /** Writes a result to stdout: `json` as one JSON document with `--json`, else `text()`. */
  print(json: unknown, text: () => string): void;
  /** A line on stderr. */
  note(text: string): void;
  /** Resolves with the work, or rejects with InterruptedError on Ctrl-C (the work goes on where it runs). */
  interruptible<T>(work: Promise<T>): Promise<T>;
  /** Sleeps, or rejects with InterruptedError on Ctrl-C. */
  sleep(ms: number): Promise<void>;
}

/** A flag of a command, in commander's syntax (`--reason <text>`, `--status <status...>`, `--wait [timeout]`). */
export interface OptionSpec {
  flags: string;
  description: string;
  /** A usage error names it when it is missing. */
  required?: boolean;
}

/**
 * One command of `saga`: its usage, flags and examples for `--help`, and what it does. Commands are data in one
 * table (`COMMANDS`), so a new API route becomes a new entry: nothing else changes.
 */
export interface CommandSpec {
  /** The name and its arguments, in commander's syntax: `resolve <id> <step>`. */
  usage: string;
  /** One line for `saga --help`. */
  summary: string;
  /** More for `saga <command> --help`: what it calls, what it prints. */
  description?: string;
  options?: readonly OptionSpec[];
  examples: readonly string[];
  /** `args` are the positional arguments in `usage` order; `options` the flags by camelCase name. */
  run(ctx: CommandContext, args: string[], options: Record<string, unknown>): Promise<ExitCode>;
}
