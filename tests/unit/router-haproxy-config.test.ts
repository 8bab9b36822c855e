import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { noInstanceResponse, renderConfig, renderHostMap, type FrontSettings } from '../../server/runtime/local/router/haproxy/config';
import { findHaproxy } from '../../server/runtime/local/router/haproxy/front';
import { parseShowProc, sessionsOn } from '../../server/runtime/local/router/haproxy/master-cli';
import { SlotTable } from '../../server/runtime/local/router/haproxy/slots';

const MAP = '/run/x/hosts.map';
const app = (appName: string, ports: number[]) => ({ appName, hostname: `${appName}.localhost`, ports });

describe('the router front: slots', () => {
  it('adds servers, enables them, then maps the host: in that order, so the first request finds them', () => {
    const slots = new SlotTable(4, MAP);
    expect(slots.plan([app('notes', [20001, 20002])])).toEqual({
      kind: 'commands',
      commands: [
        'add server slot0/p20001 127.0.0.1:20001',
        'enable server slot0/p20001',
        'add server slot0/p20002 127.0.0.1:20002',
        'enable server slot0/p20002',
        `add map ${MAP} notes.localhost slot0`,
      ],
    });
    expect(slots.plan([app('notes', [20001, 20002])])).toEqual({ kind: 'commands', commands: [] });
  });

  it('drains a server leaving (maintenance), deletes it later, and enables one coming back', () => {
    const slots = new SlotTable(4, MAP);
    slots.plan([app('notes', [20001, 20002])]);
    expect(slots.plan([app('notes', [20002, 20003])])).toMatchObject({
      commands: ['add server slot0/p20003 127.0.0.1:20003', 'enable server slot0/p20003', 'disable server slot0/p20001'],
    });
    expect(slots.deletable()).toEqual([{ slot: 0, port: 20001, command: 'del server slot0/p20001' }]);
    expect(slots.plan([app('notes', [20001, 20002, 20003])])).toMatchObject({ commands: ['enable server slot0/p20001'] });
    expect(slots.deletable()).toEqual([]);
  });

  it('unmaps an app no longer served, keeps its slot until its servers are deleted, and gives it back then', () => {
    const slots = new SlotTable(1, MAP);
    slots.plan([app('notes', [20001])]);
    expect(slots.plan([])).toMatchObject({ commands: [`del map ${MAP} notes.localhost`, 'disable server slot0/p20001'] });
    // The one slot is still held by the draining server.
    expect(slots.plan([app('blog', [20005])])).toEqual({ kind: 'grow', slots: 2 });
    slots.deleted(0, 20001);
    expect(slots.plan([app('blog', [20005])])).toMatchObject({ commands: ['add server slot0/p20005 127.0.0.1:20005', 'enable server slot0/p20005', `add map ${MAP} blog.localhost slot0`] });
    expect(slots.snapshot()).toEqual({ state: [{ slot: 0, servers: [{ port: 20005, enabled: true }] }], map: [['blog.localhost', 0]] });
  });

  it('maps an app back into its draining slot, re-enabling its servers', () => {
    const slots = new SlotTable(2, MAP);
    slots.plan([app('notes', [20001])]);
    slots.plan([]);
    expect(slots.plan([app('notes', [20001])])).toMatchObject({ commands: ['enable server slot0/p20001', `add map ${MAP} notes.localhost slot0`] });
  });
});

describe('the router front: HAProxy configuration', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aether-haproxy-cfg-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const settings: FrontSettings = {
    host: '127.0.0.1',
    port: 8080,
    fallbackPort: 40000,
    frontSecret: 'ab'.repeat(16),
    statsSocket: path.join(dir, 'worker.sock'),
    mapFile: path.join(dir, 'hosts.map'),
    noInstanceFile: path.join(dir, '502.http'),
    hardStopAfterMs: 30_000,
    headersTimeoutMs: 10_000,
    dropPrivileges: true,
    threads: 1,
  };

  it('is valid for haproxy -c, with served, draining and empty slots', () => {
    const bin = findHaproxy();
    expect(bin, 'haproxy installed (npm test installs it)').not.toBeNull();
    writeFileSync(settings.mapFile, renderHostMap([['notes.localhost', 0]]));
    writeFileSync(settings.noInstanceFile, noInstanceResponse());
    const cfg = path.join(dir, 'haproxy.cfg');
    writeFileSync(cfg, renderConfig(settings, 3, [{ slot: 0, servers: [{ port: 20001, enabled: true }, { port: 20002, enabled: false }] }]));
    const check = spawnSync(bin!, ['-c', '-f', cfg], { encoding: 'utf8' });
    expect(check.status, check.stderr + check.stdout).toBe(0);
    expect(check.stderr).not.toMatch(/\[WARNING\]/);
  });

  it('renders the slots, their servers (draining ones disabled) and the privilege drop', () => {
    const text = renderConfig(settings, 2, [{ slot: 1, servers: [{ port: 20002, enabled: false }] }]);
    expect(text.match(/^backend slot\d+$/gm)).toEqual(['backend slot0', 'backend slot1']);
    expect(text).toContain('  server p20002 127.0.0.1:20002 disabled\n');
    expect(text).toContain('  uid 65534\n  gid 65534\n');
    expect(renderConfig({ ...settings, dropPrivileges: false }, 1, [])).not.toContain('uid 65534');
  });

  it("answers 502 in raw HTTP when every instance refused, with a correct Content-Length", () => {
    const [head, body] = noInstanceResponse().split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway');
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
  });
});

describe('the router front: HAProxy CLI answers', () => {
  it('reads current and old workers from show proc', () => {
    const text = [
      '#<PID>          <type>          <reloads>       <uptime>        <version>',
      '17037           master          3 [failed: 0]   0d00h00m13s     2.6.12',
      '# workers',
      '17406           worker          0               0d00h00m00s     2.6.12',
      '# old workers',
      '17300           worker          [was: 2]        0d00h00m05s     2.6.12',
      '# programs',
      '',
    ].join('\n');
    expect(parseShowProc(text)).toEqual({ current: [17406], old: [17300] });
  });

  it('sums current sessions of the servers on the given ports from show stat', () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,addr,',
      'slot0,p20001,0,0,3,5,127.0.0.1:20001,',
      'slot0,p20002,0,0,1,1,127.0.0.1:20002,',
      'slot0,BACKEND,0,0,4,5,,',
      'fallback,router,0,0,7,7,127.0.0.1:40000,',
    ].join('\n');
    expect(sessionsOn(csv, new Set([20001, 20002]))).toBe(4);
    expect(sessionsOn(csv, new Set([20003]))).toBe(0);
  });
});
