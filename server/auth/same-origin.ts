/**
 * True when a browser request comes from our own pages, so a cookie riding along on it can be
 * trusted for a state-changing call. The Origin must be the public URL's origin or the host the
 * request was sent to (behind a proxy that rewrites Host, only the former matches). Browsers
 * send Origin on every POST; a request without one is refused, and so is one whose
 * Sec-Fetch-Site (where sent) says it did not come from this origin: a tenant app at
 * `<app>.localhost` is same-site to a portal on `localhost`, and SameSite cookies reach it.
 */
export function isSameOriginRequest(headers: Headers, publicUrl: string): boolean {
  const fetchSite = headers.get('sec-fetch-site');
  if (fetchSite !== null && fetchSite !== 'same-origin') return false;
  const origin = parseUrl(headers.get('origin'));
  if (!origin) return false;
  if (origin.origin === parseUrl(publicUrl)?.origin) return true;
  const host = headers.get('host');
  // The Host header carries no scheme: read it with the Origin's so default ports compare equal.
  return host !== null && origin.host === parseUrl(`${origin.protocol}//${host}`)?.host;
}

function parseUrl(value: string | null): URL | null {
  // "null" is what sandboxed frames and some redirects send: never ours.
  if (!value || value === 'null') return null;
  try {
    return new URL(value);
  } catch {
    return null;
  }
}
