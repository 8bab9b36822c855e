/**
 * The rules for app config names and values, zod-free so the CLI checks them before a round
 * trip without paying for zod at cold start. Every message names the variable, never its value.
 */

export const CONFIG_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const MAX_CONFIG_NAME_LENGTH = 255;
export const MAX_CONFIG_VALUE_BYTES = 32 * 1024;
export const MAX_CONFIG_VARS = 500;
/**
 * Most bytes of one app's whole config (each `NAME=value`): an exec takes about 2 MiB of
 * environment and argv on Linux (E2BIG past it), and a Kubernetes Secret 1 MiB, base64 inside.
 */
export const MAX_CONFIG_TOTAL_BYTES = 512 * 1024;
/** Set by the platform itself: an app's config may not shadow them. */
export const RESERVED_CONFIG_NAMES = ['PORT'] as const;
export const RESERVED_CONFIG_PREFIX = 'AETHER_';
/** What `list` shows in place of a secret's value. */
export const SECRET_MASK = '••••••••';

/** Why `name` cannot be a config variable, or null when it can. */
export function configNameProblem(name: string): string | null {
  if (name.length === 0) return 'a variable name is empty';
  const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  if (name.length > MAX_CONFIG_NAME_LENGTH) return `variable name "${shown}" is longer than ${MAX_CONFIG_NAME_LENGTH} characters`;
  if (!CONFIG_NAME_RE.test(name)) return `variable name ${JSON.stringify(shown)} is not a POSIX name (letters, digits and _, not starting with a digit)`;
  if ((RESERVED_CONFIG_NAMES as readonly string[]).includes(name)) return `variable ${name} is reserved: the platform sets it`;
  if (name.toUpperCase().startsWith(RESERVED_CONFIG_PREFIX)) return `variable ${name} is reserved: names starting with ${RESERVED_CONFIG_PREFIX} belong to the platform`;
  return null;
}

/** Why `value` cannot be the value of `name` (named, never quoted), or null when it can. */
export function configValueProblem(name: string, value: string): string | null {
  if (value.includes('\0')) return `the value of ${name} contains a NUL byte, which no environment variable can hold`;
  const bytes = new TextEncoder().encode(value).length;
  if (bytes > MAX_CONFIG_VALUE_BYTES) return `the value of ${name} is ${bytes} bytes; at most ${MAX_CONFIG_VALUE_BYTES} are allowed`;
  return null;
}
