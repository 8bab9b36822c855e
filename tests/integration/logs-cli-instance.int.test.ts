import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { logsCommand, type LogsOptions } from '../../cli/commands/logs';
import { createOutput } from '../../cli/output';
import type { LogEntry, LogQuery, RuntimeDriver } from '../../server/runtime/port';
import { tarGz } from '../support/artifacts';
import { startTestPlane, TOKENS, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

/**
 * `aether logs --instance` against a real control plane, whose runtime answers with the lines
 * of two instances: the flag reaches the driver, and text lines name their instance only
 * while more than one shows.
 */

const LINES: LogEntry[] = [
  { time: '2026-12-05T06:00:01.000Z', source: 'app', line: 'zero up', instance: '0' },
  { time: '2026-12-05T06:00:02.000Z', source: 'app', line: 'one up', instance: '1' },
  { time: '2026-12-05T06:00:03.000Z', source: 'app', line: 'zero again', instance: '0' },
];

describe('aether logs --instance', { timeout: 60_000 }, () => {
  let plane: TestPlane;
  let home: string;
  const queries: LogQuery[] = [];

  beforeAll(async () => {
    plane = await startTestPlane('pglite');
    home = await mkdtemp(path.join(tmpdir(), 'aether-cli-logs-'));
    const twoInstances: RuntimeDriver['logs'] = (_target, q) => {
      queries.push(q);
      return (async function* () {
        yield* LINES.filter((e) => q.instance === undefined || e.instance === q.instance);
      })();
    };
    plane.services.runtime = { ...plane.services.runtime, logs: twoInstances };
    await plane.caller('deployer').apps.create({ name: 'pair' });
    const { completed, digest } = await uploadArtifact(plane, 'pair', tarGz({ 'package.json': '{"name":"pair"}' }));
    expect(completed.status).toBe('stored');
    await plane.caller('deployer').deployments.create({ app_name: 'pair', digest });
  });
  afterAll(async () => {
    await plane?.close();
    await rm(home, { recursive: true, force: true });
  });

  async function run(extra: Partial<LogsOptions>): Promise<string> {
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      const env = { AETHER_API_BASE: plane.url, AETHER_TOKEN: TOKENS.reader, HOME: home, XDG_CONFIG_HOME: home, XDG_STATE_HOME: home };
      const out = createOutput({ level: 'error', format: 'text' });
      const code = await logsCommand({ app: 'pair', follow: false, tail: 100, format: 'text', cwd: home, ...extra }, env, out);
      expect(code).toBe(0);
    } finally {
      spy.mockRestore();
    }
    return written.join('');
  }

  it('prefixes lines with their instance once there are several', async () => {
    expect(await run({})).toBe('zero up\n[1] one up\n[0] zero again\n');
    expect(queries.at(-1)?.instance).toBeUndefined();
  });

  it('passes --instance to the runtime and prints that instance without a prefix', async () => {
    expect(await run({ instance: '1' })).toBe('one up\n');
    expect(queries.at(-1)?.instance).toBe('1');
    const json = await run({ instance: '0', format: 'json' });
    expect(json.trim().split('\n').map((l) => JSON.parse(l) as LogEntry)).toEqual([LINES[0], LINES[2]]);
  });

  it('a bad --instance is the server refusing it, not a crash', async () => {
    await expect(run({ instance: 'Not/A Pod' })).rejects.toThrow(/instance.*\(bad_request\)/);
  });
});
