import { availableParallelism } from 'node:os';
import zlib from 'node:zlib';

/**
 * Bytes of input per deflate job. Fixed, never derived from timing or core count: block
 * boundaries shape the compressed bytes, so they are part of the artifact's identity. 1 MiB keeps
 * the per-job overhead (a zlib stream, a thread-pool round trip, 4 bytes of sync marker) noise and
 * still gives a 100 MB tree ~100 jobs to spread over the cores.
 */
export const GZIP_BLOCK_SIZE = 1024 * 1024;
/** Deflate's window: each block is primed with this much of the previous one, as pigz does. */
const DICTIONARY_SIZE = 32 * 1024;
/** Room for one block's worst-case deflate output, so each job needs a single output buffer. */
const OUTPUT_CHUNK_SIZE = GZIP_BLOCK_SIZE + 64 * 1024;
/** "Unknown", what node-tar's portable mode writes too (zlib would put 3 on Linux, 19 on macOS). */
const GZIP_OS_UNKNOWN = 0xff;

export interface ParallelGzipOptions {
  level: number;
  /** Receives the gzip file's bytes in order; called from the constructor, drain() and end(). */
  onOutput: (chunk: Buffer) => void;
}

/**
 * A gzip compressor that deflates fixed-size blocks of its input on libuv's thread pool, several
 * at once, and joins them pigz-style into ONE gzip member: every block is raw deflate primed with
 * the previous block's last 32 KiB as dictionary (so the ratio matches a single stream) and ended
 * with a sync flush (byte-aligned, not final); the last block finishes the stream. The output
 * depends only on the input and the level, never on how the jobs were scheduled.
 *
 * Input is written synchronously into the current block (callers can read files straight into
 * `space()`); full blocks are submitted at once. Callers await `drain()` whenever `backlogged` is
 * set, which bounds memory to a few blocks in flight.
 */
export class ParallelGzip {
  private readonly level: number;
  private readonly onOutput: (chunk: Buffer) => void;
  /**
   * Two per core keeps every core busy while the main thread fills the next block; more than 8
   * would only queue, libuv's pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise.
   */
  private readonly window = Math.min(8, Math.max(2, 2 * availableParallelism()));
  private readonly inFlight: Array<{ input: Buffer; output: Promise<Buffer> }> = [];
  /** Input blocks whose job is done, reused: fresh 1 MiB buffers cost page faults and GC. */
  private readonly spare: Buffer[] = [];
  private block: Buffer = Buffer.allocUnsafe(GZIP_BLOCK_SIZE);
  private used = 0;
  private dictionary: Buffer | undefined;
  private crc = 0;
  private inputBytes = 0;
  private ended = false;

  constructor(opts: ParallelGzipOptions) {
    this.level = opts.level;
    this.onOutput = opts.onOutput;
    // MTIME 0 and no FNAME keep the header free of anything machine- or time-dependent. XFL as
    // zlib writes it: 2 for the slowest level, 4 for the fastest.
    const xfl = opts.level === 9 ? 2 : opts.level === 1 ? 4 : 0;
    this.onOutput(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, GZIP_OS_UNKNOWN]));
  }

  /** More blocks are in flight than the window allows: await drain() before writing more. */
  get backlogged(): boolean {
    return this.inFlight.length > this.window;
  }

  /** The unwritten rest of the current block, to fill in place and then `commit`. */
  space(): Buffer {
    return this.block.subarray(this.used);
  }

  /** Records that the first `n` bytes of `space()` now hold input. */
  commit(n: number): void {
    this.used += n;
    if (this.used === GZIP_BLOCK_SIZE) this.submit(false);
  }

  /** Copies `bytes` into the input. */
  write(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(bytes.length - offset, GZIP_BLOCK_SIZE - this.used);
      this.block.set(bytes.subarray(offset, offset + n), this.used);
      offset += n;
      this.commit(n);
    }
  }

  /** Appends `n` zero bytes (tar padding) without allocating them. */
  writeZeros(n: number): void {
    while (n > 0) {
      const k = Math.min(n, GZIP_BLOCK_SIZE - this.used);
      this.block.fill(0, this.used, this.used + k);
      n -= k;
      this.commit(k);
    }
  }

  /** Emits finished blocks, in order, until the window has room again. */
  async drain(): Promise<void> {
    while (this.inFlight.length > this.window) await this.emitOldest();
  }

  /** Compresses what is left as the final block and emits the rest of the file and the trailer. */
  async end(): Promise<void> {
    if (this.ended) throw new Error('ParallelGzip: end() called twice');
    this.ended = true;
    this.submit(true);
    while (this.inFlight.length > 0) await this.emitOldest();
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.inputBytes % 2 ** 32, 4);
    this.onOutput(trailer);
  }

  private submit(final: boolean): void {
    const input = this.block.subarray(0, this.used);
    this.crc = crc32(input, this.crc);
    this.inputBytes += input.length;
    const output = deflateBlock(input, {
      level: this.level,
      chunkSize: OUTPUT_CHUNK_SIZE,
      dictionary: this.dictionary,
      finishFlush: final ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    });
    // The producer may fail (a file changed) and abandon the queue: that must not surface as
    // an unhandled rejection. Awaiting the original promise still sees the error.
    output.catch(() => undefined);
    this.inFlight.push({ input, output });
    // A copy, as this block will be refilled once its job is done.
    this.dictionary = Buffer.from(input.subarray(Math.max(0, input.length - DICTIONARY_SIZE)));
    this.block = this.spare.pop() ?? Buffer.allocUnsafe(GZIP_BLOCK_SIZE);
    this.used = 0;
  }

  private async emitOldest(): Promise<void> {
    const { input, output } = this.inFlight.shift()!;
    this.onOutput(await output);
    if (input.length === GZIP_BLOCK_SIZE) this.spare.push(input);
  }
}

function deflateBlock(input: Buffer, opts: zlib.ZlibOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zlib.deflateRaw(input, opts, (err, out) => (err ? reject(err) : resolve(out)));
  });
}

/** zlib.crc32 arrived in Node 20.15; the engines range starts at 20.9, hence the fallback. */
export const crc32: (data: Uint8Array, value: number) => number =
  typeof zlib.crc32 === 'function' ? (data, value) => zlib.crc32(data, value) : tableCrc32;

let crcTable: Int32Array | undefined;

/** Plain table-driven CRC-32 (the gzip polynomial); only used on Node before 20.15. */
export function tableCrc32(data: Uint8Array, value: number): number {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let crc = ~value;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
