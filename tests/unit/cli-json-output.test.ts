import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createOutput, holdJson, jsonFailure } from '../../cli/output';

const ROOT = path.resolve(import.meta.dirname, '../..');

function capture() {
  const chunks = { out: '', err: '' };
  const stream = (key: 'out' | 'err') => ({ write: (s: string) => ((chunks[key] += s), true) }) as unknown as typeof process.stdout & typeof process.stderr;
  return { chunks, out: createOutput({ level: 'info', format: 'text' }, { out: stream('out'), err: stream('err') }) };
}

/** The CLI from source, as a user runs it: exit code, stdout, stderr. */
function runSourceCli(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/index.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent', ...env } as unknown as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('--format json prints exactly one document', () => {
  it('a result followed by a failure becomes the result with `error` inside', () => {
    const { chunks, out } = capture();
    const held = holdJson(out);
    held.out.json({ digest: 'abc', deployment: { id: 'd1', status: 'failed' } });
    held.flush({ code: 'deployment_failed', message: 'deployment failed: health check timed out' });
    expect(JSON.parse(chunks.out)).toEqual({
      digest: 'abc',
      deployment: { id: 'd1', status: 'failed' },
      error: { code: 'deployment_failed', message: 'deployment failed: health check timed out' },
    });
  });

  it('a success prints the held result once; a failure without a result prints `{ error }` alone', () => {
    const ok = capture();
    const held = holdJson(ok.out);
    held.out.json([1, 2]);
    expect(ok.chunks.out).toBe('');
    held.flush();
    held.flush();
    expect(JSON.parse(ok.chunks.out)).toEqual([1, 2]);

    const failed = capture();
    holdJson(failed.out).flush({ code: 'not_found', message: 'no such app' });
    expect(JSON.parse(failed.chunks.out)).toEqual({ error: { code: 'not_found', message: 'no such app' } });
  });

  it('only a plain object takes the error in; other results give way to `{ error }`', () => {
    const error = { code: 'runtime', message: 'x' };
    expect(jsonFailure({ a: 1 }, error)).toEqual({ a: 1, error });
    expect(jsonFailure([{ a: 1 }], error)).toEqual({ error });
    expect(jsonFailure(null, error)).toEqual({ error });
    expect(jsonFailure(undefined, error)).toEqual({ error });
  });

  it('the CLI: a usage error and an unreachable control plane each print one parseable document', async () => {
    const usage = await runSourceCli(['config', 'set', 'NO_EQUALS_SIGN', '--format', 'json', '--app', 'demo'], { AETHER_TOKEN: 't' });
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({ error: { code: 'usage', message: expect.stringContaining('NO_EQUALS_SIGN') } });

    const offline = await runSourceCli(['list', '--format', 'json'], { AETHER_TOKEN: 't', AETHER_API_BASE: 'http://127.0.0.1:9' });
    expect(offline.code).toBe(40);
    expect(JSON.parse(offline.stdout)).toEqual({ error: { code: 'network', message: expect.stringContaining('cannot reach the control plane') } });
  });
});
