import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putRange } from '../../cli/upload/put';
import { StorageNetworkError } from '../../cli/upload/retry';

/** A storage stand-in that keeps what each PUT sent, and answers with an ETag. */
let server: Server;
let url: string;
const received: Buffer[] = [];
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aether-put-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(chunks));
      res.writeHead(200, { etag: `"part-${received.length}"` }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bucket/key`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe('putRange', () => {
  it('sends exactly the byte range, over several reused chunk buffers, for parts in parallel', async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 123);
    const file = path.join(dir, 'artifact.bin');
    await writeFile(file, bytes);
    received.length = 0;
    // Ranges that cross the 1 MiB chunk boundaries at odd offsets, four at once.
    const ranges = [
      [0, 1],
      [1, 2 * 1024 * 1024 + 7],
      [2 * 1024 * 1024 + 8, 3 * 1024 * 1024],
      [5 * 1024 * 1024 + 8, 115],
    ] as const;
    const etags = await Promise.all(ranges.map(([start, length]) => putRange({ url, headers: {} }, file, start, length, { traceId: 't' })));
    expect(etags.every((e) => /^"part-\d"$/.test(e ?? ''))).toBe(true);
    const sent = received.map((b) => b.toString('hex')).sort();
    const expected = ranges.map(([start, length]) => bytes.subarray(start, start + length).toString('hex')).sort();
    expect(sent).toEqual(expected);
  });

  it('fails as an I/O error, not a network one to retry, when the file is shorter than the range', async () => {
    const file = path.join(dir, 'shrunk.bin');
    await writeFile(file, randomBytes(3 * 1024 * 1024));
    await truncate(file, 1024 * 1024 + 5);
    const err = await putRange({ url, headers: {} }, file, 0, 3 * 1024 * 1024, { traceId: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(StorageNetworkError);
    expect(err).toMatchObject({ code: 'ESHORT', syscall: 'read' });
  });
});
