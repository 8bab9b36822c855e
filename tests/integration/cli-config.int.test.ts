import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarGz } from '../support/artifacts';
import { CLI } from '../support/control-plane-process';
import { suitePlane, TOKENS, type TestPlane } from '../support/harness';
import { uploadArtifact } from '../support/upload';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The bundled CLI as a user runs it, with `input` piped on stdin (none: stdin is /dev/null). */
function aether(args: string[], env: Record<string, string>, input?: string, cwd?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env } as unknown as NodeJS.ProcessEnv,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    if (input !== undefined) child.stdin!.end(input);
  });
}

/** An app that answers with the variables it was started with. */
const envEcho = tarGz({
  'package.json': JSON.stringify({ name: 'echo', scripts: { start: 'node index.js' } }),
  'index.js': "require('http').createServer((q, s) => s.end(`GREETING=${process.env.GREETING ?? '-'}`)).listen(process.env.PORT, '127.0.0.1');",
});

type ConfigView = { version: number; staged: boolean; entries: Array<{ name: string; secret: boolean; value: string | null; display: string; set_by: string }> };

describe('aether config, apps update, teams and audit against a real control plane', { timeout: 120_000 }, () => {
  const plane = suitePlane('pglite');
  let home: string;
  let env: Record<string, string>;
  const all: Run[] = [];
  const cli = async (args: string[], input?: string, extra: Record<string, string> = {}, cwd?: string) => {
    const run = await aether(args, { ...env, ...extra }, input, cwd);
    all.push(run);
    return run;
  };
  const json = <T>(run: Run) => JSON.parse(run.stdout) as T;
  // A value no output may ever carry: each run of the suite makes its own.
  const SECRET = `canary-${randomUUID()}`;
  const IMPORTED_SECRET = `imported-${randomUUID()}`;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`build the CLI first (npm run build:cli); missing ${CLI}`);
    home = await mkdtemp(path.join(os.tmpdir(), 'aether-cli-config-'));
    env = { HOME: home, XDG_STATE_HOME: path.join(home, 'state'), XDG_CACHE_HOME: path.join(home, 'cache'), XDG_CONFIG_HOME: path.join(home, 'config'), AETHER_API_BASE: plane().url, AETHER_TOKEN: TOKENS.admin };
  });
  afterAll(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('teams create/list, apps create --team, and list shows the team', async () => {
    const team = await cli(['teams', 'create', 'payments', '--format', 'json']);
    expect(team.code, team.stderr).toBe(0);
    expect(json(team)).toMatchObject({ name: 'payments', apps: 0 });
    const created = await cli(['apps', 'create', 'billing', '--team', 'payments', '--format', 'json']);
    expect(created.code, created.stderr).toBe(0);
    expect(json(created)).toMatchObject({ name: 'billing', team: 'payments' });
    expect((await cli(['apps', 'create', 'plain'])).code).toBe(0);

    const listed = json<Array<{ name: string; team: string }>>(await cli(['list', '--format', 'json']));
    expect(listed.map((a) => [a.name, a.team]).sort()).toEqual([['billing', 'payments'], ['plain', 'default']]);
    const text = await cli(['list']);
    expect(text.stdout.split('\n')[0]).toMatch(/^APP\s+TEAM\s+STATUS/);
    expect(text.stdout).toMatch(/billing\s+payments\s+not running/);
    expect(json<Array<{ name: string }>>(await cli(['list', '--team', 'payments', '--format', 'json'])).map((a) => a.name)).toEqual(['billing']);
    expect(json<Array<{ name: string; apps: number }>>(await cli(['teams', 'list', '--format', 'json']))).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'payments', apps: 1 }), expect.objectContaining({ name: 'default', apps: 1 })]),
    );
  });

  it('config set / list / unset round trip with --no-deploy: staged, names only in messages', async () => {
    const set = await cli(['config', 'set', 'LOG_LEVEL=debug', 'DSN=postgres://u@db/app?x=1', '--app', 'billing', '--no-deploy', '--format', 'json']);
    expect(set.code, set.stderr).toBe(0);
    expect(json(set)).toMatchObject({ app_name: 'billing', changes: { set: ['DSN', 'LOG_LEVEL'], unset: [] }, deployment: null });
    expect(set.stderr).not.toContain('postgres://u@db');

    const text = await cli(['config', 'set', 'FEATURE=on', '--app', 'billing', '--no-deploy']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toContain('set FEATURE');
    expect(text.stdout + text.stderr).not.toContain('=on');

    const view = json<ConfigView>(await cli(['config', 'list', '--app', 'billing', '--format', 'json']));
    expect(view.entries.map((e) => [e.name, e.value])).toEqual([['DSN', 'postgres://u@db/app?x=1'], ['FEATURE', 'on'], ['LOG_LEVEL', 'debug']]);

    const unset = await cli(['config', 'unset', 'FEATURE', '--app', 'billing', '--no-deploy', '--format', 'json']);
    expect(json(unset)).toMatchObject({ changes: { set: [], unset: ['FEATURE'] }, deployment: null });
    const after = json<ConfigView>(await cli(['config', 'list', '--app', 'billing', '--format', 'json']));
    expect(after.entries.map((e) => e.name)).toEqual(['DSN', 'LOG_LEVEL']);
    expect(after.version).toBeGreaterThan(view.version);

    const table = await cli(['config', 'list', '--app', 'billing']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+VALUE\s+KIND\s+SET AT\s+SET BY/);
    expect(table.stdout).toMatch(/LOG_LEVEL\s+debug\s+plain/);
  });

  it('a secret from stdin and from a dotenv import is never printed, by list or --format json', async () => {
    const piped = await cli(['config', 'set', 'API_KEY', '--secret', '--app', 'billing', '--no-deploy', '--format', 'json'], `${SECRET}\n`);
    expect(piped.code, piped.stderr).toBe(0);
    expect(json(piped)).toMatchObject({ changes: { set: ['API_KEY'] } });

    const dotenv = path.join(home, 'prod.env');
    await writeFile(dotenv, `# imported\nexport STRIPE_KEY="${IMPORTED_SECRET}"\nWEBHOOK_SECRET='${IMPORTED_SECRET}-2'\n`);
    const imported = await cli(['config', 'import', dotenv, '--secret', '--app', 'billing', '--no-deploy', '--format', 'json']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(json(imported)).toMatchObject({ changes: { set: ['STRIPE_KEY', 'WEBHOOK_SECRET'] } });

    const view = json<ConfigView>(await cli(['config', 'list', '--app', 'billing', '--format', 'json']));
    const secrets = view.entries.filter((e) => e.secret);
    expect(secrets.map((e) => e.name)).toEqual(['API_KEY', 'STRIPE_KEY', 'WEBHOOK_SECRET']);
    for (const e of secrets) expect(e).toMatchObject({ value: null, display: '••••••••' });
    const table = await cli(['config', 'list', '--app', 'billing']);
    expect(table.stdout).toMatch(/API_KEY\s+••••••••\s+secret/);
    // The value was the stdin of one run and the file of another: it appears in no output at all.
    for (const run of all) {
      expect(run.stdout + run.stderr).not.toContain(SECRET);
      expect(run.stdout + run.stderr).not.toContain(IMPORTED_SECRET);
    }
  });

  it('refuses bad input before any request, and a failure with --format json is one document', async () => {
    const before = json<ConfigView>(await cli(['config', 'list', '--app', 'billing', '--format', 'json'])).version;
    const cases: Array<[string[], string]> = [
      [['config', 'set', 'NOEQUALS', '--app', 'billing'], 'NOEQUALS: expected KEY=VALUE'],
      [['config', 'set', 'PORT=8080', '--app', 'billing'], 'variable PORT is reserved'],
      [['config', 'set', 'AETHER_X=hunter2', '--app', 'billing'], 'reserved'],
      [['config', 'set', '9LIVES=hunter2', '--app', 'billing'], 'not a POSIX name'],
      [['config', 'unset', 'BAD-NAME', '--app', 'billing'], 'not a POSIX name'],
    ];
    for (const [args, message] of cases) {
      const res = await cli([...args, '--format', 'json']);
      expect(res.code, args.join(' ')).toBe(2);
      expect(json(res)).toEqual({ error: { code: 'usage', message: expect.stringContaining(message) } });
      expect(res.stdout + res.stderr).not.toContain('hunter2');
    }
    expect(json<ConfigView>(await cli(['config', 'list', '--app', 'billing', '--format', 'json'])).version).toBe(before);

    const missing = await cli(['config', 'list', '--app', 'ghost', '--format', 'json']);
    expect(missing.code).toBe(20);
    expect(json(missing)).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
    const reader = await cli(['config', 'set', 'A=1', '--app', 'billing', '--format', 'json'], undefined, { AETHER_TOKEN: TOKENS.reader });
    expect(reader.code).toBe(10);
    expect(json(reader)).toMatchObject({ error: { code: 'forbidden' } });
  });

  describe('with a running release', () => {
    let url: string;
    beforeAll(async () => {
      const p: TestPlane = plane();
      p.startWorkers();
      await p.caller('deployer').apps.create({ name: 'echo' });
      const { completed, digest } = await uploadArtifact(p, 'echo', envEcho);
      expect(completed.status).toBe('stored');
      const { deployment } = await p.caller('deployer').deployments.create({ app_name: 'echo', digest });
      const running = await p.caller('reader').deployments.wait({ id: deployment.id, timeout_ms: 30_000 });
      expect(running.status).toBe('running');
      url = running.url!;
    });

    it('config set deploys the running artifact with the new value and follows it to running', async () => {
      const res = await cli(['config', 'set', 'GREETING=hello', '--app', 'echo', '--format', 'json']);
      expect(res.code, res.stderr).toBe(0);
      const out = json<{ changes: { set: string[] }; deployment: { status: string; url: string } }>(res);
      expect(out).toMatchObject({ changes: { set: ['GREETING'] }, deployment: { status: 'running' } });
      expect(res.stderr).toMatch(/running/);
      expect(await (await fetch(out.deployment.url)).text()).toBe('GREETING=hello');
      url = out.deployment.url;
    });

    it('a staged change waits for `config deploy`', async () => {
      const staged = await cli(['config', 'set', 'GREETING=staged', '--app', 'echo', '--no-deploy']);
      expect(staged.code, staged.stderr).toBe(0);
      expect(staged.stdout).toContain('aether config deploy --app echo');
      expect(await (await fetch(url)).text()).toBe('GREETING=hello');
      const deployed = await cli(['config', 'deploy', '--app', 'echo', '--format', 'json']);
      expect(deployed.code, deployed.stderr).toBe(0);
      const out = json<{ deployment: { status: string; url: string } }>(deployed);
      expect(out.deployment.status).toBe('running');
      expect(await (await fetch(out.deployment.url)).text()).toBe('GREETING=staged');
      url = out.deployment.url;
    });

    it('apps update with a crashing start command fails: one JSON document with the deployment and the error', async () => {
      const res = await cli(['apps', 'update', '--app', 'echo', '--start-command', 'node -e "process.exit(3)"', '--format', 'json']);
      expect(res.code).toBe(20);
      const doc = json<{ deployment: { status: string; failure_reason: string }; error: { code: string; message: string } }>(res);
      expect(doc.deployment).toMatchObject({ status: 'failed', failure_reason: 'crashed_on_start' });
      expect(doc.error).toEqual({ code: 'deployment_failed', message: 'deployment failed: crashed_on_start' });
      // The previous release keeps serving; --no-start-command puts the default back.
      expect(await (await fetch(url)).text()).toBe('GREETING=staged');
      const back = await cli(['apps', 'update', '--app', 'echo', '--no-start-command', '--format', 'json']);
      expect(back.code, back.stderr).toBe(0);
      expect(json(back)).toMatchObject({ deployment: { status: 'running' } });
    });

    it('aether deploy --format json of a build that crashes prints one document: the result with `error` inside', async () => {
      const project = path.join(home, 'crashy');
      await mkdir(project);
      await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'crashy', scripts: { start: 'node index.js' } }));
      await writeFile(path.join(project, 'index.js'), "console.error('fatal: no config'); process.exit(1);");
      const res = await cli(['deploy', '--no-install', '--no-sbom', '--format', 'json'], undefined, {}, project);
      expect(res.code).toBe(20);
      const doc = json<{ digest: string; deployment: { status: string }; error: { code: string; message: string } }>(res);
      expect(doc.digest).toMatch(/^[0-9a-f]{64}$/);
      expect(doc.deployment).toMatchObject({ status: 'failed' });
      expect(doc.error).toEqual({ code: 'deployment_failed', message: 'deployment failed: crashed_on_start' });
    });
  });

  it('audit lists the changes (names only), follows pages up to --limit, and filters by app', async () => {
    const page = await cli(['audit', '--limit', '3', '--format', 'json']);
    expect(page.code, page.stderr).toBe(0);
    const first = json<{ items: Array<{ id: number }>; next_cursor: string | null }>(page);
    expect(first.items).toHaveLength(3);
    expect(first.next_cursor).toEqual(expect.any(String));

    const billing = json<{ items: Array<{ action: string; target: string; outcome: string; detail: unknown }> }>(
      await cli(['audit', '--app', 'billing', '--since', '1h', '--limit', '500', '--format', 'json']),
    );
    expect(billing.items.length).toBeGreaterThan(3);
    expect(billing.items.every((r) => r.target === 'billing')).toBe(true);
    expect(billing.items.map((r) => r.action)).toContain('config.change');
    expect(JSON.stringify(billing)).not.toContain(SECRET);
    const text = await cli(['audit', '--app', 'billing', '--action', 'config.change', '--limit', '2']);
    expect(text.stdout.split('\n')[0]).toMatch(/^AT\s+ACTOR\s+TEAM\s+ACTION\s+TARGET\s+OUTCOME\s+DETAIL/);
    expect(text.stdout.trim().split('\n')).toHaveLength(3);
    expect((await cli(['audit', '--since', 'yesterday'])).code).toBe(2);
  });

  it('teams delete refuses a team with apps and deletes an empty one', async () => {
    const busy = await cli(['teams', 'delete', 'payments', '--format', 'json']);
    expect(busy.code).toBe(20);
    expect(json(busy)).toEqual({ error: { code: 'conflict', message: expect.stringContaining('still has 1 app(s)') } });
    expect((await cli(['teams', 'create', 'scratch'])).code).toBe(0);
    const gone = await cli(['teams', 'delete', 'scratch', '--format', 'json']);
    expect(json(gone)).toEqual({ name: 'scratch', deleted: true });
  });
});
