import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ensureLogWriter } from '../../server/runtime/local/log-writer';

// The real log writer script, fed through pipes as fds 3 and 4 like the runtime does.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aether-log-writer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** One run of the writer (one life of an instance): writes `lines` to stdout, then ends. */
async function runWriter(file: string, maxBytes: number, lines: string[]): Promise<void> {
  const script = await ensureLogWriter(path.join(dir, 'bin'));
  const child = spawn(process.execPath, [script, file, String(maxBytes)], { stdio: ['ignore', 'inherit', 'inherit', 'pipe', 'pipe'] });
  const out = child.stdio[3] as Writable;
  const err = child.stdio[4] as Writable;
  for (const l of lines) out.write(`${l}\n`);
  out.end();
  err.end();
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code).toBe(0);
}

const texts = async (file: string) =>
  (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^\S+ o /, ''));

it('a restarted instance appends to its file, and rotation still bounds it', async () => {
  const file = path.join(dir, 'dep.1.log');
  await runWriter(file, 4096, ['first life']);
  await runWriter(file, 4096, ['second life']);
  expect(await texts(file)).toEqual(['first life', 'second life']);

  // A third life over the cap: the size it starts from counts, so the file is rotated.
  const long = 'x'.repeat(1000);
  await runWriter(file, 4096, [long, long, long, long, 'after rotation']);
  expect(await texts(`${file}.1`)).toEqual(['first life', 'second life', long, long, long]);
  expect(await texts(file)).toEqual([long, 'after rotation']);
});
