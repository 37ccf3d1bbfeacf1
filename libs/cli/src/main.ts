import { run } from './run';

/*
 * The `saga` bin: `run` with this process's arguments, streams and environment; the exit code is `run`'s.
 */

const interrupt = new AbortController();
process.once('SIGINT', () => {
  interrupt.abort();
  // A request still in flight would keep the process up to its timeout: leave soon regardless.
  setTimeout(() => process.exit(130), 1_000).unref();
});
// `saga list | head -1` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

void run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
  isTTY: process.stdout.isTTY === true,
  readStdin: async () => {
    if (process.stdin.isTTY) process.stderr.write('saga: reading JSON from stdin (end it with Ctrl-D)\n');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  signal: interrupt.signal,
}).then((code) => {
  process.exitCode = code;
});
