import { spawn, spawnSync, type ChildProcess } from 'node:child_process';

/**
 * `wrk` (Debian's package), an external load generator in its own process: what the router
 * tests and benchmarks load the stable URL with. `*.localhost` does not resolve through glibc,
 * so wrk connects to the address and sends the app's Host header.
 */
export const WRK = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).stdout.trim() || null;

export interface WrkSummary {
  requests: number;
  /** Answers other than 2xx/3xx. */
  non2xx: number;
  /** connect + read + write + timeout errors: requests that got no answer at all. */
  socketErrors: number;
  requestsPerSec: number;
  /** Latency percentiles in ms (with `--latency`). */
  p50Ms: number | null;
  /** Only when the run's script prints it (P95_SCRIPT): wrk's own summary stops at 50/75/90/99. */
  p95Ms: number | null;
  p99Ms: number | null;
  output: string;
}

export interface WrkRun {
  /** Stops the load (SIGINT, as wrk expects) and reads its summary. */
  stop(): Promise<WrkSummary>;
  child: ChildProcess;
}

export interface WrkOptions {
  connections?: number;
  threads?: number;
  maxSecs?: number;
  /** More request headers, e.g. Authorization. */
  headers?: Record<string, string>;
  /** A wrk Lua script (e.g. one setting `wrk.method` and `wrk.body` for a POST). */
  script?: string;
}

/** A wrk script (`-s`) whose `done` hook prints the 95th percentile in the format of wrk's own lines. */
export const P95_SCRIPT = 'done = function(summary, latency, requests)\n  io.write(string.format("    95%%  %.2fus\\n", latency:percentile(95)))\nend\n';

/** Starts `wrk` on `url` with `Host: host` (none when empty), `connections` connections, until stopped (or `maxSecs`). */
export function startWrk(url: string, host: string, opts: WrkOptions = {}): WrkRun {
  if (!WRK) throw new Error('wrk is not installed (apt-get install wrk; npm test installs it)');
  const { connections = 32, threads = 2, maxSecs = 600, headers = {} } = opts;
  const headerArgs = Object.entries({ ...(host ? { Host: host } : {}), ...headers }).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const scriptArgs = opts.script ? ['-s', opts.script] : [];
  const child = spawn(WRK, [`-t${threads}`, `-c${connections}`, `-d${maxSecs}s`, '--latency', '--timeout', '10s', ...headerArgs, ...scriptArgs, url], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    async stop() {
      child.kill('SIGINT');
      await exited;
      return parseWrk(output);
    },
  };
}

/** Runs wrk for `secs` seconds and parses what it printed. */
export async function runWrk(url: string, host: string, secs: number, opts: Omit<WrkOptions, 'maxSecs'> = {}): Promise<WrkSummary> {
  const run = startWrk(url, host, { ...opts, maxSecs: secs });
  await new Promise<void>((resolve) => run.child.once('exit', () => resolve()));
  return run.stop();
}

export function parseWrk(output: string): WrkSummary {
  const num = (re: RegExp) => {
    const m = re.exec(output);
    return m ? Number(m[1]) : 0;
  };
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const socketErrors = errors ? errors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requests: num(/(\d+) requests in/),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    socketErrors,
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: latencyMs(output, '50%'),
    p95Ms: latencyMs(output, '95%'),
    p99Ms: latencyMs(output, '99%'),
    output,
  };
}

function latencyMs(output: string, pct: string): number | null {
  const m = new RegExp(`^\\s+${pct}\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(output);
  if (!m) return null;
  const value = Number(m[1]);
  return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
}
