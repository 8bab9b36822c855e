import { chmod, lstat, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CliEnv } from '../config.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';
import { loadPathFilter } from '../pack/ignore-rules.js';
import { readProject, resolveAppName } from '../project.js';
import { generateSigningKeyPair, publicKeyFingerprint } from '../../server/contract/ed25519';
import { SIGNING_KEY_ENV } from '../sign.js';

export interface KeysGenerateOptions {
  /** Private key file; the public key goes to `<out>.pub`. Default `./aether-signing.key`. */
  out?: string;
  format: 'text' | 'json';
  /** App name for the printed `aether keys add` command (default: from package.json). */
  app?: string;
  /** Directory `out` is relative to; default process.cwd(). */
  cwd?: string;
}

export const DEFAULT_KEY_FILE = 'aether-signing.key';

/**
 * Writes a new Ed25519 key pair: the private seed as hex to `<out>` (0600) and the public key
 * as hex to `<out>.pub` (0644), refusing to replace either file (losing a signing key is not
 * undoable). Prints the public key and how to register and use it.
 */
export async function keysGenerateCommand(opts: KeysGenerateOptions, _env: CliEnv, out: Output): Promise<number> {
  const cwd = opts.cwd ?? process.cwd();
  const given = opts.out ?? `./${DEFAULT_KEY_FILE}`;
  const privateFile = path.resolve(cwd, given);
  const publicFile = `${privateFile}.pub`;
  const { privateSeedHex, publicKeyHex } = generateSigningKeyPair();

  for (const file of [privateFile, publicFile]) await refuseExisting(file);
  // Public first (the exclusive create still guards against a race): if the private write then
  // fails, the public key goes too.
  await createFile(publicFile, `${publicKeyHex}\n`, 0o644);
  try {
    await createFile(privateFile, `${privateSeedHex}\n`, 0o600);
  } catch (err) {
    await rm(publicFile, { force: true });
    throw err;
  }

  const fingerprint = publicKeyFingerprint(publicKeyHex);
  await warnIfPacked(cwd, privateFile, out);
  if (opts.format === 'json') {
    out.json({ private_key_file: privateFile, public_key_file: publicFile, public_key_hex: publicKeyHex, fingerprint });
    return EXIT.ok;
  }
  const app = opts.app ? shellQuote(opts.app) : await appNameOrPlaceholder(cwd);
  out.result(
    [
      `private key: ${given} (0600, keep it secret)`,
      `public key:  ${given}.pub`,
      '',
      `public key hex: ${publicKeyHex}`,
      `fingerprint:    ${fingerprint}`,
      '',
      'Register the public key for the app (admin):',
      `  aether keys add --app ${app} --public-key ${publicKeyHex}`,
      'Sign deploys with the private key:',
      `  export ${SIGNING_KEY_ENV}=$(cat ${shellQuote(given)})`,
    ].join('\n'),
  );
  return EXIT.ok;
}

const alreadyExists = (file: string) =>
  new CliError(EXIT.usage, `${file} already exists: not overwriting it`, 'pass --out <file> for another location, or move the old key away first');

async function refuseExisting(file: string): Promise<void> {
  const found = await lstat(file).then(
    () => true,
    (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? false : Promise.reject(err)),
  );
  if (found) throw alreadyExists(file);
}

/** Creates `file` with `mode`, never replacing one (exists -> usage error). */
async function createFile(file: string, content: string, mode: number): Promise<void> {
  try {
    await writeFile(file, content, { flag: 'wx', mode });
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'EEXIST' ? alreadyExists(file) : err;
  }
  // The umask may have cleared bits of `mode` (a public key must stay world-readable).
  await chmod(file, mode);
}

/** A key file inside the project that .aetherignore does not exclude would ship in the artifact. */
async function warnIfPacked(cwd: string, file: string, out: Output): Promise<void> {
  const rel = path.relative(cwd, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return;
  try {
    await readProject(cwd);
  } catch {
    return; // not a project directory: nothing gets packed from here
  }
  const include = await loadPathFilter(cwd);
  const segments = rel.split(path.sep);
  // Packed only if no parent directory is excluded either (the packer prunes those).
  const packed = segments.every((_, i) => include(segments.slice(0, i + 1).join('/'), i < segments.length - 1));
  if (packed) {
    out.warn(`${rel} is inside the project and would be packed into the artifact: add it to .aetherignore (and .gitignore)`);
  }
}

async function appNameOrPlaceholder(cwd: string): Promise<string> {
  try {
    return resolveAppName(await readProject(cwd), undefined);
  } catch {
    return '<app>';
  }
}

/** Quotes for a POSIX shell unless the word is plainly safe. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
