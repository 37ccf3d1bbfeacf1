// A Jest reporter that ends the run with every skipped test: its file and full title, whose "[skipped: ...]"
// (test/support/skip.ts) says why. Nothing is printed when nothing was skipped. Tests left out by `-t` were not
// skipped, and are not listed.
const { relative } = require('node:path');

class SkipReporter {
  constructor(globalConfig) {
    this.globalConfig = globalConfig;
  }

  onRunComplete(_contexts, results) {
    const { rootDir, testNamePattern } = this.globalConfig;
    const chosen = testNamePattern ? new RegExp(testNamePattern, 'i') : undefined;
    const lines = [];
    for (const file of results.testResults) {
      for (const test of file.testResults) {
        if (test.status !== 'pending' && test.status !== 'todo') continue;
        if (chosen && !chosen.test(test.fullName)) continue;
        const title = [...test.ancestorTitles, test.title].join(' › ');
        lines.push(`  ${relative(rootDir, file.testFilePath)} › ${title}${test.status === 'todo' ? ' (todo)' : ''}`);
      }
    }
    if (lines.length === 0) return;
    process.stderr.write(`\nSkipped (${lines.length}):\n${lines.join('\n')}\n`);
  }
}

module.exports = SkipReporter;
