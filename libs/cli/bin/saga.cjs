#!/usr/bin/env node
// The `saga` bin: runs the compiled CLI (dist/main.js). It is a file of its own, outside dist/, so that npm links
// it in this repository too, where `npm ci` runs before the first build; there it says what to do instead of
// failing with a stack trace (and `npx saga` never falls back to the registry's unrelated `saga` package).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('saga: @saga-engine/cli is not built yet: run `npm run build` first\n');
  process.exit(2);
}
require(main);
