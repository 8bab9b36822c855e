/**
 * The router alone, on a fixed table: what the benchmark (and a curious engineer) runs.
 *   node --import tsx server/runtime/local/router/standalone.ts --port 8080 --target notes=3001 [--target notes=3002] [--domain localhost] [--engine auto|haproxy|node] [--pid-file <haproxy pid file>]
 */
import { parseArgs } from 'node:util';
import { RouteTable } from './route-table';
import { createServingRouter, type RouterEngine } from './serving';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    domain: { type: 'string', default: 'localhost' },
    target: { type: 'string', multiple: true, default: [] },
    engine: { type: 'string', default: 'auto' },
    'pid-file': { type: 'string' },
  },
});

const ports = new Map<string, number[]>();
for (const spec of values.target) {
  const [app, port] = spec.split('=');
  if (!app || !port || !/^\d+$/.test(port)) throw new Error(`--target must be app=PORT, got ${spec}`);
  ports.set(app, [...(ports.get(app) ?? []), Number(port)]);
}
const table = new RouteTable();
for (const [app, list] of ports) table.setCurrent(app, 'standalone', list.map((port, i) => ({ instance: `${app}-${i}`, port, ready: true })));

const router = createServingRouter({ table, domain: values.domain, engine: values.engine as RouterEngine, haproxyPidFile: values['pid-file'] });
const { port, engine } = await router.listen(Number(values.port), values.host);
console.log(`router listening on http://${values.host}:${port} (${engine})`);
const stop = () => void router.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
