// Codemod: rewrites relative imports that climb two levels or more (`../../server/x`) into the
// project-root alias (`@/server/x`) in .ts and .tsx files. One-level `../` and `./` imports stay:
// they are the file's neighbours, and read better short.
//
//   node scripts/alias-imports.mjs [--dry-run] [path ...]    (paths default to the whole project)
//
// Specifiers are found with swc's parser, not a regex, so a string that merely looks like an
// import (a test fixture's source text, a comment) is left alone. Covered: import/export … from,
// side-effect imports, import(), `import x = require()`, type-position import('…'), require()
// and vitest's vi.mock / vi.doMock / vi.importActual / vi.importMock / vi.unmock.
import { parseSync } from '@swc/core';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', '.aether', 'coverage', 'test-results']);
// Sample apps the tests pack and deploy: their imports belong to them, not to this project.
const SKIP_PATHS = [path.join(root, 'tests', 'fixtures')];
const CLIMBS_TWO = /^\.\.\/\.\.(\/|$)/;
const VI_CALLS = new Set(['mock', 'doMock', 'unmock', 'importActual', 'importMock']);

function* sourceFiles(target) {
  const stat = statSync(target);
  if (stat.isFile()) {
    if (/\.tsx?$/.test(target) && !target.endsWith('.d.ts')) yield target;
    return;
  }
  if (SKIP_PATHS.includes(target)) return;
  for (const entry of readdirSync(target, { withFileTypes: true })) {
    if (entry.isSymbolicLink() || SKIP_DIRS.has(entry.name) || entry.name.startsWith('.next')) continue;
    yield* sourceFiles(path.join(target, entry.name));
  }
}

/** The string literals in `node` that name a module, whatever syntax names it. */
function* specifierNodes(node) {
  if (Array.isArray(node)) {
    for (const item of node) yield* specifierNodes(item);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const firstArg = () => (node.arguments?.[0]?.expression?.type === 'StringLiteral' ? node.arguments[0].expression : null);
  switch (node.type) {
    case 'ImportDeclaration':
    case 'ExportNamedDeclaration':
    case 'ExportAllDeclaration':
      if (node.source) yield node.source;
      break;
    case 'TsImportType':
      if (node.argument?.type === 'StringLiteral') yield node.argument;
      break;
    case 'TsExternalModuleReference':
      if (node.expression?.type === 'StringLiteral') yield node.expression;
      break;
    case 'CallExpression': {
      const { callee } = node;
      const isImport = callee.type === 'Import';
      const isRequire = callee.type === 'Identifier' && callee.value === 'require';
      const isVi =
        callee.type === 'MemberExpression' &&
        callee.object.type === 'Identifier' &&
        callee.object.value === 'vi' &&
        callee.property.type === 'Identifier' &&
        VI_CALLS.has(callee.property.value);
      const arg = isImport || isRequire || isVi ? firstArg() : null;
      if (arg) yield arg;
      break;
    }
  }
  for (const [key, value] of Object.entries(node)) {
    if (key !== 'span' && value && typeof value === 'object') yield* specifierNodes(value);
  }
}

/** The aliased form of `specifier` seen from `file`, or null when it should stay as it is. */
export function aliasFor(file, specifier) {
  if (!CLIMBS_TWO.test(specifier)) return null;
  const target = path.resolve(path.dirname(file), specifier);
  const rel = path.relative(root, target);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return null;
  if (rel.split(path.sep).includes('node_modules')) return null;
  return `@/${rel.split(path.sep).join('/')}`;
}

/** `text` with every climbing specifier aliased, and how many were. */
export function rewrite(file, text) {
  // A leading `;` pins the parse's first byte position: swc's spans count UTF-8 bytes from a base
  // that is not always 0, and the empty statement sits exactly at that base.
  const ast = parseSync(`;${text}`, { syntax: 'typescript', tsx: file.endsWith('.tsx'), decorators: true });
  const base = ast.span.start + 1;
  const bytes = Buffer.from(text, 'utf8');
  const edits = [];
  for (const lit of specifierNodes(ast.body)) {
    const alias = aliasFor(file, lit.value);
    if (!alias) continue;
    // The span includes the quotes; keep them as written.
    edits.push({ start: lit.span.start - base + 1, end: lit.span.end - base - 1, alias, was: lit.value });
  }
  if (edits.length === 0) return { text, count: 0 };
  edits.sort((a, b) => a.start - b.start);
  const parts = [];
  let at = 0;
  for (const e of edits) {
    const original = bytes.subarray(e.start, e.end).toString('utf8');
    // The bytes under the span must be the specifier itself, or the offsets are off: refuse.
    if (original !== e.was) throw new Error(`${path.relative(root, file)}: span mismatch at ${e.start} (${original} vs ${e.was})`);
    parts.push(bytes.subarray(at, e.start), Buffer.from(e.alias, 'utf8'));
    at = e.end;
  }
  parts.push(bytes.subarray(at));
  return { text: Buffer.concat(parts).toString('utf8'), count: edits.length };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const dryRun = args.includes('--dry-run');
  const targets = args.filter((a) => a !== '--dry-run').map((a) => path.resolve(a));
  let files = 0;
  let imports = 0;
  for (const target of targets.length ? targets : [root]) {
    for (const file of sourceFiles(target)) {
      const before = readFileSync(file, 'utf8');
      const { text, count } = rewrite(file, before);
      if (count === 0) continue;
      files += 1;
      imports += count;
      if (!dryRun) writeFileSync(file, text);
      console.log(`${dryRun ? 'would rewrite' : 'rewrote'} ${count} in ${path.relative(root, file)}`);
    }
  }
  console.log(`${dryRun ? 'would alias' : 'aliased'} ${imports} import${imports === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}`);
}
