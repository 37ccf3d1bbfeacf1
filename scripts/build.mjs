// `npm run build`, and the first step of every `npm start*`: builds what changed, and only that.
//
// - TypeScript: `tsc -b` (project references: libs/* packages, sagas/, apps/*, scripts/), incremental, so an
//   unchanged tree is checked in about a second and a changed file rebuilds its project and those that use it.
// - The dashboard: Vite, only when a file under apps/dashboard is newer than the last build.
//
// One build at a time per tree: two `npm run start:agent` started together would write the same files at once.
// A lock file (its holder's pid inside, so a lock left by a killed build is taken over) makes the second wait,
// then find nothing to do.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = join(root, 'dist', '.build.lock');
const quiet = process.argv.includes('--quiet');
const say = (line) => quiet || process.stderr.write(`${line}\n`);

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

async function acquire() {
  mkdirSync(dirname(lock), { recursive: true });
  let waited = false;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(lock, 'utf8') || 0);
      if (!holder || !alive(holder)) {
        rmSync(lock, { force: true }); // left by a build that was killed
        continue;
      }
      if (!waited) say(`build: waiting for the build of process ${holder}`);
      waited = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

await acquire();
try {
  const started = Date.now();
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-b', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });
  const dashboard = join(root, 'libs', 'nestjs', 'dist', 'dashboard', 'index.html');
  const sources = join(root, 'apps', 'dashboard');
  if (!existsSync(dashboard) || newest(sources) > statSync(dashboard).mtimeMs) {
    say('build: the dashboard (vite)');
    const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
    execFileSync(
      process.execPath,
      [vite, 'build', '--logLevel', 'warn', '--config', join(sources, 'vite.config.mts')],
      {
        stdio: 'inherit',
        cwd: root,
      },
    );
  }
  say(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} finally {
  rmSync(lock, { force: true });
}
