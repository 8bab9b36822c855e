/** HAProxy's CLI sockets (master `-S` and worker `stats socket`): one command per connection, the answer until it closes. */
import net from 'node:net';

export function cliCommand(socket: string, command: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = net.createConnection(socket, () => conn.end(`${command}\n`));
    conn.setTimeout(timeoutMs, () => conn.destroy(new Error(`haproxy master CLI: no answer to "${command}" within ${timeoutMs} ms`)));
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.once('error', reject);
    conn.once('close', (hadError) => hadError || resolve(Buffer.concat(chunks).toString()));
  });
}

export interface Workers {
  /** Serving the latest configuration. */
  current: number[];
  /** Finishing what they had when a reload replaced them. */
  old: number[];
}

/** `show proc`: the master, then `# workers`, `# old workers` and `# programs` sections. */
export function parseShowProc(text: string): Workers {
  const workers: Workers = { current: [], old: [] };
  let section: keyof Workers | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) {
      section = /^# workers/.test(line) ? 'current' : /^# old workers/.test(line) ? 'old' : null;
      continue;
    }
    const pid = /^(\d+)\s+worker\b/.exec(line)?.[1];
    if (section && pid) workers[section].push(Number(pid));
  }
  return workers;
}

/** Requests in progress on servers at 127.0.0.1:<port> for any of `ports`, from `show stat` CSV. */
export function sessionsOn(statCsv: string, ports: ReadonlySet<number>): number {
  const [header, ...rows] = statCsv.split('\n');
  if (!header?.startsWith('# ')) return 0;
  const columns = header.slice(2).split(',');
  const scur = columns.indexOf('scur');
  const addr = columns.indexOf('addr');
  let total = 0;
  for (const row of rows) {
    const fields = row.split(',');
    const port = Number(/:(\d+)$/.exec(fields[addr] ?? '')?.[1]);
    if (ports.has(port)) total += Number(fields[scur]) || 0;
  }
  return total;
}
