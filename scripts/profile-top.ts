/**
 * `node dist/tools/scripts/profile-top.js <dir> [prefix] [top]`: the self time of V8 CPU profiles (`--cpu-prof`,
 * as `BENCH_CPU_PROF=<dir> npm run bench` writes them, named `<label>.<n>.cpuprofile`), summed over the files whose
 * name starts with `prefix` (all by default), as two Markdown tables: the top functions by self time, and self time
 * by where the code lives (a package of node_modules, Node's internals, the engine's own code, GC, idle; native and
 * Node-internal work is charged to the first caller outside Node, e.g. `(native) for pg` for pg's socket writes).
 * A flame graph's information, flattened: what the process spent its CPU on, not who called it.
 *
 * With `--folded`, it prints the same samples as folded stacks instead (`root;caller;callee microseconds`, one line
 * per stack, idle left out), which Brendan Gregg's `flamegraph.pl`, `inferno-flamegraph` and speedscope draw as a
 * flame graph: `profile-top.js <dir> <prefix> --folded | flamegraph.pl --countname us > f1-agent.svg`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package, Node's internals, the engine's libraries, or V8's pseudo-frames. */
function place(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'node (internals)';
  const lib = /\/(libs\/[^/]+|apps\/[^/]+|scripts)\//.exec(url);
  return lib ? lib[1] : url;
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\//, '').replace(/^.*?\/(node_modules\/|libs\/|apps\/|scripts\/)/, '$1');
}

/** A frame of a folded stack: its function and where its code lives (`;` separates frames, so none inside). */
function frameLabel(frame: ProfileNode['callFrame']): string {
  const name = frame.functionName || '(anonymous)';
  const where = place(frame.url, name);
  return (where === name ? name : `${name} [${where}]`).replace(/;/g, ',');
}

/** The node ids whose stack runs through the inspector (the profiler serializing itself when it stops). */
function profilerNodes(profile: Profile, nodes: Map<number, ProfileNode>, parent: Map<number, number>): Set<number> {
  const profiler = new Set<number>();
  for (const n of profile.nodes) {
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      if (nodes.get(id)!.callFrame.url === 'node:inspector') profiler.add(n.id);
    }
  }
  return profiler;
}

function readProfile(path: string) {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  return { profile, nodes, parent, profiler: profilerNodes(profile, nodes, parent) };
}

/** The samples of `files` as folded stacks, microseconds per stack, without idle time and the profiler's own. */
export function foldedStacks(paths: string[]): string[] {
  const stacks = new Map<string, number>();
  for (const path of paths) {
    const { profile, nodes, parent, profiler } = readProfile(path);
    const labels = new Map<number, string>();
    const stackOf = (id: number): string => {
      let label = labels.get(id);
      if (label === undefined) {
        const up = parent.get(id);
        const own = frameLabel(nodes.get(id)!.callFrame);
        // The profile's own root frame is left out: every stack would start with it.
        label = up === undefined ? '' : up === profile.nodes[0].id ? own : `${stackOf(up)};${own}`;
        labels.set(id, label);
      }
      return label;
    };
    profile.samples.forEach((id, i) => {
      if (profiler.has(id) || nodes.get(id)!.callFrame.functionName === '(idle)') return;
      const stack = stackOf(id);
      if (stack) stacks.set(stack, (stacks.get(stack) ?? 0) + (profile.timeDeltas[i] ?? 0));
    });
  }
  return [...stacks].filter(([, us]) => us > 0).map(([stack, us]) => `${stack} ${us}`);
}

function main(): void {
  const args = process.argv.slice(2);
  const folded = args.includes('--folded');
  const [dir, prefix = '', topArg = '25'] = args.filter((a) => a !== '--folded');
  if (!dir) throw new Error('usage: profile-top <dir> [prefix] [top | --folded]');
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile') && f.startsWith(prefix));
  if (files.length === 0) throw new Error(`no ${prefix}*.cpuprofile in ${dir}`);
  if (folded) {
    process.stdout.write(`${foldedStacks(files.map((f) => join(dir, f))).join('\n')}\n`);
    return;
  }
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  let total = 0;
  for (const file of files) {
    // The profiler's own work when it stops (serializing the profile) is not the process's.
    const { profile, nodes, parent, profiler } = readProfile(join(dir, file));
    profile.samples.forEach((id, i) => {
      const us = profile.timeDeltas[i] ?? 0;
      if (profiler.has(id)) return;
      const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
      const name = functionName || '(anonymous)';
      const key = url ? `${name} ${shortUrl(url)}:${lineNumber + 1}` : name;
      byFunction.set(key, (byFunction.get(key) ?? 0) + us);
      let where = place(url, name);
      if (where === '(native)' || where === 'node (internals)') {
        // Native and Node-internal work (socket writes, buffers) is charged to the code that asked for it.
        for (let up = parent.get(id); up !== undefined; up = parent.get(up)) {
          const frame = nodes.get(up)!.callFrame;
          const caller = place(frame.url, frame.functionName);
          if (frame.url && caller !== 'node (internals)') {
            where = `${where} for ${caller}`;
            break;
          }
        }
      }
      byPlace.set(where, (byPlace.get(where) ?? 0) + us);
      total += us;
    });
  }
  const busy = total - (byPlace.get('(idle)') ?? 0);
  const top = Number(topArg);
  const row = (k: string, us: number) =>
    `| ${k.replace(/\|/g, '\\|')} | ${(us / 1000).toFixed(0)} | ${((100 * us) / busy).toFixed(1)} % |`;
  const sorted = (m: Map<string, number>) => [...m].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]);
  const out = [
    `${files.length} profile(s) \`${prefix || '*'}\`: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms not idle.`,
    '',
    '| where | self ms | of busy |',
    '| --- | --- | --- |',
    ...sorted(byPlace)
      .slice(0, 20)
      .map(([k, us]) => row(k, us)),
    '',
    '| function | self ms | of busy |',
    '| --- | --- | --- |',
    ...sorted(byFunction)
      .slice(0, top)
      .map(([k, us]) => row(k, us)),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

if (require.main === module) main();
