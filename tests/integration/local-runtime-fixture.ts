import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalRuntime } from '../../server/runtime/local.driver';
import { RouteTable } from '../../server/runtime/local/router/route-table';
import type { HealthReport, ReleaseSettings, RuntimeDeployment, RuntimeDriver } from '../../server/runtime/port';
import { tarGz, writeArtifact } from '../support/artifacts';
import { runtimeDeployment } from '../support/runtime-deployment';

/** A temp data dir, an artifact store and drivers over them, each with its own route table. */
export async function runtimeFixture(prefix: string) {
  const root = await mkdtemp(path.join(tmpdir(), prefix));
  const store = path.join(root, 'store');
  const dataDir = path.join(root, 'data');
  const source = async (key: string) => createReadStream(path.join(store, key));
  const reports: HealthReport[] = [];

  function newDriver(opts: { drainTimeoutMs?: number } = {}): { driver: RuntimeDriver; table: RouteTable } {
    const table = new RouteTable();
    const driver = createLocalRuntime({ dataDir, source, healthTimeoutMs: 15_000, routes: table, onHealth: (r) => reports.push(r), ...opts });
    return { driver, table };
  }

  async function release(appName: string, deploymentId: string, indexJs: string, extra: { instances?: number; settings?: Partial<ReleaseSettings> } = {}): Promise<RuntimeDeployment> {
    const bytes = tarGz({
      'package.json': JSON.stringify({ name: appName, version: '1.0.0', scripts: { start: 'node index.js' } }),
      'index.js': indexJs,
    });
    const { file, digest } = await writeArtifact(store, bytes);
    return runtimeDeployment({ appName, deploymentId, digest, storageKey: path.basename(file), ...extra });
  }

  async function state(appName: string): Promise<{ desired: number; instances: Array<{ id: string; pid: number; port: number }> }> {
    return JSON.parse(await readFile(path.join(dataDir, 'runtime/state', `${appName}.json`), 'utf8'));
  }

  async function cleanup(): Promise<void> {
    for (const { pgrp } of await processesUnder(root)) {
      try {
        process.kill(-pgrp, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // A supervisor may be restarting an instance it saw die just now: retry until it gives up.
    await rm(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  }

  return { root, dataDir, reports, newDriver, release, state, cleanup };
}

/** An app answering `<version> <PORT>`, slowly on /slow; `exitAfterMs` makes it exit once up. */
export function appSource(version: string, opts: { exitAfterMs?: number } = {}): string {
  return [
    `const http = require('http');`,
    `process.on('SIGTERM', () => process.exit(0));`,
    `http.createServer((q, s) => {`,
    `  if (q.url === '/slow') return setTimeout(() => s.end('slow ${version}'), 1500);`,
    `  s.end('${version} ' + process.env.PORT);`,
    `}).listen(process.env.PORT, () => { ${opts.exitAfterMs ? `setTimeout(() => process.exit(7), ${opts.exitAfterMs});` : ''} });`,
  ].join('\n');
}

export { isAlive } from '../support/app-processes';

export async function get(port: number, p = '/'): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}${p}`)).text();
}

export async function until<T>(read: () => T | Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function processesUnder(dir: string): Promise<Array<{ pid: number; pgrp: number }>> {
  const found: Array<{ pid: number; pgrp: number }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cwd = await readlink(`/proc/${name}/cwd`).catch(() => '');
    if (!cwd.startsWith(dir)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] !== 'Z') found.push({ pid: Number(name), pgrp: Number(fields[2]) });
  }
  return found;
}
