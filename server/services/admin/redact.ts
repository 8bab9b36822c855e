/**
 * Redaction of whatever a job carries (payload, return value, error, stack) before an admin
 * sees it. Payloads are meant to hold ids only (server/queues/definitions.ts), but a job may
 * come from an older release, another tool, or an error message that quoted a URL: the portal
 * must not become the place where a secret leaks, so everything shown passes through here.
 */

export const REDACTED = '[redacted]';

/** Keys whose values are secret whatever they hold. */
const SECRET_KEY = /token|secret|passw(or)?d|passphrase|signature|credential|authori[sz]ation|cookie|api[-_]?key|private[-_]?key|access[-_]?key|session/i;

/** Secret-looking fragments inside free text, each replaced by REDACTED (URLs are handled apart). */
const SECRET_TEXT: RegExp[] = [
  /\baet_[A-Za-z0-9_-]{8,}/g, // our API tokens
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, // JWTs
  /\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, // AWS access key ids
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
];

/** `password=...`, `token: ...` in text: the label stays so the reader knows what was there. */
const SECRET_ASSIGNMENT = /\b(\w*(?:token|secret|password|passwd|signature|credential|api[-_]?key)\w*)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&,;"']+)/gi;

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;

/**
 * A URL keeps its scheme, host and path; its query (presigned URLs carry signatures and
 * credentials there), fragment and user info go.
 */
function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw;
  }
  const hadQuery = url.search.length > 1;
  const hadUser = url.username !== '' || url.password !== '';
  if (!hadQuery && !hadUser && !url.hash) return raw;
  const user = hadUser ? `${REDACTED}@` : '';
  return `${url.protocol}//${user}${url.host}${url.pathname}${hadQuery ? `?${REDACTED}` : ''}`;
}

/** Redacts secret-looking parts of free text (error messages, stack traces, string values). */
export function redactText(text: string): string {
  let out = text.replace(URL_IN_TEXT, (m) => redactUrl(m));
  for (const pattern of SECRET_TEXT) out = out.replace(pattern, REDACTED);
  return out.replace(SECRET_ASSIGNMENT, (_m, label: string, sep: string) => `${label}${sep}${REDACTED}`);
}

const MAX_DEPTH = 8;

/** A deep copy of `value` with secret keys blanked and secret-looking text redacted. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) && v !== null && v !== undefined ? REDACTED : redactSecrets(v, depth + 1);
  }
  return out;
}
