import { execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, startE2EWorkspace, type E2EWorkspace, type PlaneProcess } from '../support/control-plane-process';

const ADMIN = `cli-admin-${randomUUID()}`;
const READER = `cli-reader-${randomUUID()}`;

/** The built `aether` binary, run as a user would, against the production build. */
describe('aether CLI commands', () => {
  let ws: E2EWorkspace;
  let work: string;
  let plane: PlaneProcess;
  let base: Record<string, string>;
  const cli = (args: string[], extra: Record<string, string> = {}, cwd = work) => runCli(args, { cwd, env: { ...base, ...extra } });
  const json = <T>(stdout: string) => JSON.parse(stdout) as T;

  beforeAll(async () => {
    ws = await startE2EWorkspace('cli', [`${ADMIN}:admin:ada`, `${READER}:reader:rita`]);
    ({ work, plane } = ws);
    base = { HOME: os.homedir(), XDG_STATE_HOME: path.join(work, 'state'), XDG_CACHE_HOME: path.join(work, 'cache'), XDG_CONFIG_HOME: path.join(work, 'config'), AETHER_API_BASE: plane.url, AETHER_TOKEN: ADMIN };
  });

  afterAll(async () => ws?.close());

  it('apps create / list / delete, with JSON shapes', async () => {
    const created = await cli(['apps', 'create', 'cli-app', '--format', 'json']);
    expect(created.code, created.stderr).toBe(0);
    expect(json(created.stdout)).toMatchObject({ name: 'cli-app', owner: 'ada' });
    const listed = json<Array<{ name: string; current: unknown }>>((await cli(['apps', 'list', '--format', 'json'])).stdout);
    expect(listed.find((a) => a.name === 'cli-app')).toMatchObject({ current: null });
    const dup = await cli(['apps', 'create', 'cli-app', '--format', 'json']);
    expect(dup.code).toBe(20);
    expect(json(dup.stdout)).toEqual({ error: { code: 'conflict', message: expect.stringContaining('exists') } });
    // Without a TTY a destructive command never prompts: it needs --yes.
    expect((await cli(['apps', 'delete', 'cli-app'])).code).toBe(2);
    const deleted = await cli(['apps', 'delete', 'cli-app', '--yes', '--format', 'json']);
    expect(json(deleted.stdout)).toMatchObject({ app_name: 'cli-app', deleted: true });
    expect((await cli(['apps', 'create', 'Bad_Name'])).code).toBe(2);
  });

  it('keys add / list / deactivate; a reader may list but not add', async () => {
    await cli(['apps', 'create', 'signed']);
    const pub = execFileSync(process.execPath, ['-e', "const {generateKeyPairSync}=require('crypto');const k=generateKeyPairSync('ed25519');process.stdout.write(k.publicKey.export({format:'der',type:'spki'}).subarray(12).toString('hex'))"]).toString();
    const added = await cli(['keys', 'add', '--app', 'signed', '--public-key', pub, '--format', 'json']);
    expect(added.code, added.stderr).toBe(0);
    const key = json<{ key_id: string; fingerprint: string; active: boolean }>(added.stdout);
    expect(key).toMatchObject({ active: true, fingerprint: expect.stringMatching(/^SHA256:/) });
    expect((await cli(['keys', 'add', '--app', 'signed', '--public-key', pub], { AETHER_TOKEN: READER })).code).toBe(10);
    const list = await cli(['keys', 'list', '--app', 'signed'], { AETHER_TOKEN: READER });
    expect(list.stdout).toContain(key.fingerprint);
    const off = await cli(['keys', 'deactivate', key.key_id, '--app', 'signed', '--format', 'json']);
    expect(json(off.stdout)).toMatchObject({ key_id: key.key_id, active: false });
    expect((await cli(['keys', 'add', '--app', 'signed', '--public-key', 'xyz'])).code).toBe(2);
  });

  it('completions are accepted by bash', async () => {
    const res = await cli(['completions', '--shell', 'bash']);
    expect(res.code).toBe(0);
    const file = path.join(work, 'aether.bash');
    await writeFile(file, res.stdout);
    execFileSync('bash', ['-n', file]);
    const reply = execFileSync('bash', ['-c', `source ${file}; COMP_WORDS=(aether ke); COMP_CWORD=1; _aether_complete; echo "\${COMPREPLY[@]}"`]).toString().trim();
    expect(reply).toBe('keys');
    expect((await cli(['completions', '--shell', 'fish'])).stdout).toContain("complete -c aether");
  });

  it('never prompts without a TTY, and reports config errors with file and line', async () => {
    const login = await cli(['login'], { AETHER_TOKEN: '' });
    expect(login.code).toBe(2);
    expect(login.stderr).toMatch(/--token|AETHER_TOKEN/);
    await mkdir(path.join(work, 'config', 'aether'), { recursive: true });
    await writeFile(path.join(work, 'config', 'aether', 'config.toml'), 'api_base = "http://x"\ndefault_app = = broken\n');
    const bad = await cli(['list']);
    expect(bad.code).toBe(10);
    expect(bad.stderr).toMatch(/config\.toml:2/);
    await rm(path.join(work, 'config', 'aether', 'config.toml'));
  });

  it('status shows a deployment and its phases; an unknown one is exit 20 with a JSON envelope', async () => {
    const app = path.join(work, 'sample');
    await cp(path.join(ROOT, 'tests/fixtures/sample-app'), app, { recursive: true });
    const deployed = await cli(['deploy', '--format', 'json'], {}, app);
    expect(deployed.code, deployed.stderr).toBe(0);
    const { deployment } = json<{ deployment: { id: string } }>(deployed.stdout);
    const status = json<{ status: string; events: Array<{ phase: string }> }>((await cli(['status', deployment.id, '--format', 'json'])).stdout);
    expect(status.status).toBe('running');
    expect(status.events.map((e) => e.phase)).toEqual(expect.arrayContaining(['fetch', 'verify', 'unpack', 'start', 'health', 'switch', 'running']));
    const missing = await cli(['status', randomUUID(), '--format', 'json']);
    expect(missing.code).toBe(20);
    expect(json(missing.stdout)).toMatchObject({ error: { code: 'not_found' } });
  });

  it('deploys through the deprecated POST /artifacts with --legacy-upload', async () => {
    const app = path.join(work, 'legacy');
    await cp(path.join(ROOT, 'tests/fixtures/sample-app'), app, { recursive: true });
    await writeFile(path.join(app, 'greeting.js'), "module.exports = { greeting: 'hello from legacy' };\n");
    const res = await cli(['deploy', '--app', 'legacy-app', '--legacy-upload', '--format', 'json'], {}, app);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('deprecated');
    const { deployment } = json<{ deployment: { status: string; url: string } }>(res.stdout);
    expect(deployment.status).toBe('running');
    expect(await (await fetch(deployment.url)).text()).toMatch(/^hello from legacy/);
  });

  it('resumes a multipart upload after the CLI was killed mid-upload: only missing parts are sent', async () => {
    const app = path.join(work, 'big');
    await cp(path.join(ROOT, 'tests/fixtures/sample-app'), app, { recursive: true });
    // Incompressible bytes, so the artifact is ~12 MiB: three 5 MiB parts, one at a time.
    await writeFile(path.join(app, 'blob.bin'), randomBytes(12 * 1024 * 1024));
    const uploadEnv = { AETHER_MULTIPART_THRESHOLD_BYTES: String(5 * 1024 * 1024), AETHER_MULTIPART_PART_SIZE_BYTES: String(5 * 1024 * 1024), AETHER_UPLOAD_CONCURRENCY: '1' };
    const states = path.join(work, 'cache', 'aether', 'uploads');
    const child = spawn(process.execPath, [path.join(ROOT, 'dist/cli/aether.mjs'), 'deploy', '--app', 'big-app', '--detach'], {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', ...base, ...uploadEnv } as unknown as NodeJS.ProcessEnv,
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    // Kill it (no chance to clean up) as soon as the first part is recorded in the resume state.
    let partsDone = 0;
    for (let i = 0; i < 600 && partsDone === 0 && child.exitCode === null; i++) {
      await new Promise((r) => setTimeout(r, 50));
      for (const f of await readdir(states).catch(() => [] as string[])) {
        // The CLI may be writing it right now: a half-written file is read again next round.
        const text = await readFile(path.join(states, f), 'utf8').catch(() => '{}');
        let st: { parts?: Record<string, string> } = {};
        try {
          st = JSON.parse(text) as typeof st;
        } catch {
          continue;
        }
        partsDone = Math.max(partsDone, Object.keys(st.parts ?? {}).length);
      }
    }
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(partsDone, 'the first run recorded a finished part before it was killed').toBeGreaterThan(0);
    // A part may have finished between the last look and the kill: the state file has the truth.
    const [stateFile] = await readdir(states);
    const saved = JSON.parse(await readFile(path.join(states, stateFile!), 'utf8')) as { parts: Record<string, string> };
    partsDone = Object.keys(saved.parts).length;

    const rerun = await cli(['deploy', '--app', 'big-app', '--format', 'json'], uploadEnv, app);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stderr).toMatch(new RegExp(`resuming upload [0-9a-zA-Z._~-]+: ${partsDone} of 3 parts already sent`));
    expect(json<{ deployment: { status: string } }>(rerun.stdout).deployment.status).toBe('running');
    expect(await readdir(states)).toEqual([]);
  });

  it('packs deterministically with --pack-only: normalised metadata that tar lists and extracts', async () => {
    const a = path.join(work, 'copy-a');
    const b = path.join(work, 'copy-b');
    await cp(path.join(ROOT, 'tests/fixtures/sample-app'), a, { recursive: true });
    await cp(path.join(ROOT, 'tests/fixtures/sample-app'), b, { recursive: true });
    execFileSync('touch', ['-d', '2001-02-03 04:05:06', path.join(b, 'index.js')]);
    const packA = json<{ digest: string; artifact: string }>((await cli(['deploy', '--pack-only', '--format', 'json'], {}, a)).stdout);
    const packB = json<{ digest: string }>((await cli(['deploy', '--pack-only', '--format', 'json'], {}, b)).stdout);
    expect(packA.digest).toBe(packB.digest);
    const listing = execFileSync('tar', ['-tzvf', packA.artifact]).toString();
    for (const line of listing.trim().split('\n')) expect(line).toMatch(/^[-dl]rw[-x]r[-w][-x]r[-w][-x] (root\/root|0\/0) .* 1980-01-01 00:00 /);
    const into = path.join(work, 'extracted');
    await mkdir(into);
    execFileSync('tar', ['-xzf', packA.artifact, '-C', into]);
    expect(execFileSync('cat', [path.join(into, 'greeting.js')]).toString()).toContain('hello from v1');
  });
});
