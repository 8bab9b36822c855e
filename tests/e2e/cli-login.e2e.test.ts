import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, freePort, runCli, startE2EWorkspace, type E2EWorkspace, type PlaneProcess } from '../support/control-plane-process';

const DEPLOYER = `e2e-deployer-${randomUUID()}`;
const READER = `e2e-reader-${randomUUID()}`;
const CODE_RE = /code: ([A-Z]{4}-[A-Z]{4})/;

/** `aether login --device` left running: its code once printed, then its exit. */
function startDeviceLogin(env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, 'login', '--device'], {
    env: { PATH: process.env.PATH ?? '', ...env } as unknown as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stderr })),
  );
  const userCode = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no user code printed:\n${stderr}`)), 20_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = CODE_RE.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  return { child, userCode, exited };
}

describe('aether login in a browser (device flow), end to end', () => {
  let ws: E2EWorkspace;
  let work: string;
  let plane: PlaneProcess;
  let cliEnv: Record<string, string>;
  const sessionFile = () => path.join(work, 'state', 'aether', 'session.json');
  const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { cwd: work, env: { ...cliEnv, ...extra } });
  const trpc = (procedure: string, input: unknown, token: string) =>
    fetch(`${plane.url}/api/trpc/${procedure}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(input),
    });
  /** Submits the approval page's form as a browser without JavaScript would (the server action). */
  const approveInPortal = async (code: string, token: string) => {
    const cookie = `aether_session=${token}`;
    const html = await (await fetch(`${plane.url}/login/cli?code=${code}`, { headers: { cookie } })).text();
    const form = new FormData();
    for (const [, name, value] of html.matchAll(/<input type="hidden" name="([^"]+)"(?: value="([^"]*)")?/g)) form.append(name!, value ?? '');
    form.append('decision', 'approve');
    const res = await fetch(`${plane.url}/login/cli?code=${code}`, { method: 'POST', body: form, redirect: 'manual', headers: { cookie, origin: plane.url } });
    return res.headers.get('location');
  };
  const whoamiStatus = async (token: string) => (await fetch(`${plane.url}/api/trpc/session.whoami`, { headers: { authorization: `Bearer ${token}` } })).status;

  beforeAll(async () => {
    ws = await startE2EWorkspace('login', [`${DEPLOYER}:deployer:dora`, `${READER}:reader:rita`]);
    ({ work, plane } = ws);
    // AETHER_NO_BROWSER: a developer's machine may have xdg-open; the test must not open anything.
    cliEnv = { HOME: work, XDG_STATE_HOME: path.join(work, 'state'), XDG_CACHE_HOME: path.join(work, 'cache'), AETHER_API_BASE: plane.url, AETHER_NO_BROWSER: '1' };
  });

  afterAll(async () => ws?.close());

  it('without a terminal and without --device, refuses at once naming --token and AETHER_TOKEN', async () => {
    const run = await cli(['login']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--token');
    expect(run.stderr).toContain('AETHER_TOKEN');
  });

  it('the portal page shows the code with Approve and Deny to a signed-in user, the sign-in form to others', async () => {
    const login = startDeviceLogin(cliEnv);
    const code = await login.userCode;
    const anonymous = await (await fetch(`${plane.url}/login/cli?code=${code}`)).text();
    expect(anonymous).toContain('Sign in');
    expect(anonymous).not.toContain('>Approve<');
    const page = await (await fetch(`${plane.url}/login/cli?code=${code.toLowerCase()}`, { headers: { cookie: `aether_session=${DEPLOYER}` } })).text();
    expect(page).toContain(code);
    expect(page).toContain('>Approve<');
    expect(page).toContain('>Deny<');
    login.child.kill('SIGINT');
    const end = await login.exited;
    expect(end.code, end.stderr).toBe(130);
    expect(end.stderr).toContain('login cancelled');
  });

  it('logs in once a deployer approves the code in the portal: whoami shows them, the session is private', async () => {
    const login = startDeviceLogin(cliEnv);
    const code = await login.userCode;
    expect(await approveInPortal(code, DEPLOYER)).toBe('/login/cli?result=approved');
    const end = await login.exited;
    expect(end.code, end.stderr).toBe(0);
    expect(end.stderr).toContain('as dora (deployer)');

    expect((await stat(sessionFile())).mode & 0o777).toBe(0o600);
    const session = JSON.parse(await readFile(sessionFile(), 'utf8')) as { token: string; expiresAt: string; user: string; role: string };
    expect(session).toMatchObject({ user: 'dora', role: 'deployer', apiBase: plane.url });
    expect(await whoamiStatus(session.token)).toBe(200);
    // Neither the token nor the device code reaches the control plane's logs.
    expect(plane.output()).not.toContain(session.token);

    const who = await cli(['whoami', '--format', 'json']);
    expect(who.code, who.stderr).toBe(0);
    const json = JSON.parse(who.stdout) as { name: string; role: string; api_base: string; expires_at: string; source: string };
    expect(json).toMatchObject({ name: 'dora', role: 'deployer', api_base: plane.url, source: 'session' });
    const hoursLeft = (Date.parse(json.expires_at) - Date.now()) / 3_600_000;
    expect(hoursLeft).toBeGreaterThan(11.9);
    expect(hoursLeft).toBeLessThanOrEqual(12);
    expect((await cli(['whoami'])).stdout).toContain('dora (deployer)');

    // logout revokes the token on the server and forgets it here.
    const out = await cli(['logout']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain('revoked');
    await expect(stat(sessionFile())).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await whoamiStatus(session.token)).toBe(401);
    expect((await cli(['whoami'])).code).toBe(10);
  });

  it('a denied login exits 10 and saves nothing', async () => {
    const login = startDeviceLogin(cliEnv);
    const code = await login.userCode;
    expect((await trpc('auth.cliDeny', { user_code: code }, READER)).status).toBe(200);
    const end = await login.exited;
    expect(end.code, end.stderr).toBe(10);
    expect(end.stderr).toContain('denied');
    await expect(stat(sessionFile())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('logout with the control plane unreachable still deletes the session and says the token was not revoked', async () => {
    const login = startDeviceLogin(cliEnv);
    await trpc('auth.cliApprove', { user_code: await login.userCode }, READER);
    expect((await login.exited).code).toBe(0);
    // Revocation goes to where the session logged in: point that at a closed port.
    const session = JSON.parse(await readFile(sessionFile(), 'utf8')) as { token: string; apiBase: string };
    await writeFile(sessionFile(), JSON.stringify({ ...session, apiBase: `http://127.0.0.1:${await freePort()}` }), { mode: 0o600 });
    const out = await cli(['logout']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain('not revoked');
    await expect(stat(sessionFile())).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await whoamiStatus(session.token)).toBe(200);
  });
});
