/**
 * HAProxy's configuration for the router's front. HAProxy serves the hot path itself (a known
 * app's current release, its ready instances) and hands everything else (unknown hosts,
 * deployment prefixes, stopped or crash-looping apps, odd Host headers) to the Node.js router
 * behind it, which owns those answers. Apps live in numbered slot backends whose servers and
 * host map entries change at runtime (no reload, so no client connection is ever closed under
 * it); the file is rendered whole only at start and when the slots run out.
 */

import { FRONT_HEADER } from '../forward-headers';
import { html } from '../pages';

export interface FrontSettings {
  host: string;
  port: number;
  /** The Node.js router, on 127.0.0.1. */
  fallbackPort: number;
  /** Proves to the Node.js router that a request came through HAProxy (hex). */
  frontSecret: string;
  /** The worker's admin socket; it also hands the listening socket to the next worker on reload. */
  statsSocket: string;
  /** Host name to slot backend, one per line. */
  mapFile: string;
  /** The raw answer when every instance of an app refused. */
  noInstanceFile: string;
  /** An old worker left with requests after a reload is stopped after this. */
  hardStopAfterMs: number;
  /** A client must send its whole request head within this (slowloris). */
  headersTimeoutMs: number;
  /** Workers drop to nobody (65534) when the control plane is root; the master keeps root to reload. */
  dropPrivileges: boolean;
  /** HAProxy's threads: it shares the host's cores with the apps it serves, so half of them. */
  threads: number;
}

/** A slot's servers as HAProxy should know them: `enabled` false is draining (maintenance). */
export interface SlotState {
  slot: number;
  servers: Array<{ port: number; enabled: boolean }>;
}

const REQUEST_ID = '^[A-Za-z0-9._:-]{1,128}$';
const HOST = '^[A-Za-z0-9.-]+(:[0-9]{1,5})?$';
/** Other proxies' claims about the client: a caller's own would be believed by apps behind us. */
const CLIENT_CLAIMS = ['Forwarded', 'X-Real-IP', 'X-Forwarded-Port', 'X-Forwarded-Prefix', 'X-Forwarded-Server', FRONT_HEADER];

export const slotBackend = (slot: number) => `slot${slot}`;
export const serverName = (port: number) => `p${port}`;

export function renderConfig(s: FrontSettings, slots: number, state: SlotState[]): string {
  const bySlot = new Map(state.map((st) => [st.slot, st.servers]));
  const lines = [
    'global',
    `  stats socket ${s.statsSocket} mode 600 level admin expose-fd listeners`,
    `  hard-stop-after ${Math.max(1, Math.ceil(s.hardStopAfterMs / 1000))}s`,
    ...(s.dropPrivileges ? ['  uid 65534', '  gid 65534'] : []),
    `  nbthread ${s.threads}`,
    // The port is never shared with another process (a HAProxy left behind would take half the
    // connections); a reload hands the socket over instead (expose-fd listeners).
    '  noreuseport',
    'defaults',
    '  mode http',
    '  option http-keep-alive',
    '  option dontlognull',
    '  timeout connect 2s',
    // Streams and event streams may stay quiet for long; the apps own their timeouts, as behind the Node.js router.
    '  timeout client 1h',
    '  timeout server 1h',
    '  timeout tunnel 1h',
    `  timeout http-request ${s.headersTimeoutMs}ms`,
    '  timeout http-keep-alive 5s',
    '  timeout client-fin 5s',
    'frontend router',
    `  bind ${s.host}:${s.port}`,
    // One well-formed id, the caller's or a new one, travels to the instance and back.
    `  http-request set-header X-Request-Id %[uuid] unless { req.hdr_cnt(x-request-id) eq 1 } { req.hdr(x-request-id) -m reg ${REQUEST_ID} }`,
    '  http-request set-var(txn.request_id) req.hdr(x-request-id)',
    // Also on HAProxy's own answers (errors, the 502 page).
    '  http-after-response set-header X-Request-Id %[var(txn.request_id)] if { var(txn.request_id) -m found }',
    // Exactly one Host (a name, maybe a numeric port) that names a served app, and an origin-form
    // target; the rest is the Node.js router's.
    `  use_backend %[req.hdr(host),field(1,:),lower,map(${s.mapFile},fallback)] if { req.hdr_cnt(host) eq 1 } { req.hdr(host) -m reg ${HOST} } { req.fhdr_cnt(x-forwarded-for) le 1 } { url_beg / }`,
    '  default_backend fallback',
    'backend fallback',
    '  option forwardfor',
    `  http-request set-header ${FRONT_HEADER} ${s.frontSecret}`,
    `  server router 127.0.0.1:${s.fallbackPort}`,
  ];
  for (let slot = 0; slot < slots; slot++) {
    lines.push(
      `backend ${slotBackend(slot)}`,
      '  balance roundrobin',
      '  http-reuse safe',
      // A refused connection (the instance just died) goes to another instance; a reset before
      // any answer is retried only for methods that are safe to send twice.
      '  retries 2',
      '  option redispatch 1',
      '  retry-on conn-failure empty-response',
      '  http-request disable-l7-retry unless { method GET HEAD OPTIONS }',
      ...CLIENT_CLAIMS.map((h) => `  http-request del-header ${h}`),
      // One X-Forwarded-For line ending with the client, as the Node.js router sends it: an app
      // reading the first line must not get a caller's own claim.
      `  http-request set-header X-Forwarded-For "%[req.fhdr(x-forwarded-for)], %[src]" if { req.fhdr_cnt(x-forwarded-for) eq 1 }`,
      '  http-request set-header X-Forwarded-For %[src] if { req.fhdr_cnt(x-forwarded-for) eq 0 }',
      '  http-request set-header X-Forwarded-Proto http',
      '  http-request set-header X-Forwarded-Host %[req.hdr(host)]',
      `  errorfile 503 ${s.noInstanceFile}`,
      ...(bySlot.get(slot) ?? []).map(({ port, enabled }) => `  server ${serverName(port)} 127.0.0.1:${port}${enabled ? '' : ' disabled'}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function renderHostMap(entries: Array<[host: string, slot: number]>): string {
  return entries.map(([host, slot]) => `${host} ${slotBackend(slot)}\n`).join('');
}

/**
 * What a client gets when every instance of an app refused (they all died since the last
 * check), as raw HTTP, which is how HAProxy sends an errorfile: the Node.js router's 502.
 */
export function noInstanceResponse(): string {
  const body = html('502 Bad Gateway', 'Nothing is running for this app right now.');
  return `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${body.length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body.toString()}`;
}
