import { rpc, type UploadCtx } from './context';
import type { PresignedPut } from './put';
import type { UploadState } from './state';

/** A URL this close to its expiry is not worth a PUT that may outlast it: presign it again. */
const EXPIRY_MARGIN_MS = 60_000;

/** What the control plane answers to a batch presign (and to an init that presigned). */
export interface PresignedBatch {
  parts: Array<PresignedPut & { part_number: number }>;
  expires_at: string;
}

interface Batch {
  urls: Promise<Map<number, PresignedPut>>;
  expiresAt: Promise<number>;
}

/**
 * Presigned part URLs, fetched a batch ahead of the PUTs in one round trip each, so a worker
 * finishing a part starts the next PUT at once instead of waiting for the control plane.
 * Workers ask for parts in `order`; the URLs of the following batch are requested as soon as
 * the current one starts being used, so a URL waits about one PUT before it is used and never
 * sits in a queue long enough to expire (checked anyway: a stale one is presigned again).
 */
export class PartUrls {
  private readonly batchOf = new Map<number, Batch>();
  private readonly position: Map<number, number>;
  private requested = 0;

  /** `first`: URLs presigned already (with the init) for the first parts of `order`. */
  constructor(
    private readonly ctx: UploadCtx,
    private readonly state: UploadState,
    private readonly order: number[],
    private readonly batchSize: number,
    first?: PresignedBatch,
  ) {
    this.position = new Map(order.map((n, i) => [n, i]));
    if (first && first.parts.every((p, i) => order[i] === p.part_number)) this.addBatch(first.parts.map((p) => p.part_number), Promise.resolve(first));
  }

  /** The URL for part `n`; `fresh` skips the batch (a retry after a refusal presigns anew). */
  async get(n: number, fresh = false): Promise<PresignedPut> {
    const at = this.position.get(n);
    if (fresh || at === undefined) return this.single(n);
    while (this.requested <= at) this.requestNext();
    // Stay one batch ahead of the workers.
    if (this.requested - at <= this.batchSize && this.requested < this.order.length) this.requestNext();
    const batch = this.batchOf.get(n)!;
    const [urls, expiresAt] = await Promise.all([batch.urls, batch.expiresAt]);
    this.batchOf.delete(n);
    const url = urls.get(n);
    if (!url || expiresAt - Date.now() < EXPIRY_MARGIN_MS) return this.single(n);
    return url;
  }

  private requestNext(): void {
    const parts = this.order.slice(this.requested, this.requested + this.batchSize);
    const answer = rpc(this.ctx, `presigning parts ${parts[0]}-${parts.at(-1)}`, (o) =>
      this.ctx.api.artifacts.multipartPresignParts.mutate(
        { app_name: this.ctx.app, digest: this.ctx.digest, upload_id: this.state.upload_id, part_numbers: parts },
        o,
      ),
    );
    this.addBatch(parts, answer);
  }

  private addBatch(parts: number[], answer: Promise<PresignedBatch>): void {
    this.requested += parts.length;
    // A batch fetched ahead may fail before anyone awaits it; the worker that needs it rethrows.
    answer.catch(() => {});
    const batch: Batch = {
      urls: answer.then((a) => new Map(a.parts.map((p) => [p.part_number, { url: p.url, headers: p.headers }]))),
      expiresAt: answer.then((a) => Date.parse(a.expires_at)),
    };
    batch.urls.catch(() => {});
    batch.expiresAt.catch(() => {});
    for (const n of parts) this.batchOf.set(n, batch);
  }

  private single(n: number): Promise<PresignedPut> {
    return rpc(this.ctx, `presigning part ${n}`, (o) =>
      this.ctx.api.artifacts.multipartPresignPart.mutate({ app_name: this.ctx.app, digest: this.ctx.digest, upload_id: this.state.upload_id, part_number: n }, o),
    );
  }
}
