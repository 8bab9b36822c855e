/** Where the portal sends a user whose requested page is unknown or unsafe. */
export const DEFAULT_RETURN_PATH = '/console';

// Browsers drop tabs and newlines inside URLs and read a backslash as a slash, so "/\t/evil"
// and "/\\evil" mean "//evil", another host. Control characters would also break the header.
const UNSAFE = /[\u0000-\u001f\u007f\\]/;
const BASE = 'http://return-to.invalid';

/**
 * The path to send a signed-in user back to: `value` when it is a path on this site, otherwise
 * the default. Returned in its parsed, percent-encoded form, so it is safe in a Location header.
 * `/%2F%2Fevil` stays encoded and so stays a path here.
 */
export function safeReturnPath(value: unknown, fallback = DEFAULT_RETURN_PATH): string {
  if (typeof value !== 'string' || value.length > 2048) return fallback;
  if (!value.startsWith('/') || value.startsWith('//') || UNSAFE.test(value)) return fallback;
  let url: URL;
  try {
    url = new URL(value, BASE);
  } catch {
    return fallback;
  }
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Dot segments can collapse into a leading "//" ("/.//evil"), which a Location reads as a host.
  if (url.origin !== BASE || path.startsWith('//')) return fallback;
  return path;
}
