// Checks the relative links of the documentation: README.md, CHANGELOG.md and docs/**/*.md.
//
//   node scripts/check-doc-links.mjs
//
// For every Markdown link (`[text](target)`, `![alt](target)`, `[id]: target`) and every `<a href>` / `<img src>`
// outside code, it fails when the target file does not exist, when a `#anchor` matches no heading of the target
// Markdown file (GitHub's slugs), or when the target lies outside the repository (a `../` that climbs above the
// root, an absolute path, a `file:` URL). Web links (http, https) and mailto: are not checked.
// Exit status 0 when every link resolves; 1 with one line per broken link (`file:line: target: why`) otherwise.
// Plain Node, no dependencies: it runs before `npm ci` too.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The files to check, relative to the root: README.md, CHANGELOG.md and every .md under docs/. */
function documents() {
  const files = ['README.md', 'CHANGELOG.md'].filter((f) => existsSync(join(ROOT, f)));
  const walk = (dir) => {
    for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.md')) files.push(path);
    }
  };
  if (existsSync(join(ROOT, 'docs'))) walk('docs');
  return files;
}

/**
 * A Markdown file, line by line: `raw` as written, `code` true for lines inside fenced code blocks or HTML
 * comments, and `prose` with everything that is not prose blanked out (those lines, and inline code spans), so
 * that a link inside code is not a link. Line numbers are kept.
 */
function scan(text) {
  const raw = text.split(/\r?\n/);
  const code = [];
  const prose = [];
  let fence = null; // the opening fence (``` or ~~~ run) while inside a code block
  let inComment = false;
  for (const line of raw) {
    if (fence) {
      const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(line);
      if (close && close[1][0] === fence[0] && close[1].length >= fence.length) fence = null;
      code.push(true);
      prose.push('');
      continue;
    }
    const open = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (open) {
      fence = open[1];
      code.push(true);
      prose.push('');
      continue;
    }
    let text = line;
    if (inComment) {
      const end = text.indexOf('-->');
      if (end < 0) {
        code.push(true);
        prose.push('');
        continue;
      }
      text = ' '.repeat(end + 3) + text.slice(end + 3);
      inComment = false;
    }
    text = text.replace(/<!--.*?-->/g, (m) => ' '.repeat(m.length));
    const start = text.indexOf('<!--');
    if (start >= 0) {
      text = text.slice(0, start);
      inComment = true;
    }
    // Inline code: a run of backticks up to the same run.
    text = text.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, (m) => ' '.repeat(m.length));
    code.push(false);
    prose.push(text);
  }
  return { raw, code, prose };
}

/** GitHub's anchor for a heading: lowercase, punctuation dropped (but `-` and `_`), spaces to `-`. */
export function slug(heading) {
  return heading
    .replace(/<[^>]*>/g, '') // inline HTML
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/[`*]/g, '') // code and emphasis markers
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors a Markdown file offers: its headings' slugs (repeats get -1, -2, ...) and explicit ids. */
const anchorCache = new Map();
function anchorsOf(file) {
  if (anchorCache.has(file)) return anchorCache.get(file);
  const anchors = new Set();
  const seen = new Map();
  const add = (base) => {
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  };
  const { raw, code, prose } = scan(readFileSync(file, 'utf8'));
  for (let i = 0; i < raw.length; i++) {
    if (code[i]) continue;
    const atx = /^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$/.exec(raw[i]);
    if (atx) add(slug(atx[1] ?? ''));
    else if (
      i > 0 &&
      !code[i - 1] &&
      /^ {0,3}(=+|-+)\s*$/.test(raw[i]) &&
      /\S/.test(raw[i - 1]) &&
      !/^ {0,3}([-*+>]|\d+[.)]|#)/.test(raw[i - 1])
    ) {
      add(slug(raw[i - 1])); // a setext heading: the line before, underlined
    }
    for (const m of prose[i].matchAll(/<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']/gi)) anchors.add(m[1]);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

/** Link targets on one prose line: [text](target), ![alt](target), [id]: target, href="...", src="...". */
function targetsOf(line) {
  const targets = [];
  // After `](`: a <destination> or a destination without spaces (balanced parentheses allowed), then an optional title.
  for (const m of line.matchAll(
    /\]\(\s*(<[^>\n]*>|(?:[^\s()]|\([^\s()]*\))*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g,
  )) {
    targets.push(m[1].replace(/^<|>$/g, ''));
  }
  const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(line);
  if (definition) targets.push(definition[1].replace(/^<|>$/g, ''));
  for (const m of line.matchAll(/<(?:a|img)\s[^>]*?\b(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
    targets.push(m[1] ?? m[2]);
  }
  return targets;
}

/** Why `target`, linked from `file`, is broken; null when it resolves. */
function problem(file, target) {
  if (target === '') return 'empty link';
  if (/^(https?:|mailto:)/i.test(target)) return null;
  if (/^file:/i.test(target)) return 'a file: URL points outside the repository';
  if (/^[a-z][a-z0-9+.-]*:/i.test(target) && !/^[a-z]:[\\/]/i.test(target)) return null; // another scheme: not a file
  const hash = target.indexOf('#');
  let path = hash < 0 ? target : target.slice(0, hash);
  const anchor = hash < 0 ? null : target.slice(hash + 1);
  path = path.replace(/\?.*$/, '');
  try {
    path = decodeURIComponent(path);
  } catch {
    return 'badly encoded path';
  }
  if (path.startsWith('/') || path.startsWith('\\') || isAbsolute(path) || /^[a-z]:[\\/]/i.test(path)) {
    return 'an absolute path: link relative to the file instead';
  }
  const absolute = path === '' ? join(ROOT, file) : resolve(ROOT, dirname(file), path);
  const inRepo = relative(ROOT, absolute);
  if (inRepo === '..' || inRepo.startsWith(`..${sep}`) || isAbsolute(inRepo)) return 'points outside the repository';
  if (!existsSync(absolute)) return `no such file: ${inRepo || '.'}`;
  if (anchor !== null && anchor !== '' && statSync(absolute).isFile() && extname(absolute).toLowerCase() === '.md') {
    let wanted = anchor;
    try {
      wanted = decodeURIComponent(anchor);
    } catch {
      return 'badly encoded anchor';
    }
    if (!anchorsOf(absolute).has(wanted)) {
      return `no heading for #${anchor} in ${relative(ROOT, absolute)}`;
    }
  }
  return null;
}

function main() {
  const broken = [];
  let links = 0;
  const files = documents();
  for (const file of files) {
    const { prose } = scan(readFileSync(join(ROOT, file), 'utf8'));
    prose.forEach((line, i) => {
      for (const target of targetsOf(line)) {
        links++;
        const why = problem(file, target.trim());
        if (why) broken.push(`${file}:${i + 1}: ${target}: ${why}`);
      }
    });
  }
  if (broken.length > 0) {
    console.error(`check-doc-links: ${broken.length} broken link(s):`);
    for (const line of broken) console.error(`  ${line}`);
    process.exit(1);
  }
  console.log(`check-doc-links: ${links} links in ${files.length} files, all resolve.`);
}

main();
