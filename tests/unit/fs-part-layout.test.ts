import { describe, expect, it } from 'vitest';
import { partCount, slotOf, UploadGate, validateLayout } from '../../server/storage/fs-part-layout';

describe('part layout', () => {
  const layout = { sizeBytes: 5 * 1024 + 100, partSizeBytes: 2048 };

  it('places every part at its offset; the last takes the rest; no slot past it', () => {
    expect(partCount(layout)).toBe(3);
    expect([1, 2, 3].map((n) => slotOf(layout, n))).toEqual([
      { offset: 0, length: 2048 },
      { offset: 2048, length: 2048 },
      { offset: 4096, length: 1124 },
    ]);
    expect(slotOf(layout, 0)).toBeNull();
    expect(slotOf(layout, 4)).toBeNull();
    expect(slotOf({ sizeBytes: 4096, partSizeBytes: 2048 }, 2)).toEqual({ offset: 2048, length: 2048 });
  });

  it('refuses layouts that describe no upload S3 would take', () => {
    for (const bad of [{ sizeBytes: 0, partSizeBytes: 1 }, { sizeBytes: 10, partSizeBytes: 0 }, { sizeBytes: 10, partSizeBytes: 1.5 }, { sizeBytes: 10_001, partSizeBytes: 1 }]) {
      expect(() => validateLayout(bad)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    }
    expect(() => validateLayout({ sizeBytes: 10_000, partSizeBytes: 1 })).not.toThrow();
  });
});

describe('UploadGate', () => {
  const later = () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    return { gate, open };
  };

  it('lets writes run side by side; completion waits for those in flight and refuses new ones', async () => {
    const gate = new UploadGate();
    const order: string[] = [];
    const w1 = later();
    const w2 = later();
    const writes = [gate.write('u', () => w1.gate.then(() => order.push('write 1'))), gate.write('u', () => w2.gate.then(() => order.push('write 2')))];
    const done = gate.complete('u', async () => {
      order.push('complete');
    });
    await expect(gate.write('u', async () => order.push('late write'))).rejects.toMatchObject({ code: 'conflict' });
    await expect(gate.complete('u', async () => undefined)).rejects.toMatchObject({ code: 'conflict' });
    // Another upload is not held up.
    await gate.write('other', async () => order.push('other upload'));
    w2.open();
    w1.open();
    await Promise.all([...writes, done]);
    expect(order).toEqual(['other upload', 'write 2', 'write 1', 'complete']);
    // After a completion (failed or not) the upload takes writes again.
    await gate.write('u', async () => order.push('write after'));
    expect(order.at(-1)).toBe('write after');
  });

  it('a failed write still counts as finished', async () => {
    const gate = new UploadGate();
    await expect(gate.write('u', () => Promise.reject(new Error('disk full')))).rejects.toThrow('disk full');
    await expect(gate.complete('u', async () => 'completed')).resolves.toBe('completed');
  });
});
