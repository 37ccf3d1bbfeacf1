import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { foldedStacks } from './profile-top';

/** A V8 CPU profile as `--cpu-prof` writes it: a call tree, the node of each sample, the time between samples. */
function profileFile(dir: string): string {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });
  const profile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 3, 5] },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('commit', 'file:///app/libs/nestjs/dist/store/saga-store.js'), children: [4] },
      { id: 4, callFrame: frame('query', 'file:///app/node_modules/pg/lib/client.js') },
      { id: 5, callFrame: frame('(garbage collector)') },
    ],
    samples: [2, 3, 4, 4, 5, 2],
    timeDeltas: [100, 10, 20, 30, 5, 1000],
  };
  const path = join(dir, 'x-agent.1.cpuprofile');
  writeFileSync(path, JSON.stringify(profile));
  return path;
}

describe('profile-top --folded', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'profile-top-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('folds each sample into its stack with where its code lives, sums the time, and leaves idle out', () => {
    const path = profileFile(dir);
    expect(foldedStacks([path, path]).sort()).toEqual([
      '(garbage collector) 10',
      'commit [libs/nestjs] 20',
      'commit [libs/nestjs];query [pg] 100',
    ]);
  });
});
