// `npm run pack:packages`: builds, then packs each published package into dist/packages/*.tgz, the files npm
// would publish (each package's `files`): the compiled JavaScript with its type declarations, and the dashboard in
// @saga-engine/nestjs. Install them in an app with `npm install dist/packages/*.tgz`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGES = ['core', 'sdk', 'client', 'nestjs', 'testing', 'cli'];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'packages');
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet'], { stdio: 'inherit', cwd: root });
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const npm = process.env.npm_execpath;
const [command, prefix] = npm ? [process.execPath, [npm]] : ['npm', []];
for (const name of PACKAGES) {
  execFileSync(command, [...prefix, 'pack', '--silent', '--workspace', `libs/${name}`, '--pack-destination', out], {
    stdio: ['ignore', 'ignore', 'inherit'],
    cwd: root,
  });
}
for (const file of readdirSync(out).sort()) process.stdout.write(`${join('dist', 'packages', file)}\n`);
