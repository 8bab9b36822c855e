import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import ignore from 'ignore';

/** The project's ignore file, read from the project root only (gitignore syntax). */
export const IGNORE_FILE = '.aetherignore';
/** Used only when the project has no `.aetherignore`. */
export const GITIGNORE_FILE = '.gitignore';

/**
 * Excluded at any depth whatever `.aetherignore` says, so a negation cannot bring them back:
 * VCS data (may hold credentials in remotes), our own data dir, Finder litter.
 */
const ALWAYS_EXCLUDED_NAMES: ReadonlySet<string> = new Set(['.git', '.aether', '.DS_Store']);

/**
 * Artifacts and sidecars the CLI writes into the project root. The 64-hex part is the digest
 * format of server/contract/digest.ts, spelled out here because that module loads zod (~75 ms
 * of cold start); tests/unit/pack.test.ts checks the two agree.
 */
export const ARTIFACT_FILE_RE = /^app-[0-9a-f]{64}\.tar\.gz(?:\.manifest\.json|\.sbom\.json|\.sig)?$/;

/** Temp files the packer writes before renaming; a killed run's leftover must never ship. */
export const PACK_TEMP_RE = /^\.aether-pack-[0-9a-f]{16}\.tmp$/;

/** A fresh temp path in the same directory as `target` (so the final rename stays atomic). */
export function packTempPath(target: string): string {
  return join(dirname(target), `.aether-pack-${randomBytes(8).toString('hex')}.tmp`);
}

/** Decides whether a POSIX path relative to the project root goes into the artifact. */
export type PathFilter = (relPath: string, isDirectory: boolean) => boolean;

/** Files at the root that never ship: the CLI's own signing key and install-cache marker. */
const ROOT_EXCLUDED_PATHS: ReadonlySet<string> = new Set(['aether-signing.key', 'aether-signing.key.pub', 'node_modules/.aether-install-key']);

/**
 * Builds the include filter for a project: built-in excludes first (not overridable), then
 * gitignore-semantics rules from `.aetherignore` or, when the project has none, `.gitignore`
 * (npm's `.npmignore` convention). `.gitignore` almost always lists `node_modules`, which is the
 * point of the artifact, so its rules never exclude the root `node_modules`.
 */
export async function loadPathFilter(root: string): Promise<PathFilter> {
  const aether = await readIgnoreFile(root, IGNORE_FILE);
  const fromGit = aether === null;
  const text = aether ?? (await readIgnoreFile(root, GITIGNORE_FILE)) ?? '';
  // Case-sensitive like git on Linux: `ignore` folds case by default, which would make the
  // artifact depend on the rules' spelling differently from the machine that built it.
  const rules = ignore({ ignorecase: false }).add(text);
  return (relPath, isDirectory) => {
    const name = relPath.slice(relPath.lastIndexOf('/') + 1);
    if (ALWAYS_EXCLUDED_NAMES.has(name) || PACK_TEMP_RE.test(name) || ROOT_EXCLUDED_PATHS.has(relPath)) return false;
    if (name === relPath && !isDirectory && ARTIFACT_FILE_RE.test(name)) return false;
    if (fromGit && (relPath === 'node_modules' || relPath.startsWith('node_modules/'))) return true;
    // A trailing slash is how `ignore` knows to apply directory-only patterns (`tmp/`).
    return !rules.ignores(isDirectory ? `${relPath}/` : relPath);
  };
}

/** The file's rules, or null when the project has no such file. */
async function readIgnoreFile(root: string, file: string): Promise<string | null> {
  try {
    const text = await readFile(join(root, file), 'utf8');
    return text.replace(/^\uFEFF/, '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
