import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The app's output, one record per line: `<ISO-8601 time> <o|e> <text>\n` (o = stdout,
 * e = stderr). A line without a newline for LOG_WRITER_FLUSH_MS is written as it is.
 */
export const LOG_RECORD_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ([oe]) (.*)$/s;

/**
 * Runs beside the app, not around it: the app's stdout and stderr are this process's fds 3 and
 * 4 (sockets the control plane handed to both), so the two start in parallel instead of one
 * after the other. It timestamps each line and appends it to the log, rotating it at a size cap
 * (`<log>` -> `<log>.1`, so a deployment never keeps more than twice the cap). It is its own
 * process, in its own session, so the app keeps logging when the control plane stops, and a
 * stop signal to the app's group does not reach it: it records the app's last words and exits
 * when both streams close. argv: <log file> <max bytes>. CommonJS, Node built-ins only.
 */
const SCRIPT = String.raw`'use strict';
const fs = require('node:fs');
const net = require('node:net');
const { StringDecoder } = require('node:string_decoder');
const [logFile, maxArg] = process.argv.slice(2);
const maxBytes = Math.max(4096, Number(maxArg) || 0);
const FLUSH_MS = 250;
const MAX_LINE = 16 * 1024;
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => {});
let fd = fs.openSync(logFile, 'a', 0o600);
let size = fs.fstatSync(fd).size;
// One stamp and one write per chunk the app wrote, not per line: this process is not in the
// app's cgroup, and an app printing empty lines would otherwise have it burn a core per app.
function append(tag, texts) {
  const stamp = new Date().toISOString() + ' ' + tag + ' ';
  let batch = [];
  let bytes = 0;
  const write = () => {
    if (bytes) fs.writeSync(fd, Buffer.from(batch.join('')));
    size += bytes;
    batch = [];
    bytes = 0;
  };
  for (const text of texts) {
    const rec = stamp + text + '\n';
    const len = Buffer.byteLength(rec);
    if (size + bytes > 0 && size + bytes + len > maxBytes) {
      write();
      fs.closeSync(fd);
      try { fs.renameSync(logFile, logFile + '.1'); } catch {}
      fd = fs.openSync(logFile, 'a', 0o600);
      size = 0;
    }
    batch.push(rec);
    bytes += len;
  }
  write();
}
function lines(streamFd, tag) {
  const stream = new net.Socket({ fd: streamFd, readable: true, writable: false });
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let timer = null;
  const flush = () => { timer = null; if (partial) { append(tag, [partial]); partial = ''; } };
  stream.on('data', (chunk) => {
    const parts = (partial + decoder.write(chunk)).split('\n');
    partial = parts.pop();
    const texts = parts.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
    while (partial.length > MAX_LINE) { texts.push(partial.slice(0, MAX_LINE)); partial = partial.slice(MAX_LINE); }
    append(tag, texts);
    if (timer) clearTimeout(timer);
    if (partial) timer = setTimeout(flush, FLUSH_MS);
  });
  stream.on('error', () => {});
  return new Promise((resolve) => stream.on('close', () => { if (timer) clearTimeout(timer); partial += decoder.end(); flush(); resolve(); }));
}
Promise.all([lines(3, 'o'), lines(4, 'e')]).then(() => { fs.closeSync(fd); process.exit(0); });
`;

const VERSION = createHash('sha256').update(SCRIPT).digest('hex').slice(0, 12);

/**
 * Path of the log writer script under `binDir`, written there once per version. Written to the
 * data directory rather than shipped beside this module: bundlers move modules, and a running
 * app keeps using the exact script it started with.
 */
export async function ensureLogWriter(binDir: string): Promise<string> {
  const file = path.join(binDir, `log-writer-${VERSION}.cjs`);
  if (existsSync(file)) return file;
  await mkdir(binDir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, SCRIPT, { mode: 0o644 });
  await rename(tmp, file);
  return file;
}
