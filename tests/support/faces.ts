import type { Role } from '../../server/auth/roles';
import { TOKENS, type TestPlane } from './harness';

/**
 * The two HTTP faces of one procedure, called the same way: REST at the seed's path (JSON body,
 * path and query parameters taken from the input) and tRPC at `/api/trpc/<procedure>`. Both
 * answer a {@link FaceResult}, so one table of cases can assert both.
 */

export type Face = 'rest' | 'trpc';
/** Only the address is needed: an in-process test plane or a control-plane process. */
export type PlaneUrl = Pick<TestPlane, 'url'>;
export const FACES: Face[] = ['rest', 'trpc'];

interface OpDef {
  procedure: string;
  type: 'query' | 'mutation';
  method: 'GET' | 'POST' | 'PATCH' | 'HEAD' | 'DELETE';
  /** `{name}` segments are filled from the input (and removed from the body or query). */
  path: `/${string}`;
}

/** Every operation the artifact tests call, with its REST route and its tRPC procedure. */
export const OPS = {
  presign: { procedure: 'artifacts.presign', type: 'mutation', method: 'POST', path: '/artifacts/presign' },
  complete: { procedure: 'artifacts.complete', type: 'mutation', method: 'POST', path: '/artifacts/complete' },
  multipartInit: { procedure: 'artifacts.multipartInit', type: 'mutation', method: 'POST', path: '/artifacts/multipart/init' },
  multipartPresignPart: { procedure: 'artifacts.multipartPresignPart', type: 'mutation', method: 'POST', path: '/artifacts/multipart/presign-part' },
  multipartPresignParts: { procedure: 'artifacts.multipartPresignParts', type: 'mutation', method: 'POST', path: '/artifacts/multipart/presign-parts' },
  multipartComplete: { procedure: 'artifacts.multipartComplete', type: 'mutation', method: 'POST', path: '/artifacts/multipart/complete' },
  multipartAbort: { procedure: 'artifacts.multipartAbort', type: 'mutation', method: 'POST', path: '/artifacts/multipart/abort' },
  list: { procedure: 'artifacts.list', type: 'query', method: 'GET', path: '/artifacts' },
  meta: { procedure: 'artifacts.meta', type: 'query', method: 'GET', path: '/artifacts/{digest}/meta' },
  /** REST only (`HEAD /artifacts/{digest}`); on the tRPC face the nearest procedure, `artifacts.meta`. */
  head: { procedure: 'artifacts.meta', type: 'query', method: 'HEAD', path: '/artifacts/{digest}' },
  get: { procedure: 'artifacts.get', type: 'query', method: 'GET', path: '/apps/{app_name}/artifacts/{digest}' },
  setLimits: { procedure: 'apps.setLimits', type: 'mutation', method: 'PATCH', path: '/apps/{app_name}/limits' },
  createDeployment: { procedure: 'deployments.create', type: 'mutation', method: 'POST', path: '/deployments' },
  createApp: { procedure: 'apps.create', type: 'mutation', method: 'POST', path: '/apps' },
  whoami: { procedure: 'session.whoami', type: 'query', method: 'GET', path: '/whoami' },
  listApps: { procedure: 'apps.list', type: 'query', method: 'GET', path: '/apps' },
  getApp: { procedure: 'apps.get', type: 'query', method: 'GET', path: '/apps/{app_name}' },
  updateApp: { procedure: 'apps.update', type: 'mutation', method: 'PATCH', path: '/apps/{app_name}' },
  scaleApp: { procedure: 'apps.scale', type: 'mutation', method: 'POST', path: '/apps/{app_name}/scale' },
  stopApp: { procedure: 'apps.stop', type: 'mutation', method: 'POST', path: '/apps/{app_name}/stop' },
  startApp: { procedure: 'apps.start', type: 'mutation', method: 'POST', path: '/apps/{app_name}/start' },
  restartApp: { procedure: 'apps.restart', type: 'mutation', method: 'POST', path: '/apps/{app_name}/restart' },
  configList: { procedure: 'config.list', type: 'query', method: 'GET', path: '/apps/{app_name}/config' },
  configChange: { procedure: 'config.change', type: 'mutation', method: 'PATCH', path: '/apps/{app_name}/config' },
  configDeploy: { procedure: 'config.deploy', type: 'mutation', method: 'POST', path: '/apps/{app_name}/config/deploy' },
  rollback: { procedure: 'deployments.rollback', type: 'mutation', method: 'POST', path: '/apps/{app_name}/rollback' },
  getDeployment: { procedure: 'deployments.get', type: 'query', method: 'GET', path: '/deployments/{id}' },
  waitDeployment: { procedure: 'deployments.wait', type: 'query', method: 'GET', path: '/deployments/{id}/wait' },
  deploymentEvents: { procedure: 'deployments.events', type: 'query', method: 'GET', path: '/deployments/{id}/events' },
  listDeployments: { procedure: 'deployments.list', type: 'query', method: 'GET', path: '/apps/{app_name}/deployments' },
  listTeams: { procedure: 'teams.list', type: 'query', method: 'GET', path: '/teams' },
  createTeam: { procedure: 'teams.create', type: 'mutation', method: 'POST', path: '/teams' },
  deleteTeam: { procedure: 'teams.delete', type: 'mutation', method: 'DELETE', path: '/teams/{name}' },
} as const satisfies Record<string, OpDef>;

export type Op = keyof typeof OPS;

/**
 * `null`: no Authorization header; `'wrong'`: a well-formed token nobody issued; `bearer`: that
 * token (e.g. one limited to teams); `cookie`: the portal's session cookie holding that token,
 * sent from the portal's origin (tRPC only: REST takes bearer tokens).
 */
export type TokenSpec = Role | 'wrong' | null | { bearer: string } | { cookie: string };

export interface FaceCall {
  op: Op;
  input?: unknown;
  /** Sent verbatim as the body (mutations) or the `input` query parameter (tRPC queries). */
  raw?: string;
  /** Content type of a body; `null` sends none. Default `application/json`. */
  contentType?: string | null;
  /** Default `deployer`. */
  token?: TokenSpec;
}

export interface FaceResult {
  status: number;
  /** The error code: REST envelope `code`, tRPC `error.data.code`; undefined on success or without a body. */
  code?: string;
  message?: string;
  /** The success payload (REST body, tRPC `result.data`), or the raw error body. */
  data: unknown;
}

function authHeader(token: TokenSpec | undefined, planeUrl: string): Record<string, string> {
  const t = token === undefined ? 'deployer' : token;
  if (t === null) return {};
  if (typeof t === 'object' && 'bearer' in t) return { authorization: `Bearer ${t.bearer}` };
  if (typeof t === 'object') return { cookie: `aether_session=${encodeURIComponent(t.cookie)}`, origin: planeUrl };
  return { authorization: `Bearer ${t === 'wrong' ? 'not-a-token-anyone-issued' : TOKENS[t]}` };
}

function fillPath(path: string, input: unknown): { path: string; rest: unknown } {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return { path: path.replace(/\{[a-z_]+\}/g, ''), rest: input };
  const rest: Record<string, unknown> = { ...(input as Record<string, unknown>) };
  const filled = path.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const v = rest[name];
    delete rest[name];
    return v === undefined ? '' : encodeURIComponent(String(v));
  });
  return { path: filled, rest };
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Calls `call.op` over one face of `plane`, over real HTTP. */
export async function callFace(plane: PlaneUrl, face: Face, call: FaceCall): Promise<FaceResult> {
  return face === 'rest' ? callRest(plane, call) : callTrpc(plane, call);
}

async function callRest(plane: PlaneUrl, call: FaceCall): Promise<FaceResult> {
  const def: OpDef = OPS[call.op];
  const { path, rest } = fillPath(def.path, call.input);
  const headers: Record<string, string> = authHeader(call.token, plane.url);
  let url = `${plane.url}${path}`;
  let body: string | undefined;
  if (def.method === 'GET' || def.method === 'HEAD' || (def.method === 'DELETE' && call.raw === undefined)) {
    const qs = new URLSearchParams();
    if (rest && typeof rest === 'object') for (const [k, v] of Object.entries(rest)) if (v !== undefined) qs.set(k, String(v));
    if ([...qs].length) url += `?${qs}`;
  } else {
    body = call.raw ?? JSON.stringify(rest ?? {});
    const ct = call.contentType === undefined ? 'application/json' : call.contentType;
    if (ct !== null) headers['content-type'] = ct;
  }
  const res = await fetch(url, { method: def.method, headers, body });
  const data = def.method === 'HEAD' ? undefined : await readJson(res);
  if (res.status < 400) return { status: res.status, data };
  const env = (data ?? {}) as { code?: string; message?: string };
  return { status: res.status, code: env.code, message: env.message, data };
}

async function callTrpc(plane: PlaneUrl, call: FaceCall): Promise<FaceResult> {
  const def: OpDef = OPS[call.op];
  const headers: Record<string, string> = authHeader(call.token, plane.url);
  let url = `${plane.url}/api/trpc/${def.procedure}`;
  let init: RequestInit;
  if (def.type === 'query') {
    const input = call.raw ?? (call.input === undefined ? undefined : JSON.stringify(call.input));
    if (input !== undefined) url += `?input=${encodeURIComponent(input)}`;
    init = { method: 'GET', headers };
  } else {
    const ct = call.contentType === undefined ? 'application/json' : call.contentType;
    if (ct !== null) headers['content-type'] = ct;
    init = { method: 'POST', headers, body: call.raw ?? JSON.stringify(call.input ?? {}) };
  }
  const res = await fetch(url, init);
  const data = (await readJson(res)) as { result?: { data?: unknown }; error?: { message?: string; data?: { code?: string } } } | undefined;
  if (res.status < 400) return { status: res.status, data: data?.result?.data };
  return { status: res.status, code: data?.error?.data?.code, message: data?.error?.message, data };
}

/** Like {@link callFace}, but throws unless the call succeeded; returns the payload. */
export async function callOk<T>(plane: PlaneUrl, face: Face, call: FaceCall): Promise<T> {
  const res = await callFace(plane, face, call);
  if (res.status >= 400) throw new Error(`${face} ${call.op} failed: ${res.status} ${res.code}: ${res.message}`);
  return res.data as T;
}
