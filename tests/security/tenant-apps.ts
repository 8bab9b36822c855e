import { tarGz } from '../support/artifacts';

/** What the hostile tenant knows about the host: real paths and pids, as a snooping attacker would guess them. */
export interface HostKnowledge {
  dataDir: string;
  victimDir: string;
  victimPid: number;
  controlPlanePid: number;
}

const pkg = (name: string) => JSON.stringify({ name, version: '1.0.0', scripts: { start: 'node index.js' } });

/** A plain web app that answers `text`. */
export const webApp = (name: string, text: string) =>
  tarGz({
    'package.json': pkg(name),
    'index.js': `require('http').createServer((q, s) => s.end(${JSON.stringify(text)})).listen(process.env.PORT, '127.0.0.1');`,
  });

/**
 * The spy: at start it tries everything the tenant did (and more), prints what it
 * found, then a `REPORT <json>` line of what each attempt returned (an errno code, or what it
 * got), then serves HTTP like a well-behaved app.
 */
export function spyApp(name: string, host: HostKnowledge): Buffer {
  const source = String.raw`
const fs = require('fs');
const path = require('path');
const http = require('http');
const HOST = ${JSON.stringify(host)};
const attempt = (f) => { try { const v = f(); return v === undefined ? 'ok' : v; } catch (e) { return e.code || String(e); } };
const dump = (label, data) => console.log('DUMP ' + label + ' ' + JSON.stringify(String(data)));
const r = { uid: process.getuid(), gid: process.getgid(), home: process.env.HOME, cwd: process.cwd() };
r.envKeys = Object.keys(process.env).sort();
r.limits = Object.fromEntries(fs.readFileSync('/proc/self/limits', 'utf8').split('\n')
  .map((l) => l.split(/\s{2,}/)).filter((f) => ['Max open files', 'Max file size', 'Max processes'].includes(f[0])).map((f) => [f[0], [f[1], f[2]]]));
r.pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
r.procs = {};
for (const p of r.pids) {
  const uidLine = attempt(() => fs.readFileSync('/proc/' + p + '/status', 'utf8').split('\n').find((l) => l.startsWith('Uid:')));
  const environ = attempt(() => fs.readFileSync('/proc/' + p + '/environ', 'latin1'));
  const cmdline = attempt(() => fs.readFileSync('/proc/' + p + '/cmdline', 'latin1'));
  dump('environ ' + p, environ);
  dump('cmdline ' + p, cmdline);
  r.procs[p] = { uid: Number(String(uidLine).split(/\s+/)[1]), environ: /^E[A-Z]+$/.test(environ) ? environ : 'read' };
}
// Walk up from the app's own directory, listing every level.
r.walk = [];
for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
  r.walk.push([dir, attempt(() => fs.readdirSync(dir).sort())]);
  if (dir === '/') break;
}
const secrets = ['storage.secret', 'admin-token', 'pglite/PG_VERSION', 'runtime/state/_uids.json'].map((f) => path.join(HOST.dataDir, f));
r.reads = {};
for (const f of [...secrets, '/proc/1/root/etc/hostname', '/proc/1/environ', '/etc/shadow']) {
  const got = attempt(() => fs.readFileSync(f, 'latin1'));
  dump('file ' + f, got);
  r.reads[f] = /^E[A-Z]+$/.test(got) ? got : 'read';
}
r.lists = {};
for (const d of [HOST.dataDir, path.join(HOST.dataDir, 'runtime/apps'), HOST.victimDir, '/root', '/home', '/work', '/proc/' + HOST.victimPid + '/cwd']) {
  const got = attempt(() => fs.readdirSync(d));
  dump('dir ' + d, got);
  r.lists[d] = Array.isArray(got) ? 'listed' : got;
}
r.writes = {};
for (const f of [path.join(HOST.victimDir, 'pwned'), '/usr/pwned', '/etc/pwned', '/tmp/scratch', '/app/scratch']) {
  r.writes[f] = attempt(() => fs.writeFileSync(f, 'x'));
}
r.signals = {};
for (const [label, pid] of [['victim', HOST.victimPid], ['victim group', -HOST.victimPid], ['control plane', HOST.controlPlanePid], ['sandbox init', 1]]) {
  r.signals[label] = attempt(() => process.kill(pid, 'SIGKILL'));
}
console.log('REPORT ' + JSON.stringify(r));
http.createServer((q, s) => s.end('spy')).listen(process.env.PORT, '127.0.0.1');
`;
  return tarGz({ 'package.json': pkg(name), 'index.js': source });
}

/** Serves HTTP after starting a `sleep` in a session of its own, out of its process group. */
export const escaperApp = (name: string) =>
  tarGz({
    'package.json': pkg(name),
    'index.js': String.raw`
const { spawn } = require('child_process');
const c = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
c.unref();
require('http').createServer((q, s) => s.end('escaper ' + c.pid)).listen(process.env.PORT, '127.0.0.1');
`,
  });

/** Allocates 1 MiB (touched) every millisecond until something stops it; never listens. */
export const memoryHogApp = (name: string) =>
  tarGz({
    'package.json': pkg(name),
    'index.js': `const keep = []; setInterval(() => keep.push(Buffer.alloc(1 << 20, 7)), 1); console.log('hogging');`,
  });

/** Serves HTTP; `GET /bomb` starts forking `sleep` processes as fast as it can. */
export const forkBombApp = (name: string) =>
  tarGz({
    'package.json': pkg(name),
    'index.js': String.raw`
const { spawn } = require('child_process');
let refused = 0;
const bomb = () => {
  for (let i = 0; i < 20; i++) {
    const c = spawn('sleep', ['60'], { stdio: 'ignore' });
    c.on('error', () => refused++);
  }
  setImmediate(bomb);
};
require('http').createServer((q, s) => { if (q.url === '/bomb') bomb(); s.end('ok'); }).listen(process.env.PORT, '127.0.0.1');
`,
  });

/** Serves HTTP; `GET /fill` writes 1 MiB files into its own directory until a write fails. */
export const diskFillerApp = (name: string) =>
  tarGz({
    'package.json': pkg(name),
    'index.js': String.raw`
const fs = require('fs');
const fill = (i) => {
  try { fs.writeFileSync('/app/fill-' + i, Buffer.alloc(1 << 20, 1)); } catch (e) { console.log('write failed: ' + e.code); return; }
  setTimeout(() => fill(i + 1), 5);
};
require('http').createServer((q, s) => { if (q.url === '/fill') fill(0); s.end('ok'); }).listen(process.env.PORT, '127.0.0.1');
`,
  });
