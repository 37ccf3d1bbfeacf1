/**
 * `saga`, the command line of the saga engine, as a function: `run(argv, io)` returns the exit code. The bin
 * (`dist/main.js`) calls it with the process's streams; embed it or test it with your own.
 */
export { run } from './run';
export { ExitCode } from './exit-codes';
export type { CliIo } from './io';
export { COMMANDS } from './commands';
export type { CommandContext, CommandSpec, OptionSpec } from './command';
