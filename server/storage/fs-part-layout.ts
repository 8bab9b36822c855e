import { AppError } from '../errors';
import type { PartLayout } from './port';
import { MAX_PART_BYTES, MAX_PART_NUMBER } from './rules';

export type { PartLayout } from './port';

/*
 * Where each part of a multipart upload goes when the uploader declared its layout. The fs driver
 * then writes each part straight to its place in one file, and completing the upload is a hash
 * and a rename instead of a copy of the whole object (half the bytes written, and no second
 * fsync of them).
 */

export interface Slot {
  offset: number;
  length: number;
}

/** Refuses a layout that cannot describe an upload (bad_request), before anything is created. */
export function validateLayout(layout: PartLayout): void {
  const { sizeBytes, partSizeBytes } = layout;
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 1) throw new AppError('bad_request', 'layout sizeBytes must be a positive integer');
  if (!Number.isSafeInteger(partSizeBytes) || partSizeBytes < 1 || partSizeBytes > MAX_PART_BYTES) {
    throw new AppError('bad_request', `layout partSizeBytes must be an integer in 1..${MAX_PART_BYTES}`);
  }
  if (partCount(layout) > MAX_PART_NUMBER) throw new AppError('bad_request', `layout needs more than ${MAX_PART_NUMBER} parts`);
}

export const partCount = (layout: PartLayout): number => Math.ceil(layout.sizeBytes / layout.partSizeBytes);

/** Part `partNumber`'s bytes in the object; null when the layout has no such part. */
export function slotOf(layout: PartLayout, partNumber: number): Slot | null {
  if (partNumber < 1 || partNumber > partCount(layout)) return null;
  const offset = (partNumber - 1) * layout.partSizeBytes;
  return { offset, length: Math.min(layout.partSizeBytes, layout.sizeBytes - offset) };
}

/**
 * Part writes of one upload run side by side; its completion waits for those in flight and turns
 * new ones away, so no write lands in a file that has become a stored object. Per process: the
 * fs driver's URLs are served by the one control-plane process that also completes uploads.
 */
export class UploadGate {
  /** Per upload: part writes in flight, and why new ones are refused while one task runs alone. */
  private readonly uploads = new Map<string, { writers: number; closed: string | null; drained?: () => void }>();

  async write<T>(uploadId: string, fn: () => Promise<T>): Promise<T> {
    const state = this.stateOf(uploadId);
    if (state.closed !== null) throw new AppError('conflict', state.closed);
    state.writers++;
    try {
      return await fn();
    } finally {
      state.writers--;
      if (state.writers === 0) state.drained?.();
      this.forget(uploadId);
    }
  }

  /** Runs `fn` alone: after the upload's writes in flight, with new ones refused (conflict). */
  complete<T>(uploadId: string, fn: () => Promise<T>): Promise<T> {
    return this.alone(uploadId, 'the upload is being completed; parts can no longer change', fn);
  }

  /** Like {@link complete}, for the cleanup after a part write ran out of space. */
  tidy<T>(uploadId: string, fn: () => Promise<T>): Promise<T> {
    return this.alone(uploadId, 'the upload is freeing the space of a part that did not fit; retry the part', fn);
  }

  private async alone<T>(uploadId: string, refusal: string, fn: () => Promise<T>): Promise<T> {
    const state = this.stateOf(uploadId);
    if (state.closed !== null) throw new AppError('conflict', 'the upload is already being completed or cleaned up');
    state.closed = refusal;
    try {
      if (state.writers > 0) await new Promise<void>((resolve) => (state.drained = resolve));
      return await fn();
    } finally {
      state.closed = null;
      state.drained = undefined;
      this.forget(uploadId);
    }
  }

  private stateOf(uploadId: string) {
    let state = this.uploads.get(uploadId);
    if (!state) this.uploads.set(uploadId, (state = { writers: 0, closed: null }));
    return state;
  }

  private forget(uploadId: string): void {
    const state = this.uploads.get(uploadId);
    if (state && state.writers === 0 && state.closed === null) this.uploads.delete(uploadId);
  }
}
