import { createHash, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../../server/services/context';
import { parseStaticTokens } from '../../server/auth/tokens';
import { ZLogsInput } from '../../server/contract/schemas';
import { logsResponse } from '../../server/http/logs';
import { roleAllows, type Role } from '../../server/auth/roles';
import { actor, callerAs } from '../support/audit';
import { DB_KINDS, suitePlane, TOKEN_ENTRIES, TOKENS } from '../support/harness';
import { callOverRest, callOverTrpc, callWithCaller, procedureDefs, restRouteOf, type Outcome, type ProcedureFace } from '../support/procedure-faces';
import { createTargetApp, missingTarget, normalizeMessage, publicKeyHex, randomDigest, type Target } from '../support/team-fixtures';

/**
 * Every procedure of appRouter, for each role limited to team `a` and unlimited, on three
 * faces: a server-side caller with an Actor built directly, tRPC over HTTP and REST over HTTP
 * (bearer tokens from AETHER_API_TOKENS, the limited ones through its fourth field). An app,
 * artifact or deployment of team `b` must answer a limited caller exactly as a missing one.
 */

const LIMITED_TOKENS = { reader: 'limited-reader-token-a', deployer: 'limited-deployer-token-a' } as const;
const ENV_TOKENS = [
  ...TOKEN_ENTRIES,
  `${LIMITED_TOKENS.reader}:reader:reader-a:a`,
  `${LIMITED_TOKENS.deployer}:deployer:deployer-a:a`,
].join(',');

interface Who {
  label: string;
  role: Role;
  teams: string[] | null;
  token: string;
}

/** Admins are never limited (the last row's absence is asserted below). */
const WHO: Who[] = [
  { label: 'reader, all teams', role: 'reader', teams: null, token: TOKENS.reader },
  { label: 'reader, team a', role: 'reader', teams: ['a'], token: LIMITED_TOKENS.reader },
  { label: 'deployer, all teams', role: 'deployer', teams: null, token: TOKENS.deployer },
  { label: 'deployer, team a', role: 'deployer', teams: ['a'], token: LIMITED_TOKENS.deployer },
  { label: 'admin', role: 'admin', teams: null, token: TOKENS.admin },
];

interface AppCase {
  /** The least role that may call it. */
  role: Role;
  input: (t: Target) => unknown;
  /** The outcome on an app the caller sees. */
  visible: string;
  /** Changes what later calls see (deletes, deploys, stages config): each call gets a fresh app. */
  fresh?: true;
  /** Puts a fresh app in the state the call needs, as an admin. */
  prepare?: (services: Services, t: Target) => Promise<unknown>;
}

const app = (t: Target) => ({ app_name: t.app });

/** Procedures that name an app, an artifact or a deployment, with what each answers on a visible one. */
const APP_SCOPED: Record<string, AppCase> = {
  'apps.get': { role: 'reader', input: app, visible: 'ok' },
  'apps.update': { role: 'deployer', input: (t) => ({ ...app(t), health_path: '/health', deploy: false }), visible: 'ok', fresh: true },
  'apps.delete': { role: 'admin', input: app, visible: 'ok', fresh: true },
  'apps.limits': { role: 'reader', input: app, visible: 'ok' },
  'apps.setLimits': { role: 'admin', input: (t) => ({ ...app(t), retain_latest: 5 }), visible: 'ok' },
  // The target's deployment runs (rows only); the queued jobs are never picked up here.
  'apps.scale': { role: 'deployer', input: (t) => ({ ...app(t), instances: 2 }), visible: 'ok' },
  'apps.stop': { role: 'deployer', input: app, visible: 'ok', fresh: true },
  'apps.start': { role: 'deployer', input: app, visible: 'ok' },
  'apps.restart': { role: 'deployer', input: app, visible: 'ok' },
  'config.list': { role: 'reader', input: app, visible: 'ok' },
  'config.change': { role: 'deployer', input: (t) => ({ ...app(t), set: { FOO: '1' }, deploy: false }), visible: 'ok', fresh: true },
  'config.deploy': {
    role: 'deployer',
    input: app,
    visible: 'ok',
    fresh: true,
    prepare: (s, t) => callerAs(s, actor('admin')).config.change({ ...app(t), set: { STAGED: '1' }, deploy: false }),
  },
  'artifacts.presign': { role: 'deployer', input: (t) => ({ ...app(t), digest: randomDigest(), size_bytes: 10 }), visible: 'ok' },
  'artifacts.complete': { role: 'deployer', input: (t) => ({ ...app(t), digest: t.digest, size_bytes: 10 }), visible: 'ok' },
  'artifacts.multipartInit': { role: 'deployer', input: (t) => ({ ...app(t), digest: randomDigest(), size_bytes: 10 }), visible: 'ok' },
  'artifacts.multipartPresignPart': { role: 'deployer', input: (t) => ({ ...app(t), digest: t.digest, upload_id: 'u-1', part_number: 1 }), visible: 'already_stored' },
  'artifacts.multipartPresignParts': { role: 'deployer', input: (t) => ({ ...app(t), digest: t.digest, upload_id: 'u-1', part_numbers: [1] }), visible: 'already_stored' },
  'artifacts.multipartComplete': {
    role: 'deployer',
    input: (t) => ({ ...app(t), digest: t.digest, upload_id: 'u-1', size_bytes: 10, parts: [{ part_number: 1, etag: 'e' }] }),
    visible: 'already_stored',
  },
  'artifacts.multipartAbort': { role: 'deployer', input: (t) => ({ ...app(t), digest: t.digest, upload_id: 'u-1' }), visible: 'already_stored' },
  // By digest alone: the lookup that searches across apps.
  'artifacts.meta': { role: 'reader', input: (t) => ({ digest: t.digest }), visible: 'ok' },
  'artifacts.get': { role: 'reader', input: (t) => ({ ...app(t), digest: t.digest }), visible: 'ok' },
  'artifacts.wait': { role: 'reader', input: (t) => ({ ...app(t), digest: t.digest, timeout_ms: 1000 }), visible: 'ok' },
  'deployments.create': { role: 'deployer', input: (t) => ({ ...app(t), digest: t.digest }), visible: 'ok', fresh: true },
  'deployments.register': { role: 'deployer', input: (t) => ({ ...app(t), digest: t.digest }), visible: 'ok', fresh: true },
  'deployments.patch': { role: 'deployer', input: (t) => ({ id: t.deploymentId, digest: t.digest }), visible: 'ok', fresh: true },
  'deployments.list': { role: 'reader', input: app, visible: 'ok' },
  'deployments.get': { role: 'reader', input: (t) => ({ id: t.deploymentId }), visible: 'ok' },
  'deployments.events': { role: 'reader', input: (t) => ({ id: t.deploymentId }), visible: 'ok' },
  'deployments.wait': { role: 'reader', input: (t) => ({ id: t.deploymentId, timeout_ms: 1000 }), visible: 'ok' },
  // One release ran, so there is nothing to go back to: found, then refused.
  'deployments.rollback': { role: 'deployer', input: app, visible: 'conflict', fresh: true },
  'deployments.logs': { role: 'reader', input: (t) => ({ ...app(t), tail: 10 }), visible: 'ok' },
  'keys.add': { role: 'admin', input: (t) => ({ ...app(t), public_key_hex: publicKeyHex() }), visible: 'ok' },
  'keys.list': { role: 'reader', input: app, visible: 'ok' },
  'keys.deactivate': { role: 'admin', input: (t) => ({ ...app(t), key_id: t.keyId }), visible: 'ok' },
  'console.app': { role: 'reader', input: app, visible: 'ok' },
  'console.timeline': { role: 'reader', input: app, visible: 'ok' },
  'console.artifacts': { role: 'reader', input: app, visible: 'ok' },
};

interface OtherCase {
  role: Role | 'public';
  input?: () => unknown;
  /** For lists: the team of every item listed. */
  teams?: (data: unknown, teamOfApp: (name: string) => string) => Array<string | null>;
}

type Items<T> = { items: T[] };
const queue = { queue: 'retention' };

/** Everything else: a role gate, lists filtered to the caller's teams, and nothing of team b in any answer. */
const OTHER: Record<string, OtherCase> = {
  'session.whoami': { role: 'reader' },
  'apps.create': { role: 'deployer', input: () => ({ name: `new-${randomUUID().slice(0, 8)}`, team: 'a' }) },
  'apps.list': { role: 'reader', teams: (d) => (d as Array<{ team: string }>).map((a) => a.team) },
  'console.apps': { role: 'reader', input: () => ({}), teams: (d) => (d as Items<{ team: string }>).items.map((a) => a.team) },
  'deployments.listAll': { role: 'reader', input: () => ({ limit: 1000 }), teams: (d, teamOf) => (d as Array<{ app_name: string }>).map((x) => teamOf(x.app_name)) },
  'artifacts.list': { role: 'reader', input: () => ({ limit: 500 }), teams: (d, teamOf) => (d as Items<{ app_name: string }>).items.map((a) => teamOf(a.app_name)) },
  'teams.list': { role: 'reader', teams: (d) => (d as Array<{ name: string }>).map((t) => t.name) },
  'teams.create': { role: 'admin', input: () => ({ name: `team-${randomUUID().slice(0, 8)}` }) },
  'teams.delete': { role: 'admin', input: () => ({ name: 'no-such-team' }) },
  'audit.list': { role: 'reader', input: () => ({ limit: 200 }), teams: (d) => (d as Items<{ team: string | null }>).items.map((r) => r.team) },
  'auth.cliStart': { role: 'public' },
  'auth.cliPoll': { role: 'public', input: () => ({ device_code: 'nobody-started-this' }) },
  'auth.cliApprove': { role: 'reader', input: () => ({ user_code: 'ABCD-EFGH' }) },
  'auth.cliDeny': { role: 'reader', input: () => ({ user_code: 'ABCD-EFGH' }) },
  'auth.refresh': { role: 'reader' },
  'auth.logout': { role: 'reader' },
  'admin.queues.list': { role: 'admin' },
  'admin.queues.jobs': { role: 'admin', input: () => queue },
  'admin.queues.job': { role: 'admin', input: () => ({ ...queue, job_id: 'nope' }) },
  'admin.queues.retry': { role: 'admin', input: () => ({ ...queue, job_id: 'nope' }) },
  'admin.queues.retryAllFailed': { role: 'admin', input: () => queue },
  'admin.queues.remove': { role: 'admin', input: () => ({ ...queue, job_id: 'nope' }) },
  'admin.queues.clean': { role: 'admin', input: () => ({ ...queue, state: 'completed', older_than_secs: 3600 }) },
  'admin.queues.pause': { role: 'admin', input: () => queue },
  'admin.queues.resume': { role: 'admin', input: () => queue },
  'admin.metrics.dashboard': { role: 'admin', input: () => ({}) },
  'admin.tokens.list': { role: 'admin' },
  'admin.tokens.create': { role: 'admin', input: () => ({ name: 'matrix', role: 'reader' }) },
  'admin.tokens.revoke': { role: 'admin', input: () => ({ id: randomUUID() }) },
};

function facesOf(path: string): ProcedureFace[] {
  const type = procedureDefs()[path]!._def.type;
  return ['caller', ...(type === 'subscription' ? [] : (['trpc'] as const)), ...(restRouteOf(path) ? (['rest'] as const) : [])];
}

describe.each(DB_KINDS)('team matrix (%s)', (kind) => {
  const plane = suitePlane(kind, { AETHER_API_TOKENS: ENV_TOKENS });
  const services = () => plane().services;
  const teamOfApp = new Map<string, string>();
  let fixed: { a: Target; b: Target };

  const call = (who: Who, face: ProcedureFace, path: string, input: unknown): Promise<Outcome> => {
    const headers = { authorization: `Bearer ${who.token}` };
    if (face === 'caller') return callWithCaller(services(), actor(who.role, who.teams, `${who.role}-${who.teams ? 'a' : 'user'}`), path, input);
    return face === 'trpc' ? callOverTrpc(plane().url, headers, path, input) : callOverRest(plane().url, headers, path, input);
  };
  const target = async (team: 'a' | 'b', name?: string): Promise<Target> => {
    const t = await createTargetApp(services(), team, name);
    teamOfApp.set(t.app, team);
    return t;
  };
  /** Nothing of team b (app names, digests, deployment ids) in an answer a limited caller got. */
  const leaksOf = (data: unknown): string[] => {
    const text = JSON.stringify(data ?? null);
    const hidden = [...teamOfApp].filter(([, team]) => team === 'b').map(([name]) => name);
    return [...hidden, fixed.b.digest, fixed.b.deploymentId].filter((s) => text.includes(s));
  };

  beforeAll(async () => {
    const admin = callerAs(services(), actor('admin'));
    await admin.teams.create({ name: 'a' });
    await admin.teams.create({ name: 'b' });
    // Named to sort first, so the first page of a list by name shows both.
    fixed = { a: await target('a', `a0-fixed-a-${kind}`), b: await target('b', `a0-fixed-b-${kind}`) };
  });

  it('has every procedure of appRouter in the matrix, in one table', () => {
    const paths = Object.keys(procedureDefs());
    expect(paths.filter((p) => !(p in APP_SCOPED) && !(p in OTHER)), 'classify new procedures in team-matrix.int.test.ts').toEqual([]);
    expect(paths.filter((p) => p in APP_SCOPED && p in OTHER)).toEqual([]);
    expect([...Object.keys(APP_SCOPED), ...Object.keys(OTHER)].filter((p) => !paths.includes(p))).toEqual([]);
  });

  /** One procedure on one face against a team-a app, a team-b app and a missing one: [got, want] lines. */
  async function appScopedOnFace(who: Who, path: string, c: AppCase, face: ProcedureFace): Promise<[string[], string[]]> {
    const allowed = roleAllows(who.role, c.role);
    const got: string[] = [];
    const want: string[] = [];
    const answers: Partial<Record<'a' | 'b' | 'missing', { t: Target; out: Outcome }>> = {};
    for (const which of ['a', 'b', 'missing'] as const) {
      const t = which === 'missing' ? missingTarget() : c.fresh && allowed ? await target(which) : fixed[which];
      if (c.prepare && c.fresh && allowed && which !== 'missing') await c.prepare(services(), t);
      const out = await call(who, face, path, c.input(t));
      answers[which] = { t, out };
      got.push(`${face} ${path} ${which}: ${out.code}`);
      const hidden = which === 'missing' || (which === 'b' && who.teams !== null);
      want.push(`${face} ${path} ${which}: ${!allowed ? 'forbidden' : hidden ? 'not_found' : c.visible}`);
      if (who.teams && out.code === 'ok') expect(leaksOf(out.data), `${face} ${path} ${which}`).toEqual([]);
    }
    // Same words for a hidden app as for a missing one, once the names asked for are set aside.
    const { b, missing } = answers as Record<'b' | 'missing', { t: Target; out: Outcome }>;
    if (allowed && who.teams) expect(normalizeMessage(b.out.message, b.t), `${face} ${path}: team b vs missing`).toBe(normalizeMessage(missing.out.message, missing.t));
    return [got, want];
  }

  const ON_FACES = WHO.flatMap((who) => (['caller', 'trpc', 'rest'] as const).map((face) => ({ ...who, face })));

  it.each(ON_FACES)('app-scoped procedures as $label on $face: other teams answer like missing apps', async ({ face, ...who }) => {
    const got: string[] = [];
    const want: string[] = [];
    for (const [path, c] of Object.entries(APP_SCOPED)) {
      if (!facesOf(path).includes(face)) continue;
      const [g, w] = await appScopedOnFace(who, path, c, face);
      got.push(...g);
      want.push(...w);
    }
    expect(got).toEqual(want);
  });

  it.each(WHO)('every other procedure as $label: role gate, lists of its teams only, no leak', async (who) => {
    const got: string[] = [];
    const want: string[] = [];
    for (const [path, c] of Object.entries(OTHER)) {
      const allowed = c.role === 'public' || roleAllows(who.role, c.role);
      for (const face of facesOf(path)) {
        const out = await call(who, face, path, c.input?.());
        const verdict = !allowed ? out.code : ['forbidden', 'unauthorized', 'internal'].includes(out.code) ? `refused (${out.code}: ${out.message})` : 'served';
        got.push(`${face} ${path}: ${verdict}`);
        want.push(`${face} ${path}: ${allowed ? 'served' : 'forbidden'}`);
        if (out.code !== 'ok') continue;
        if (who.teams) expect(leaksOf(out.data), `${face} ${path}`).toEqual([]);
        if (c.teams) {
          const teams = c.teams(out.data, (name) => teamOfApp.get(name) ?? 'other');
          if (who.teams) expect(teams.filter((t) => t !== 'a'), `${face} ${path} lists only team a`).toEqual([]);
          if (path !== 'audit.list') expect(teams, `${face} ${path} lists team a`).toContain('a');
          if (!who.teams && path !== 'audit.list') expect(teams, `${face} ${path} lists team b too`).toContain('b');
        }
      }
    }
    expect(got).toEqual(want);
  });

  it('puts a limited caller’s app in its team and refuses another team: forbidden, nothing created', async () => {
    for (const who of WHO.filter((w) => w.teams && roleAllows(w.role, 'deployer'))) {
      for (const face of ['caller', 'trpc', 'rest'] as const) {
        const name = `nope-${randomUUID().slice(0, 8)}`;
        expect((await call(who, face, 'apps.create', { name, team: 'b' })).code, face).toBe('forbidden');
        expect((await callerAs(services(), actor('admin')).apps.list()).some((a) => a.name === name)).toBe(false);
        const mine = await call(who, face, 'apps.create', { name: `mine-${randomUUID().slice(0, 8)}` });
        expect([mine.code, (mine.data as { team: string }).team], face).toEqual(['ok', 'a']);
      }
    }
  });

  it('scopes the hand-written routes too: the legacy upload and logs by deployment id', async () => {
    const body = Buffer.from('not even a tarball');
    const digest = createHash('sha256').update(body).digest('hex');
    const upload = async (app: string) => {
      const res = await fetch(`${plane().url}/artifacts?app_name=${app}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${LIMITED_TOKENS.deployer}`, 'content-type': 'application/gzip', 'x-aether-artifact-digest': digest },
        body,
      });
      return [res.status, ((await res.json()) as { code?: string; message?: string }).message?.replace(app, '<app>')];
    };
    expect(await upload(fixed.b.app)).toEqual(await upload('no-such-app'));
    expect((await upload(fixed.b.app))[0]).toBe(404);

    const logs = async (app: string, deployment: string) => {
      const res = await fetch(`${plane().url}/apps/${app}/logs?deployment=${deployment}`, { headers: { authorization: `Bearer ${LIMITED_TOKENS.reader}` } });
      return [res.status, ((await res.json()) as { message?: string }).message?.replace(deployment, '<id>')];
    };
    // Another team's deployment under one's own app answers as an id nobody issued.
    expect(await logs(fixed.a.app, fixed.b.deploymentId)).toEqual(await logs(fixed.a.app, randomUUID()));
    expect(await logs(fixed.b.app, fixed.b.deploymentId)).toEqual([404, `app "${fixed.b.app}" not found`]);
  });

  it('answers HEAD /artifacts/{digest} for the caller’s teams only', async () => {
    const head = async (token: string, digest: string, app?: string) =>
      (await fetch(`${plane().url}/artifacts/${digest}${app ? `?app_name=${app}` : ''}`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } })).status;
    const { a, b } = fixed;
    expect([await head(LIMITED_TOKENS.reader, a.digest), await head(LIMITED_TOKENS.reader, a.digest, a.app)]).toEqual([200, 200]);
    expect([await head(LIMITED_TOKENS.reader, b.digest), await head(LIMITED_TOKENS.reader, b.digest, b.app)]).toEqual([404, 404]);
    expect([await head(TOKENS.reader, b.digest), await head(TOKENS.reader, b.digest, b.app)]).toEqual([200, 200]);
  });

  it('never limits an admin: not in AETHER_API_TOKENS, not through admin.tokens.create', async () => {
    expect(() => parseStaticTokens('tok-admin-a:admin:ops:a')).toThrow(/admin tokens cannot be limited/);
    const out = await callWithCaller(services(), actor('admin'), 'admin.tokens.create', { name: 'x', role: 'admin', teams: ['a'] });
    expect(out.code).toBe('bad_request');
  });

  it('a limited portal session cannot create an app in another team nor read one', async () => {
    const cookie = { cookie: `aether_session=${LIMITED_TOKENS.deployer}`, origin: plane().url };
    const name = `cookie-${randomUUID().slice(0, 8)}`;
    const create = await callOverTrpc(plane().url, cookie, 'apps.create', { name, team: 'b' });
    expect([create.code, create.message]).toEqual(['forbidden', 'team "b" is not one of yours (a)']);
    const read = await callOverTrpc(plane().url, cookie, 'apps.get', { app_name: fixed.b.app });
    const missing = await callOverTrpc(plane().url, cookie, 'apps.get', { app_name: 'no-such-app' });
    expect([read.code, read.message?.replace(fixed.b.app, '<app>')]).toEqual(['not_found', missing.message?.replace('no-such-app', '<app>')]);
    // The portal's logs route (Next only) streams through logsResponse as the session's actor.
    const asLimited = { ...services(), actor: actor('reader', ['a']) };
    const logs = (t: Target) => logsResponse(asLimited, new Request(plane().url), ZLogsInput.parse({ app_name: t.app }), 'ndjson');
    await expect(logs(fixed.b)).rejects.toMatchObject({ code: 'not_found', message: `app "${fixed.b.app}" not found` });
    await (await logs(fixed.a)).body?.cancel();
    expect((await callOverTrpc(plane().url, cookie, 'apps.get', { app_name: fixed.a.app })).code).toBe('ok');
  });
});
