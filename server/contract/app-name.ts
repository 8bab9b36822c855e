/**
 * App names are DNS labels (RFC 1123): they become Kubernetes object names, hostnames and
 * storage key segments, so the rule is the strictest of those. Zod-free so the CLI can import
 * it without paying for zod at cold start.
 */
export const APP_NAME_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export const APP_NAME_RULE = 'app name must be a DNS label: lowercase letters, digits and "-", 1-63 chars, starting and ending alphanumeric';

/** Turns a package.json name (maybe scoped, mixed case) into a valid app name, or null. */
export function appNameFromPackageName(name: string): string | null {
  const candidate = name
    .replace(/^@[^/]+\//, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/g, '');
  return APP_NAME_RE.test(candidate) ? candidate : null;
}
