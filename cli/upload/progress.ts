import type { Output } from '../output';

/** Where upload progress goes: a bar, periodic log lines, or nowhere. */
export interface Progress {
  /** Bytes sent (negative when a failed attempt's bytes are taken back). */
  add(n: number): void;
  /** Starts over from `value` (a restarted multipart upload). */
  reset(value: number): void;
  stop(): void;
}

export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean };

const MiB = 1024 * 1024;
const mib = (n: number) => (n / MiB).toFixed(1);
const NONE: Progress = { add: () => undefined, reset: () => undefined, stop: () => undefined };

/**
 * A bar (cli-progress, loaded only here) when stderr is a terminal; otherwise a log line every
 * 10 % or 5 s, whichever comes first, so CI logs show life without flooding; nothing in JSON
 * mode, whose stderr carries only real log records.
 */
export async function createProgress(opts: { total: number; initial: number; format: 'text' | 'json'; out: Output; stream: ProgressStream }): Promise<Progress> {
  if (opts.format === 'json' || opts.total === 0) return NONE;
  return opts.stream.isTTY ? createBar(opts) : createLines(opts);
}

async function createBar(opts: { total: number; initial: number; stream: ProgressStream }): Promise<Progress> {
  // A CommonJS module: its exports arrive as `default` under both Node ESM and esbuild.
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  const bar = new SingleBar(
    {
      stream: opts.stream,
      format: 'uploading [{bar}] {percentage}% | {sent}/{size} MiB | {speed} MiB/s | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
      fps: 10,
    },
    Presets.shades_classic,
  );
  const t0 = performance.now();
  let value = opts.initial;
  const fields = () => ({ sent: mib(value), size: mib(opts.total), speed: mib(((value - opts.initial) / Math.max(performance.now() - t0, 1)) * 1000) });
  bar.start(opts.total, value, fields());
  return {
    add(n) {
      value += n;
      bar.update(value, fields());
    },
    reset(v) {
      value = v;
      bar.update(value, fields());
    },
    stop: () => bar.stop(),
  };
}

function createLines(opts: { total: number; initial: number; out: Output }): Progress {
  const t0 = performance.now();
  let value = opts.initial;
  let lastPct = Math.floor((value / opts.total) * 10);
  let lastAt = t0;
  const report = () => {
    const secs = (performance.now() - t0) / 1000;
    const pct = Math.floor((value / opts.total) * 100);
    opts.out.info(`uploading: ${pct}% (${mib(value)}/${mib(opts.total)} MiB, ${mib((value - opts.initial) / Math.max(secs, 0.001))} MiB/s)`);
  };
  return {
    add(n) {
      value += n;
      const decile = Math.floor((value / opts.total) * 10);
      const now = performance.now();
      // Every new 10 % step, or 5 s without one; never the 100 % line: the summary says that.
      if ((decile > lastPct || now - lastAt >= 5_000) && value < opts.total) {
        lastPct = Math.max(lastPct, decile);
        lastAt = now;
        report();
      }
    },
    reset(v) {
      value = v;
      lastPct = Math.floor((value / opts.total) * 10);
    },
    stop: () => undefined,
  };
}
