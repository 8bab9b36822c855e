import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keysGenerateCommand } from '../../cli/commands/keys-generate.js';
import { CliError, EXIT } from '../../cli/errors.js';
import type { Output } from '../../cli/output.js';
import { loadSigningKey, signArtifact } from '../../cli/sign.js';
import { generateSigningKeyPair, publicKeyFingerprint, publicKeyFromSeed, signDigest, verifyDigestSignature } from '../../server/contract/ed25519.js';
import { useTempTrees } from '../support/tree.js';

// RFC 8032 §7.1, TEST 1.
const RFC_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const RFC_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
const DIGEST = createHash('sha256').update('artifact bytes').digest('hex');

const temp = useTempTrees();
const tempDir = () => temp.tempDir('aether-sign-');


function captureOutput() {
  const captured = { results: [] as string[], json: [] as unknown[], warnings: [] as string[] };
  const out: Output = {
    log: (level, msg) => {
      if (level === 'warn') captured.warnings.push(msg);
    },
    info: () => {},
    warn: (msg) => captured.warnings.push(msg),
    result: (text) => captured.results.push(text),
    json: (value) => captured.json.push(value),
  };
  return { out, captured };
}

function expectCliError(fn: () => unknown, exitCode: number, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(exitCode);
    expect((err as CliError).message).toMatch(message);
    return;
  }
  throw new Error('expected a CliError');
}

describe('CLI signing', () => {
  it('derives the RFC 8032 test-1 public key from its seed', () => {
    expect(publicKeyFromSeed(RFC_SEED)).toBe(RFC_PUBLIC);
    expect(publicKeyFromSeed(RFC_SEED.toUpperCase())).toBe(RFC_PUBLIC);
  });

  it('signs the ASCII digest so that the server and plain node:crypto verify it', () => {
    const { privateSeedHex, publicKeyHex } = generateSigningKeyPair();
    expect(publicKeyFromSeed(privateSeedHex)).toBe(publicKeyHex);
    const signature = signDigest(privateSeedHex, DIGEST);
    expect(signature).toMatch(/^[0-9a-f]{128}$/);
    expect(verifyDigestSignature(publicKeyHex, DIGEST, signature)).toBe(true);
    const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(publicKeyHex, 'hex')]), format: 'der', type: 'spki' });
    expect(verify(null, Buffer.from(DIGEST, 'ascii'), spki, Buffer.from(signature, 'hex'))).toBe(true);
    // Not a signature over the 32 raw bytes, nor valid for another digest.
    expect(verify(null, Buffer.from(DIGEST, 'hex'), spki, Buffer.from(signature, 'hex'))).toBe(false);
    expect(verifyDigestSignature(publicKeyHex, DIGEST.replace(/^./, (c) => (c === '0' ? '1' : '0')), signature)).toBe(false);
    // Ed25519 is deterministic: the RFC key always gives the same signature.
    expect(signDigest(RFC_SEED, DIGEST)).toBe(signDigest(RFC_SEED, DIGEST));
    expect(verifyDigestSignature(RFC_PUBLIC, DIGEST, signDigest(RFC_SEED, DIGEST))).toBe(true);
  });

  it('computes fingerprints as the server shows them: unpadded base64 of sha256(raw key)', () => {
    expect(publicKeyFingerprint(RFC_PUBLIC)).toBe('SHA256:If4x36FUomFia/hUBG/SJxt77UtqvkWqWId+9H+XIbk');
  });

  it('writes <artifact>.sig as exactly the 128 hex characters', async () => {
    const artifactPath = join(await tempDir(), `app-${DIGEST}.tar.gz`);
    const written = await signArtifact({ artifactPath, digest: DIGEST, seedHex: RFC_SEED });
    expect(written).toEqual({ path: `${artifactPath}.sig`, signatureHex: signDigest(RFC_SEED, DIGEST), publicKeyHex: RFC_PUBLIC });
    expect(await readFile(written.path, 'utf8')).toBe(written.signatureHex);
  });
});

describe('loadSigningKey', () => {
  it('is null when AETHER_SIGNING_KEY is unset, and normalises a good key', () => {
    expect(loadSigningKey({})).toBeNull();
    expect(loadSigningKey({ AETHER_SIGNING_KEY: RFC_SEED })).toBe(RFC_SEED);
    expect(loadSigningKey({ AETHER_SIGNING_KEY: ` ${RFC_SEED.toUpperCase()}\n` })).toBe(RFC_SEED);
  });

  it('rejects bad hex, wrong lengths and an empty value as configuration errors (exit 10), without echoing the key', () => {
    const notHex = `${RFC_SEED.slice(0, 63)}g`;
    expectCliError(() => loadSigningKey({ AETHER_SIGNING_KEY: notHex }), EXIT.config, /AETHER_SIGNING_KEY is not hex/);
    expectCliError(() => loadSigningKey({ AETHER_SIGNING_KEY: RFC_SEED.slice(0, 62) }), EXIT.config, /has 62 hex characters: expected 64/);
    expectCliError(() => loadSigningKey({ AETHER_SIGNING_KEY: RFC_SEED + RFC_SEED }), EXIT.config, /has 128 hex characters/);
    expectCliError(() => loadSigningKey({ AETHER_SIGNING_KEY: '' }), EXIT.config, /has 0 hex characters/);
    try {
      loadSigningKey({ AETHER_SIGNING_KEY: notHex });
    } catch (err) {
      expect(`${(err as CliError).message} ${(err as CliError).hint}`).not.toContain(notHex.slice(0, 16));
    }
  });
});

describe('aether keys generate', () => {
  it('writes the seed 0600 and the public key 0644, and prints how to register and use them', async () => {
    const cwd = await tempDir();
    const { out, captured } = captureOutput();
    expect(await keysGenerateCommand({ format: 'text', cwd }, {}, out)).toBe(EXIT.ok);

    const privateFile = join(cwd, 'aether-signing.key');
    const seedHex = (await readFile(privateFile, 'utf8')).trim();
    const publicKeyHex = (await readFile(`${privateFile}.pub`, 'utf8')).trim();
    expect(seedHex).toMatch(/^[0-9a-f]{64}$/);
    expect(publicKeyFromSeed(seedHex)).toBe(publicKeyHex);
    expect((await stat(privateFile)).mode & 0o777).toBe(0o600);
    expect((await stat(`${privateFile}.pub`)).mode & 0o777).toBe(0o644);

    const text = captured.results.join('\n');
    expect(text).toContain(publicKeyHex);
    expect(text).toContain(`aether keys add --app <app> --public-key ${publicKeyHex}`);
    expect(text).toContain('export AETHER_SIGNING_KEY=$(cat ./aether-signing.key)');
    expect(text).not.toContain(seedHex);
    // The generated key signs what the server then verifies.
    expect(verifyDigestSignature(publicKeyHex, DIGEST, signDigest(loadSigningKey({ AETHER_SIGNING_KEY: seedHex })!, DIGEST))).toBe(true);
  });

  it('refuses to overwrite an existing key (usage error) and leaves it as it was', async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, 'my.key'), 'precious\n');
    const { out } = captureOutput();
    const attempt = keysGenerateCommand({ out: 'my.key', format: 'text', cwd }, {}, out);
    await expect(attempt).rejects.toBeInstanceOf(CliError);
    await expect(attempt).rejects.toMatchObject({ exitCode: EXIT.usage, message: expect.stringContaining('already exists') });
    expect(await readFile(join(cwd, 'my.key'), 'utf8')).toBe('precious\n');
    await expect(stat(join(cwd, 'my.key.pub'))).rejects.toMatchObject({ code: 'ENOENT' });

    // A stale .pub alone also stops it, before any private key is written.
    await writeFile(join(cwd, 'other.key.pub'), 'old\n');
    await expect(keysGenerateCommand({ out: 'other.key', format: 'text', cwd }, {}, out)).rejects.toMatchObject({ exitCode: EXIT.usage });
    await expect(stat(join(cwd, 'other.key'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('prints paths, public key and server-style fingerprint as JSON', async () => {
    const cwd = await tempDir();
    const { out, captured } = captureOutput();
    await keysGenerateCommand({ out: 'k/../ci.key', format: 'json', cwd }, {}, out);
    const result = captured.json[0] as Record<string, string>;
    expect(Object.keys(result)).toEqual(['private_key_file', 'public_key_file', 'public_key_hex', 'fingerprint']);
    expect(result.private_key_file).toBe(join(cwd, 'ci.key'));
    expect(result.public_key_file).toBe(join(cwd, 'ci.key.pub'));
    expect(result.public_key_hex).toBe((await readFile(join(cwd, 'ci.key.pub'), 'utf8')).trim());
    expect(result.fingerprint).toBe(publicKeyFingerprint(result.public_key_hex!));
  });

  it('warns only when a key file would be packed into the artifact, and names the app', async () => {
    const cwd = await tempDir();
    await writeFile(join(cwd, 'package.json'), JSON.stringify({ name: '@acme/Orders_API' }));
    // The default file name is one the packer always leaves out: nothing to warn about.
    const first = captureOutput();
    await keysGenerateCommand({ format: 'text', cwd }, {}, first.out);
    expect(first.captured.warnings).toEqual([]);
    expect(first.captured.results.join('\n')).toContain('aether keys add --app orders-api --public-key');
    // Any other name inside the project would ship unless ignored.
    const custom = captureOutput();
    await keysGenerateCommand({ out: 'custom.key', format: 'text', cwd }, {}, custom.out);
    expect(custom.captured.warnings).toEqual([expect.stringContaining('would be packed into the artifact')]);

    await writeFile(join(cwd, '.aetherignore'), '*.key\n');
    const second = captureOutput();
    await keysGenerateCommand({ out: 'second.key', format: 'text', cwd }, {}, second.out);
    expect(second.captured.warnings).toEqual([]);
  });
});
