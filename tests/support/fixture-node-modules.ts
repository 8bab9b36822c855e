/**
 * A synthetic project shaped like a real installed node_modules, for the pack benchmark: ~15k
 * files and ~120 MB, mostly small .js/.d.ts/.json/.md files with text that compresses like
 * source code (gzip -6 ratio near a real tree's ~0.2, not random base64 which compresses to 0.75
 * and makes every compressor look alike), a few MB of minified bundles and source maps, two
 * binary-ish addons that barely compress, scoped and nested packages and `.bin` symlinks.
 *
 * Generated from a fixed seed, so every machine benchmarks the same bytes, and cached under the
 * OS temp dir keyed by FIXTURE_VERSION: bump it whenever the generator's output changes.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const FIXTURE_VERSION = 'nm-v2';

export interface FixtureTree {
  /** The project root (contains package.json, src/ and node_modules/). */
  root: string;
  files: number;
  symlinks: number;
  /** Sum of regular file sizes. */
  bytes: number;
}

interface Options {
  /** Regular files to create (approximately: whole packages are added). */
  files?: number;
  /** Total bytes of regular files, spread over the small files after the fixed large ones. */
  bytes?: number;
  seed?: number;
}

type Kind = 'js' | 'dts' | 'md' | 'license' | 'json' | 'map' | 'min' | 'bin';
interface PlannedFile { path: string; kind: Kind; size: number; words: string[] }

/** Returns the cached fixture, generating it first if this machine has not got it yet. */
export function nodeModulesFixture(opts: Options = {}): FixtureTree {
  const files = opts.files ?? 15_000;
  const bytes = opts.bytes ?? 120_000_000;
  const seed = opts.seed ?? 42;
  const dir = join(tmpdir(), `aether-fixture-${FIXTURE_VERSION}-${seed}-${files}-${bytes}`);
  const statsFile = join(dir, 'stats.json');
  if (existsSync(statsFile)) return JSON.parse(readFileSync(statsFile, 'utf8')) as FixtureTree;

  // Built beside the final name and renamed, so an interrupted run never leaves half a cache.
  const building = `${dir}.${process.pid}.tmp`;
  rmSync(building, { recursive: true, force: true });
  const tree = generate(join(building, 'tree'), { files, bytes, seed });
  writeFileSync(join(building, 'stats.json'), JSON.stringify({ ...tree, root: join(dir, 'tree') }));
  try {
    renameSync(building, dir);
  } catch (err) {
    // Another process won the race: its copy is identical.
    rmSync(building, { recursive: true, force: true });
    if (!existsSync(statsFile)) throw err;
  }
  return JSON.parse(readFileSync(statsFile, 'utf8')) as FixtureTree;
}

function generate(root: string, opts: Required<Options>): FixtureTree {
  const rand = mulberry32(opts.seed);
  const vocab = Array.from({ length: 3000 }, () => word(rand));
  const { files, links } = plan(rand, vocab, opts.files);
  scaleSmallFiles(files, opts.bytes);
  let bytes = 0;
  for (const file of files) {
    const abs = join(root, file.path);
    mkdirSync(dirname(abs), { recursive: true });
    const body = render(rand, file);
    writeFileSync(abs, body, { mode: file.path.endsWith('/cli.js') ? 0o755 : 0o644 });
    bytes += body.length;
  }
  for (const [path, target] of links) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    symlinkSync(target, join(root, path));
  }
  return { root, files: files.length, symlinks: links.length, bytes };
}

/**
 * Lays out packages until the file budget is used. Sizes are log-normal like a real tree's (this
 * repo's node_modules: median 1.2 kB, p90 12 kB); scaled to 120 MB, the median lands near 2.4 kB.
 */
function plan(rand: Rand, vocab: string[], fileBudget: number): { files: PlannedFile[]; links: Array<[string, string]> } {
  const files: PlannedFile[] = [];
  const links: Array<[string, string]> = [];
  const scopes = Array.from({ length: 30 }, () => `@${pick(rand, vocab)}`);
  const add = (path: string, kind: Kind, size: number, words: string[]) => files.push({ path, kind, size: Math.round(size), words });
  const small = (median: number) => Math.min(400_000, median * Math.exp(1.3 * gaussian(rand)));

  const appWords = Array.from({ length: 80 }, () => zipf(rand, vocab));
  add('package.json', 'json', 1_500, appWords);
  add('package-lock.json', 'json', 600_000, appWords);
  for (let i = 0; i < 40; i++) add(`src/${pick(rand, appWords)}-${i}.js`, 'js', small(2_500), appWords);
  // The few big files of a real tree: bundled CLIs, their maps, and native/wasm addons.
  add('node_modules/typescript/lib/typescript.js', 'min', 6_000_000, appWords);
  add('node_modules/@next/compiled/webpack/bundle5.js', 'min', 3_000_000, appWords);
  add('node_modules/@next/compiled/webpack/bundle5.js.map', 'map', 4_000_000, appWords);
  add('node_modules/@img/sharp-linux-x64/lib/sharp-linux-x64.node', 'bin', 4_500_000, appWords);
  add('node_modules/@esbuild/wasm/esbuild.wasm', 'bin', 3_500_000, appWords);

  const installed: string[] = [];
  while (files.length < fileBudget) {
    const name = `${pick(rand, vocab)}-${pick(rand, vocab)}`;
    const scoped = rand() < 0.2 ? `${pick(rand, scopes)}/${name}` : name;
    // About one package in ten is a nested copy at another version, as npm dedupe leaves them.
    const parent = installed.length > 20 && rand() < 0.1 ? `${pick(rand, installed)}/node_modules` : 'node_modules';
    const pkg = `${parent}/${scoped}`;
    if (installed.includes(pkg)) continue;
    installed.push(pkg);
    const words = Array.from({ length: 60 }, () => zipf(rand, vocab));
    add(`${pkg}/package.json`, 'json', small(900), words);
    add(`${pkg}/README.md`, 'md', small(4_000), words);
    add(`${pkg}/LICENSE`, 'license', 1_070, words);
    if (rand() < 0.3) add(`${pkg}/CHANGELOG.md`, 'md', small(8_000), words);
    const modules = 1 + Math.floor(rand() * rand() * 40);
    for (let m = 0; m < modules; m++) {
      const sub = rand() < 0.5 ? 'lib' : rand() < 0.5 ? 'dist' : 'dist/esm';
      const base = `${pkg}/${sub}/${pick(rand, words)}${m}`;
      add(`${base}.js`, 'js', small(1_800), words);
      if (rand() < 0.5) add(`${base}.d.ts`, 'dts', small(900), words);
      if (rand() < 0.25) add(`${base}.js.map`, 'map', small(2_500), words);
    }
    if (rand() < 0.08 && !links.some(([path]) => path === `node_modules/.bin/${name}`)) {
      add(`${pkg}/bin/cli.js`, 'js', small(2_000), words);
      links.push([`node_modules/.bin/${name}`, `../${pkg.slice('node_modules/'.length)}/bin/cli.js`]);
    }
  }
  return { files, links };
}

/** Scales the small files so the total hits `target`, keeping the large files as planned. */
function scaleSmallFiles(files: PlannedFile[], target: number): void {
  const isSmall = (f: PlannedFile) => f.size < 1_000_000 && f.path !== 'package-lock.json' && f.kind !== 'license';
  const fixed = files.filter((f) => !isSmall(f)).reduce((n, f) => n + f.size, 0);
  const scalable = files.filter(isSmall).reduce((n, f) => n + f.size, 0);
  const factor = Math.max(0, target - fixed) / scalable;
  for (const f of files) if (isSmall(f)) f.size = Math.max(1, Math.round(f.size * factor));
}

function render(rand: Rand, file: PlannedFile): Buffer {
  if (file.kind === 'bin') return binary(rand, file.size);
  const gen = { js: jsLine, dts: dtsLine, md: mdLine, license: licenseLine, json: jsonLine, map: mapLine, min: minLine }[file.kind];
  const parts: string[] = file.kind === 'json' ? ['{\n'] : file.kind === 'map' ? ['{"version":3,"mappings":"'] : [];
  let length = 0;
  while (length < file.size) {
    const line = gen(rand, file.words);
    parts.push(line);
    length += line.length;
  }
  return Buffer.from(parts.join('').slice(0, file.size), 'latin1');
}

const KEYWORDS = ['const', 'let', 'return', 'if', 'else', 'function', 'typeof', 'new', 'await', 'async'];
const TYPES = ['string', 'number', 'boolean', 'unknown', 'void', 'Promise<void>', 'Buffer', 'Record<string, unknown>'];

function jsLine(rand: Rand, w: string[]): string {
  const a = ident(rand, w);
  const b = ident(rand, w);
  switch (Math.floor(rand() * 9)) {
    case 0: return `const ${a} = require('${pick(rand, w)}/${pick(rand, w)}');\n`;
    case 1: return `\nfunction ${a}(${b}, options) {\n  if (${b} === undefined || ${b} === null) {\n    throw new TypeError('${sentence(rand, w)}');\n  }\n`;
    case 2: return `  return ${a}.${b}(${pick(rand, w)}, ${Math.floor(rand() * 1000)});\n}\n`;
    case 3: return `  // ${sentence(rand, w)}\n`;
    case 4: return `  for (let i = 0; i < ${a}.length; i++) {\n    ${b}[i] = ${a}[i] ${rand() < 0.5 ? '|' : '+'} ${Math.floor(rand() * 256)};\n  }\n`;
    case 5: return `/**\n * ${sentence(rand, w)}\n * @param {${pick(rand, TYPES)}} ${b}\n */\n`;
    case 6: return `exports.${a} = ${a};\n`;
    case 7: return `  ${pick(rand, KEYWORDS)} ${a} = ${b} ? ${b}.${ident(rand, w)} : '${pick(rand, w)}';\n`;
    default: return `  this.${a} = Object.assign({}, ${b}, { ${pick(rand, w)}: ${rand() < 0.5} });\n`;
  }
}

function dtsLine(rand: Rand, w: string[]): string {
  const t = pascal(rand, w);
  switch (Math.floor(rand() * 4)) {
    case 0: return `export declare function ${ident(rand, w)}(${ident(rand, w)}: ${pick(rand, TYPES)}, options?: ${t}): ${pick(rand, TYPES)};\n`;
    case 1: return `export interface ${t} {\n    ${ident(rand, w)}?: ${pick(rand, TYPES)};\n    ${ident(rand, w)}: ${pascal(rand, w)};\n}\n`;
    case 2: return `/** ${sentence(rand, w)} */\n`;
    default: return `export type ${t} = ${pick(rand, TYPES)} | ${pascal(rand, w)};\n`;
  }
}

const MIT = 'MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the "Software"), to deal in the Software without restriction, including without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies of the Software.\n\nTHE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED. ';

/** Near-identical text in hundreds of packages, as real LICENSE files are. */
function licenseLine(rand: Rand, w: string[]): string {
  return `${MIT}Copyright (c) ${2010 + Math.floor(rand() * 15)} ${pascal(rand, w)}\n`;
}

function mdLine(rand: Rand, w: string[]): string {
  const r = rand();
  if (r < 0.1) return `\n## ${sentence(rand, w)}\n\n`;
  if (r < 0.25) return `\n\`\`\`js\n${jsLine(rand, w)}${jsLine(rand, w)}\`\`\`\n`;
  return `${sentence(rand, w)} ${sentence(rand, w)}\n`;
}

function jsonLine(rand: Rand, w: string[]): string {
  const v = `${Math.floor(rand() * 20)}.${Math.floor(rand() * 30)}.${Math.floor(rand() * 10)}`;
  return `  "${pick(rand, w)}-${pick(rand, w)}": { "version": "${v}", "resolved": "https://registry.npmjs.org/${pick(rand, w)}/-/${pick(rand, w)}-${v}.tgz" },\n`;
}

const VLQ = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Mappings (VLQ, poorly compressible) mixed with sourcesContent-like text, as real maps are. */
function mapLine(rand: Rand, w: string[]): string {
  if (rand() < 0.6) return JSON.stringify(jsLine(rand, w)).slice(1, -1);
  let s = rand() < 0.2 ? ';' : ',';
  for (let i = 0, n = 4 + Math.floor(rand() * 3); i < n; i++) s += VLQ[Math.floor(rand() * rand() * 64)];
  return s;
}

function minLine(rand: Rand, w: string[]): string {
  const v = () => String.fromCharCode(97 + Math.floor(rand() * 26)) + (rand() < 0.3 ? String.fromCharCode(65 + Math.floor(rand() * 26)) : '');
  switch (Math.floor(rand() * 4)) {
    case 0: return `function ${v()}(${v()},${v()}){var ${v()}=${v()}(${Math.floor(rand() * 900)});`;
    case 1: return `if(!${v()}.${ident(rand, w)})throw new Error("${sentence(rand, w)}");`;
    case 2: return `${v()}.${ident(rand, w)}=function(${v()}){return ${v()}&&${v()}.${pick(rand, w)}},`;
    default: return `return ${v()}}${rand() < 0.1 ? '\n' : ''}`;
  }
}

/** Machine code is roughly half entropy: random runs between tables, zero padding and strings. */
function binary(rand: Rand, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; ) {
    const run = Math.min(size - i, 64 + Math.floor(rand() * 4096));
    const r = rand();
    if (r < 0.45) for (let j = 0; j < run; j++) out[i + j] = Math.floor(rand() * 256);
    else if (r < 0.75) for (let j = 0; j < run; j++) out[i + j] = j % 3 === 0 ? (j * 7) & 0xff : 0;
    else out.write(`${sentence(rand, ['symbol', 'section', 'text', 'data', 'init'])}\0`.repeat(run / 32 + 1).slice(0, run), i, 'latin1');
    i += run;
  }
  return out;
}

type Rand = () => number;

/** Small, fast and seedable; Math.random cannot be seeded. */
export function mulberry32(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: Rand): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function pick<T>(rand: Rand, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

/** Common words far more often than rare ones, as in real identifiers. */
function zipf(rand: Rand, xs: readonly string[]): string {
  return xs[Math.floor(xs.length * rand() ** 3)]!;
}

const SYLLABLES = ['ba', 'co', 'de', 'fi', 'ga', 'hu', 'jo', 'ka', 'li', 'mo', 'ne', 'pa', 'qu', 'ro', 'se', 'ti', 'va', 'wi', 'xo', 'ze', 'st', 'er', 'on', 'an'];

function word(rand: Rand): string {
  let s = '';
  for (let i = 0, n = 2 + Math.floor(rand() * 3); i < n; i++) s += pick(rand, SYLLABLES);
  return s;
}

function ident(rand: Rand, w: string[]): string {
  const first = pick(rand, w);
  return rand() < 0.5 ? first : first + pascal(rand, w);
}

function pascal(rand: Rand, w: string[]): string {
  const s = pick(rand, w);
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function sentence(rand: Rand, w: string[]): string {
  const n = 4 + Math.floor(rand() * 8);
  const words = Array.from({ length: n }, () => pick(rand, w));
  return `${words.join(' ')}.`.replace(/^./, (c) => c.toUpperCase());
}
