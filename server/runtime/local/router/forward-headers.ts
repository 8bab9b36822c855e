/**
 * Header rewriting between client and instance, on Node's raw header lists ([name, value, ...])
 * so nothing builds the lazy `headers` object per request.
 */

/** Hop-by-hop headers (RFC 9110 7.6.1): they describe one connection, never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
/** Set by the router itself: a caller's copies are replaced (X-Forwarded-For is appended to). */
/** HAProxy in front proves itself with this header (a per-boot secret); never forwarded. */
export const FRONT_HEADER = 'x-aether-front';
const ROUTER_SET = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id', FRONT_HEADER]);
/** Other proxies' claims about the client: a caller's own would be believed by apps behind us. */
const CLIENT_CLAIMS = new Set(['forwarded', 'x-real-ip', 'x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-server']);
const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestHead {
  /** Headers to send upstream, without hop-by-hop and router-set ones. */
  headers: string[];
  host: string | undefined;
  /** More than one Host header: ambiguous, answered 400 (RFC 9112 3.2). */
  hostRepeated: boolean;
  /** The caller's X-Request-Id when well-formed. */
  requestId: string | undefined;
  forwardedFor: string | undefined;
  /** The front's secret, when HAProxy handed the request over. */
  frontToken: string | undefined;
  /** Transfer-Encoding was present: the body is streamed to the instance chunked. */
  chunked: boolean;
  contentLength: string | undefined;
}

/** Connection tokens other than the usual ones name more hop-by-hop headers. */
function connectionListed(value: string): Set<string> | null {
  let listed: Set<string> | null = null;
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name === '' || name === 'close' || name === 'keep-alive' || name === 'upgrade') continue;
    (listed ??= new Set()).add(name);
  }
  return listed;
}

/** `upgrade`: keep Connection and Upgrade, which are the point of the request. */
export function scanRequestHead(raw: string[], upgrade: boolean): RequestHead {
  const headers: string[] = [];
  let host: string | undefined;
  let hostRepeated = false;
  let requestId: string | undefined;
  let forwardedFor: string | undefined;
  let frontToken: string | undefined;
  let chunked = false;
  let contentLength: string | undefined;
  let listed: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'transfer-encoding') chunked = true;
      else if (lower === 'connection') {
        listed = connectionListed(value);
        if (upgrade) headers.push(name, value);
      } else if (upgrade && lower === 'upgrade') headers.push(name, value);
      continue;
    }
    if (ROUTER_SET.has(lower)) {
      if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (lower === 'x-request-id' && REQUEST_ID_RE.test(value)) requestId = value;
      else if (lower === FRONT_HEADER) frontToken = value;
      continue;
    }
    if (CLIENT_CLAIMS.has(lower)) continue;
    if (lower === 'host') {
      if (host === undefined) host = value;
      else hostRepeated = true;
    }
    else if (lower === 'content-length') contentLength = value;
    // Node's server answered 100-continue to the client already: the instance gets the body outright.
    else if (lower === 'expect' && !upgrade) continue;
    headers.push(name, value);
  }
  return { headers: listed ? withoutListed(headers, listed) : headers, host, hostRepeated, requestId, forwardedFor, frontToken, chunked, contentLength };
}

export interface ResponseHead {
  headers: string[];
  eventStream: boolean;
}

/** The instance's response headers for the client, with the request id in place of any of its own. */
export function responseHead(raw: string[], requestId: string, upgrade = false): ResponseHead {
  const headers: string[] = [];
  let listed: Set<string> | null = null;
  let eventStream = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') listed = connectionListed(value);
      if (upgrade && (lower === 'connection' || lower === 'upgrade')) headers.push(name, value);
      continue;
    }
    if (lower === 'x-request-id') continue;
    if (lower === 'content-type' && value.startsWith('text/event-stream')) eventStream = true;
    headers.push(name, value);
  }
  headers.push('X-Request-Id', requestId);
  return { headers: listed ? withoutListed(headers, listed) : headers, eventStream };
}

function withoutListed(headers: string[], listed: Set<string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (!listed.has(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  return kept;
}

/** The request line's target; an absolute-form URL is reduced to its path (only Host picks the app). */
export function originForm(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */ || url === '*') return url;
  try {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  } catch {
    return '/';
  }
}
