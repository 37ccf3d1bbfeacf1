// The npm registry mirror reachable from our build machines serves only the Linux builds of packages that ship
// native binaries per platform (@swc/core-darwin-arm64 answers 404). A lock file made here therefore lacks the
// other platforms' optional packages, and `npm ci` refuses it ("Missing: ... from lock file").
// This script adds those entries the way a lock made against the full registry records them (optional, with
// their os/cpu), so that `npm ci` accepts the lock and skips them on every platform they are not for.
// Run after any dependency change: `npm install && node scripts/complete-lockfile.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;

const OS = [
  ['darwin', 'darwin'],
  ['win32', 'win32'],
  ['linux', 'linux'],
  ['android', 'android'],
  ['freebsd', 'freebsd'],
  ['openbsd', 'openbsd'],
  ['sunos', 'sunos'],
  ['wasm32', null],
  ['aix', 'aix'],
  ['netbsd', 'netbsd'],
  ['openharmony', 'openharmony'],
];
const CPU = [
  ['arm64', 'arm64'],
  ['aarch64', 'arm64'],
  ['x64', 'x64'],
  ['ia32', 'ia32'],
  ['armv7', 'arm'],
  ['arm-', 'arm'],
  ['-arm', 'arm'],
  ['ppc64', 'ppc64'],
  ['s390x', 's390x'],
  ['riscv64', 'riscv64'],
  ['loong64', 'loong64'],
  ['mips64el', 'mips64el'],
  ['wasm32', 'wasm32'],
];

function platformOf(name) {
  const base = name.split('/').pop();
  const os = OS.find(([token]) => base.includes(token));
  const cpu = CPU.find(([token]) => base.includes(token) || base.endsWith(token.replace('-', '')));
  if (!os) return null;
  const entry = {};
  if (os[1]) entry.os = [os[1]];
  if (cpu) entry.cpu = [cpu[1]];
  if (base.includes('musl')) entry.libc = ['musl'];
  else if (base.includes('gnu') && os[1] === 'linux') entry.libc = ['glibc'];
  return entry;
}

let added = 0;
for (const [location, pkg] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const prefix = location ? `${location}/node_modules/` : 'node_modules/';
    const candidates = [`${prefix}${dep}`, `node_modules/${dep}`];
    if (candidates.some((c) => packages[c])) continue;
    const platform = platformOf(dep);
    if (!platform) continue; // not a per-platform binary: leave it to npm
    packages[`node_modules/${dep}`] = { version: String(version).replace(/^[\^~=]/, ''), optional: true, ...platform };
    added++;
  }
}
const sorted = Object.fromEntries(
  Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
lock.packages = sorted;
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} optional platform entr${added === 1 ? 'y' : 'ies'}`);
