import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, CommanderError } from 'commander';
import { HttpSagaTransport, SagaClient, type HttpSagaClientOptions } from '@saga-engine/client';
import type { CommandContext, CommandSpec } from './command';
import { COMMANDS } from './commands';
import { type Connection, DEFAULT_URL, LOCAL_ADMIN_KEY_FILE, resolveConnection } from './config';
import { InterruptedError, UsageError, exitCodeOf, isApiError } from './errors';
import { ExitCode } from './exit-codes';
import { styleFor } from './format';
import type { CliIo } from './io';
import { duration } from './parse';

const DEFAULT_REQUEST_TIMEOUT = '10s';

/** The global flags, on `saga` itself; accepted before or after the command (`saga get <id> --json`). */
interface GlobalFlags {
  url?: string;
  key?: string;
  keyFile?: string;
  requestTimeout?: string;
  json?: boolean;
  verbose?: boolean;
}

/**
 * Runs `saga` with `argv` (the arguments after the program's name) and returns its exit code (`ExitCode`). Writes
 * only through `io`: `main.ts` passes the process's streams and environment, tests their own.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCode.OK;
  const program = buildProgram(io, (code) => (exitCode = code));
  if (argv.length === 0) {
    io.stderr(program.helpInformation());
    return ExitCode.USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    return report(err, io, program, argv);
  }
}

function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('saga')
    .description(
      'Start, follow and act on sagas of a saga engine, over its REST API. ' +
        `The engine: --url or SAGA_URL (default ${DEFAULT_URL}). The key: --key-file, --key or SAGA_API_KEY, ` +
        `else ./${LOCAL_ADMIN_KEY_FILE} when it exists (where \`npm start\` writes the local admin key).`,
    )
    .version(version(), '-V, --version', 'print the version')
    .helpCommand(false)
    .option('--url <url>', `the engine's base URL (env SAGA_URL; default ${DEFAULT_URL})`)
    .option('--key <key>', 'the API key (env SAGA_API_KEY; prefer it or --key-file: a flag shows in `ps`)')
    .option('--key-file <path>', `read the API key from a file, e.g. ${LOCAL_ADMIN_KEY_FILE}`)
    .option('--request-timeout <duration>', `how long one request may take (default ${DEFAULT_REQUEST_TIMEOUT})`)
    .option('--json', "print JSON for scripts (the API's shapes) instead of tables")
    .option('-v, --verbose', 'say on stderr which engine and which key source it uses')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok; 1 the API refused (4xx, its code is printed); 2 bad usage (nothing sent), or bulk\n' +
        'without --yes (nothing done); 3 the engine unreachable, timed out or 5xx; 4 start --wait: the saga did not\n' +
        'COMPLETE, bulk --wait: the job did not COMPLETE or some sagas failed; 130 Ctrl-C.',
    );
  for (const spec of COMMANDS) addCommand(program, spec, io, setExitCode);
  return program;
}

function addCommand(program: Command, spec: CommandSpec, io: CliIo, setExitCode: (code: number) => void): void {
  const command = program
    .command(spec.usage)
    .summary(spec.summary)
    .description(spec.description ?? spec.summary);
  for (const option of spec.options ?? []) {
    if (option.required) command.requiredOption(option.flags, option.description);
    else command.option(option.flags, option.description);
  }
  command.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  ${e}`).join('\n')}`);
  command.action(async (...params: unknown[]) => {
    const self = params[params.length - 1] as Command;
    const globals = self.optsWithGlobals<GlobalFlags>();
    const ctx = context(io, globals);
    setExitCode(await spec.run(ctx, self.args, self.opts()));
  });
}

function context(io: CliIo, globals: GlobalFlags): CommandContext {
  const json = globals.json === true;
  const verbose = globals.verbose === true;
  const note = (text: string) => io.stderr(`${text}\n`);
  let client: SagaClient | undefined;
  const aborted = () => new InterruptedError('interrupted');
  return {
    io,
    json,
    verbose,
    style: styleFor({ colour: io.isTTY && !io.env.NO_COLOR, cut: io.isTTY }),
    client() {
      client ??= connect(io, globals, verbose ? note : undefined);
      return client;
    },
    print(value, text) {
      io.stdout(`${json ? JSON.stringify(value, null, 2) : text()}\n`);
    },
    note,
    interruptible<T>(work: Promise<T>): Promise<T> {
      const signal = io.signal;
      if (!signal) return work;
      if (signal.aborted) return Promise.reject(aborted());
      return new Promise<T>((resolve, reject) => {
        const onAbort = () => reject(aborted());
        signal.addEventListener('abort', onAbort, { once: true });
        work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    },
    async sleep(ms) {
      try {
        await sleep(ms, undefined, io.signal ? { signal: io.signal } : {});
      } catch (err) {
        if (io.signal?.aborted) throw aborted();
        throw err;
      }
    },
  };
}

/** The client for the flags and environment; a usage error for a URL or key the client refuses. */
function connect(io: CliIo, globals: GlobalFlags, verbose: ((text: string) => void) | undefined): SagaClient {
  const connection: Connection = resolveConnection(globals, io);
  const timeoutMs =
    globals.requestTimeout === undefined
      ? duration(DEFAULT_REQUEST_TIMEOUT, '--request-timeout', { min: 1 })
      : duration(globals.requestTimeout, '--request-timeout', { min: 1 });
  verbose?.(`saga: engine ${connection.url} (from ${connection.urlSource}); API key from ${connection.keySource}`);
  const options: HttpSagaClientOptions = { url: connection.url, apiKey: connection.apiKey, timeoutMs };
  try {
    return new SagaClient(io.connect ? io.connect(options) : new HttpSagaTransport(options));
  } catch (err) {
    const message = (err as Error).message;
    if (message.startsWith('url ')) throw new UsageError(`${connection.urlSource}: the ${message}`);
    if (message.startsWith('apiKey ')) {
      throw new UsageError(`the API key from ${connection.keySource} must be printable ASCII without spaces`);
    }
    throw err;
  }
}

/** Prints what ended the command on stderr, and returns its exit code. */
function report(err: unknown, io: CliIo, program: Command, argv: readonly string[]): number {
  const say = (text: string) => io.stderr(`${text}\n`);
  if (err instanceof CommanderError) {
    // Commander printed its own message (or the help, or the version) already.
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  if (err instanceof UsageError) {
    say(`saga: ${err.message}`);
    const command = program.commands.find((c) => argv.includes(c.name()));
    say(`(run saga ${command ? `${command.name()} ` : ''}--help for usage)`);
  } else if (err instanceof InterruptedError) {
    say('saga: interrupted (the saga goes on)');
  } else if (isApiError(err)) {
    const status = err.status === 0 ? '' : ` (${err.status})`;
    say(`saga: ${err.code}${status}: ${err.message}`);
    const hint = HINTS[err.code];
    if (hint) say(hint);
  } else {
    say(`saga: ${(err as Error)?.message ?? String(err)}`);
  }
  return exitCodeOf(err);
}

const HINTS: Record<string, string> = {
  UNAVAILABLE: 'Is the engine running there? Set the URL with --url or SAGA_URL.',
  AUTH_REQUIRED: 'Check the API key (--key-file, --key or SAGA_API_KEY; -v says which one is used).',
  FORBIDDEN: "The key's role is too low: start, signal, cancel and retry need operator; resolve needs admin.",
};

function version(): string {
  try {
    // dist/run.js and src/run.ts are both one level below the package's package.json.
    return (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
