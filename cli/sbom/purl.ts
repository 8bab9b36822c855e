/**
 * Package URLs for npm packages (purl spec, type `npm`): `pkg:npm/<namespace>/<name>@<version>`
 * where the namespace is the scope with its `@`, percent-encoded: `@types/node` 20.1.0 is
 * `pkg:npm/%40types/node@20.1.0`. The spec lowercases npm names (new names cannot have
 * capitals; a few old ones do), so two spellings of one package get one purl.
 */
export function npmPurl(name: string, version: string, qualifiers: Record<string, string> = {}): string {
  const { scope, bare } = splitScope(name);
  let purl = `pkg:npm/${scope ? `${encodeSegment(scope.toLowerCase())}/` : ''}${encodeSegment(bare.toLowerCase())}`;
  if (version) purl += `@${encodeSegment(version)}`;
  const keys = Object.keys(qualifiers).filter((k) => qualifiers[k]).sort();
  if (keys.length) purl += `?${keys.map((k) => `${k}=${encodeSegment(qualifiers[k]!)}`).join('&')}`;
  return purl;
}

/**
 * Percent-encodes everything but the purl spec's unreserved characters. Stricter than
 * encodeURIComponent, which leaves `!*'()` alone (legal in old npm names).
 */
function encodeSegment(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'), (byte) => {
    const ch = String.fromCharCode(byte);
    return /[A-Za-z0-9.\-_~]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/** The scope (`@acme`) and bare name of an npm package name; scope '' when unscoped. */
export function splitScope(name: string): { scope: string; bare: string } {
  const slash = name.startsWith('@') ? name.indexOf('/') : -1;
  return slash > 0 ? { scope: name.slice(0, slash), bare: name.slice(slash + 1) } : { scope: '', bare: name };
}
