import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { RolloutError, type ArtifactSource } from '../port';

/**
 * Streams the artifact at `storageKey` into `file`, hashing on the way, so verifying costs
 * no second read. Any failure to read or store it is a RolloutError('fetch_failed').
 */
export async function fetchToFile(
  source: ArtifactSource,
  storageKey: string,
  file: string,
): Promise<{ digest: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    await mkdir(path.dirname(file), { recursive: true });
    const input = await source(storageKey);
    await pipeline(
      input,
      async function* (chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          bytes += chunk.length;
          yield chunk;
        }
      },
      createWriteStream(file, { flags: 'wx', mode: 0o600 }),
    );
  } catch (err) {
    throw new RolloutError('fetch_failed', `could not fetch ${storageKey}: ${(err as Error).message}`);
  }
  return { digest: hash.digest('hex'), bytes };
}
