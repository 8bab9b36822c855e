import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFsStorage } from '../../server/storage/fs.driver';
import { DEFAULT_CLOCK_SKEW_SECS } from '../../server/storage/url-signing';
import { MAX_EXPIRES_IN_SECS } from '../../server/storage/rules';
import { ROOT } from '../support/control-plane-process';

/**
 * Signed URLs of the fs store checked by another process whose clock is off: the signer is this
 * test process (the real clock), the checker a child whose Date.now runs `offset` seconds away
 * (tests/support/clock-offset.mjs). Within AETHER_PRESIGN_SKEW_SECS (default 30) of its
 * `expires` a URL still works; past it, or expiring further ahead than any URL is signed for,
 * it does not.
 */

const SKEW = DEFAULT_CLOCK_SKEW_SECS;
const secret = randomBytes(32);
const object = Buffer.from('bytes checked across clocks');
const KEY = 'skew/object';

interface Checker {
  url: string;
}

describe('presigned URLs checked by a process whose clock is off', () => {
  let root: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'aether-skew-'));
    const sha256 = createHash('sha256').update(object).digest('hex');
    await signerFor('http://unused.test').putObject(KEY, Readable.from([object]), { sha256, sizeBytes: object.length });
  });

  afterAll(async () => {
    for (const child of children) child.kill();
    await rm(root, { recursive: true, force: true });
  });

  /** The store as this process (the real clock) sees it, signing URLs that point at `baseUrl`. */
  const signerFor = (baseUrl: string) => createFsStorage({ rootDir: root, baseUrl, secret });

  async function startChecker(offsetSecs: number, skewSecs?: number): Promise<Checker> {
    const script = path.join(ROOT, 'tests/support/skewed-store.ts');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', path.join(ROOT, 'tests/support/clock-offset.mjs'), script],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          AETHER_TEST_CLOCK_OFFSET_SECS: String(offsetSecs),
          SKEWED_STORE_ROOT: root,
          SKEWED_STORE_SECRET: secret.toString('hex'),
          ...(skewSecs !== undefined && { SKEWED_STORE_SKEW_SECS: String(skewSecs) }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /listening (\S+)/.exec(output);
        if (m) resolve(m[1]!);
      });
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      child.once('exit', () => reject(new Error(`checker exited:\n${output}`)));
    });
    return { url };
  }

  async function get(checker: Checker, expiresInSecs: number) {
    const { url } = await signerFor(checker.url).presignGet(KEY, { expiresInSecs });
    const res = await fetch(url);
    return res.ok
      ? { status: res.status, body: Buffer.from(await res.arrayBuffer()).toString() }
      : { status: res.status, body: await res.json() };
  }

  it(`a checker ${SKEW - 5} s ahead takes a URL valid 5 s more: by the skew, not by luck`, async () => {
    const ahead = await startChecker(SKEW - 5);
    expect(await get(ahead, 5)).toEqual({ status: 200, body: object.toString() });
    // A whole-object PUT too, the upload itself.
    const bytes = Buffer.from('uploaded across clocks');
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const put = await signerFor(ahead.url).presignPut('skew/uploaded', {
      sha256,
      expiresInSecs: 5,
      sizeBytes: bytes.length,
    });
    const res = await fetch(put.url, { method: 'PUT', headers: put.headers, body: new Uint8Array(bytes) });
    expect(res.status).toBe(200);

    const strict = await startChecker(SKEW - 5, 0);
    expect(await get(strict, 5)).toEqual({ status: 403, body: { code: 'forbidden', message: 'URL expired' } });
  });

  it('a checker further ahead than the skew refuses the URL as expired', async () => {
    const ahead = await startChecker(SKEW + 30);
    expect(await get(ahead, 5)).toEqual({ status: 403, body: { code: 'forbidden', message: 'URL expired' } });
  });

  it('a checker behind takes a fresh URL, not one expiring further ahead than any URL is signed for', async () => {
    const behind = await startChecker(-(SKEW - 5));
    expect((await get(behind, 60)).status).toBe(200);
    const farBehind = await startChecker(-(MAX_EXPIRES_IN_SECS + SKEW + 60));
    expect(await get(farBehind, 60)).toEqual({
      status: 403,
      body: { code: 'forbidden', message: "URL expires too far ahead: the signer's clock is off" },
    });
  });
});
