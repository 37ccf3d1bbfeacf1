// `npm run dev`: the all-in-one engine (what `npm start` runs), restarted whenever its code changes: edit a saga
// (sagas/*.ts) or the engine, save, and the new code runs a second or two later.
//
// - A saved file is transpiled alone (SWC, no type check, milliseconds) into the place `tsc -b` writes it, and the
//   engine restarts; `tsc -b` then checks the types in the background and prints any error.
// - The embedded PostgreSQL (when DATABASE_URL is unset) is started once, here, and outlives the restarts: each
//   engine process finds it running and shares it, so a restart does not wait for a database to boot.
// - A restart stops the engine as SIGTERM does, with a short grace for running steps (DEV_GRACE_MS, 1 s), and
//   kills it if it has not exited after 3 s. Sagas in flight continue in the next process (that is the engine's
//   promise: a step cut short is retried).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, watch, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const say = (line) => process.stderr.write(`dev: ${line}\n`);
const graceMs = process.env.DEV_GRACE_MS ?? '1000';

await run(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet']);

let embedded = null;
if (!process.env.DATABASE_URL) {
  const { startEmbeddedPostgres } = require('@saga-engine/nestjs');
  embedded = await startEmbeddedPostgres({ dir: join(root, '.saga-data'), log: say });
}

// Where tsc -b puts each project's output; the dev loop writes the same files, one changed file at a time.
const projects = [
  ...['core', 'sdk', 'client', 'nestjs', 'testing'].map((lib) => [`libs/${lib}/src/`, `libs/${lib}/dist/`]),
  ...['orchestrator', 'agent', 'demo-services'].map((app) => [`apps/${app}/src/`, `dist/apps/${app}/`]),
  ['sagas/', 'sagas/dist/'],
];
const { transformFile } = require('@swc/core');
const swcOptions = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'commonjs' },
  sourceMaps: true,
};

/** The output of a source file, or null when it is not built (a test, a file outside the projects). */
function outputOf(file) {
  if (!file.endsWith('.ts') || file.endsWith('.spec.ts') || file.endsWith('.d.ts') || file.includes('/testing/')) {
    return null;
  }
  const project = projects.find(([src]) => file.startsWith(src));
  if (!project || file.startsWith(`${project[0]}dist/`)) return null;
  return join(root, project[1], file.slice(project[0].length).replace(/\.ts$/, '.js'));
}

// A save: the changed files are transpiled at once (SWC, no type check: milliseconds) and the engine restarts;
// `tsc -b` then checks the types (and writes the declarations) behind it, and reports errors without blocking.
const changed = new Set();
let debounce = null;
let checking = null;
let checkAgain = false;
// One watcher per source directory: editors that save by writing a new file and renaming it over the old one (vim,
// sed -i) are seen too, which a recursive watch loses track of after the first rename on Linux.
for (const dir of sourceDirs()) {
  watch(join(root, dir), (_, name) => {
    if (!name) return;
    const file = `${dir}/${name}`;
    if (!outputOf(file)) return;
    changed.add(file);
    clearTimeout(debounce);
    debounce = setTimeout(flush, 50);
  });
}

function sourceDirs() {
  const dirs = [];
  const walk = (dir) => {
    dirs.push(dir);
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.isDirectory() && !['dist', 'node_modules', 'testing'].includes(entry.name))
        walk(`${dir}/${entry.name}`);
    }
  };
  for (const [src] of projects) {
    const dir = src.replace(/\/$/, '');
    if (existsSync(join(root, dir))) dir === 'sagas' ? dirs.push(dir) : walk(dir);
  }
  return dirs;
}

async function flush() {
  const files = [...changed];
  changed.clear();
  try {
    for (const file of files) {
      const out = outputOf(file);
      const { code, map } = await transformFile(join(root, file), { ...swcOptions, sourceFileName: join(root, file) });
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, `${code}\n//# sourceMappingURL=${basename(out)}.map\n`);
      if (map) writeFileSync(`${out}.map`, map);
    }
  } catch (error) {
    say(`not restarted: ${error.message}`);
    return;
  }
  restart(`${files.join(', ')} changed`);
  // After the engine is up again: on a small machine, a type check beside its start would slow the start.
  clearTimeout(checkTimer);
  checkTimer = setTimeout(typeCheck, 4000);
}
let checkTimer = null;

function typeCheck() {
  if (checking) {
    checkAgain = true;
    return;
  }
  checking = new Promise((resolve) => {
    const tsc = spawn(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    try {
      setPriority(tsc.pid, 19); // behind the engine and the editor
    } catch {
      // not allowed here: it runs at normal priority
    }
    tsc.stdout.on('data', (chunk) => (output += chunk));
    tsc.stderr.on('data', (chunk) => (output += chunk));
    tsc.once('exit', (code) => {
      if (code === 0) say('types checked: no errors');
      else process.stderr.write(`${output}dev: the types have errors (above); the engine runs the code as saved\n`);
      resolve();
    });
  }).then(() => {
    checking = null;
    if (checkAgain) {
      checkAgain = false;
      typeCheck();
    }
  });
}

let engine = null;
let stopping = null;
start();

function start() {
  engine = spawn(process.execPath, ['--enable-source-maps', join(root, 'dist/apps/demo-services/main.js'), '--all'], {
    cwd: root,
    stdio: 'inherit',
    env: { SHUTDOWN_GRACE_MS: graceMs, ...process.env },
  });
  const child = engine;
  child.once('exit', (code, signal) => {
    if (engine === child && !stopping) say(`the engine exited (${signal ?? code}); it restarts on the next change`);
  });
}

async function stop() {
  const child = engine;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function restart(why) {
  if (stopping) return;
  const began = Date.now();
  say(`${why}: restarting the engine`);
  stopping = stop().then(() => {
    stopping = null;
    start();
    say(`restarted (${Date.now() - began} ms to stop the old one)`);
  });
}

async function shutdown() {
  await stopping;
  await stop();
  await embedded?.stop();
  process.exit(0);
}
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);

function run(command, args) {
  return new Promise((resolve, reject) => {
    spawn(command, args, { cwd: root, stdio: 'inherit' }).once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${args.join(' ')} exited with ${code}`)),
    );
  });
}
