import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { legacySessionPath, readSession, sessionPath, writeSession, type Session } from '../../cli/config';
import { useTempTrees } from '../support/tree';

const temp = useTempTrees();
const mode = async (p: string) => (await stat(p)).mode & 0o777;
const exists = (p: string) => stat(p).then(() => true, () => false);
const session = (token: string): Session => ({ token, apiBase: 'http://127.0.0.1:3000', user: 'ada', role: 'admin', savedAt: '2026-01-01T00:00:00.000Z' });

/** Env with separate state and cache homes under a fresh directory. */
async function homes() {
  const root = await temp.tempDir('aether-session-');
  return { root, env: { HOME: root, XDG_STATE_HOME: path.join(root, 'state'), XDG_CACHE_HOME: path.join(root, 'cache') } };
}

async function writeLegacy(env: { XDG_CACHE_HOME: string }, text: string) {
  const file = path.join(env.XDG_CACHE_HOME, 'aether', 'session.json');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text, { mode: 0o600 });
  return file;
}

describe('CLI session file', () => {
  it('lives under XDG_STATE_HOME, or ~/.local/state without it; the legacy one under the cache dir', () => {
    expect(sessionPath({ XDG_STATE_HOME: '/s', HOME: '/h' })).toBe('/s/aether/session.json');
    expect(sessionPath({ HOME: '/h' })).toBe('/h/.local/state/aether/session.json');
    expect(legacySessionPath({ XDG_CACHE_HOME: '/c', HOME: '/h' })).toBe('/c/aether/session.json');
    expect(legacySessionPath({ HOME: '/h' })).toBe('/h/.cache/aether/session.json');
  });

  it('is written 0600 in a 0700 directory, also when that directory existed with wider modes', async () => {
    const { env } = await homes();
    await mkdir(path.join(env.XDG_STATE_HOME, 'aether'), { recursive: true, mode: 0o755 });
    const file = await writeSession(env, session('t1'));
    expect(file).toBe(path.join(env.XDG_STATE_HOME, 'aether', 'session.json'));
    expect(await mode(file)).toBe(0o600);
    expect(await mode(path.dirname(file))).toBe(0o700);
    expect(await readSession(env, () => {})).toEqual(session('t1'));
  });

  it('moves a session from the cache dir on first read: same bytes, 0600, and the old file is gone', async () => {
    const { env } = await homes();
    const text = `${JSON.stringify(session('legacy-token'), null, 2)}\n`;
    const legacy = await writeLegacy(env, text);
    const warnings: string[] = [];
    expect(await readSession(env, (m) => warnings.push(m))).toEqual(session('legacy-token'));
    const file = sessionPath(env);
    expect(await readFile(file, 'utf8')).toBe(text);
    expect(await mode(file)).toBe(0o600);
    expect(await mode(path.dirname(file))).toBe(0o700);
    expect(await exists(legacy)).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('keeps the state session when both exist, and removes the stale credential in the cache dir', async () => {
    const { env } = await homes();
    await writeSession(env, session('current'));
    const legacy = await writeLegacy(env, JSON.stringify(session('stale')));
    expect((await readSession(env, () => {}))?.token).toBe('current');
    expect(await exists(legacy)).toBe(false);
  });

  it('a login (writeSession) removes a legacy session left behind', async () => {
    const { env } = await homes();
    const legacy = await writeLegacy(env, JSON.stringify(session('old')));
    await writeSession(env, session('new'));
    expect(await exists(legacy)).toBe(false);
    expect((await readSession(env, () => {}))?.token).toBe('new');
  });

  it('no session anywhere reads as null and creates nothing', async () => {
    const { env } = await homes();
    expect(await readSession(env, () => {})).toBeNull();
    expect(await exists(path.join(env.XDG_STATE_HOME, 'aether'))).toBe(false);
  });
});
