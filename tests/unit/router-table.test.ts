import { describe, expect, it } from 'vitest';
import { RouteTable, type RouteTarget } from '../../server/runtime/local/router/route-table';

const DEP_1 = '11111111-aaaa-4aaa-8aaa-000000000001';
const DEP_2 = '22222222-bbbb-4bbb-8bbb-000000000002';
const t = (instance: string, port: number, ready = true): RouteTarget => ({ instance, port, ready });
const ports = (table: RouteTable, n: number, prefix: string | null = null) =>
  Array.from({ length: n }, () => {
    const r = table.resolve('notes', prefix);
    return r.kind === 'target' ? r.port : r.kind;
  });

describe('RouteTable', () => {
  it('resolves the current release round robin, skipping targets that are not ready', () => {
    const table = new RouteTable();
    table.setCurrent('notes', DEP_1, [t('a', 3001), t('b', 3002), t('c', 3003)]);
    expect(ports(table, 6)).toEqual([3001, 3002, 3003, 3001, 3002, 3003]);
    table.setReady('notes', DEP_1, 'b', false);
    expect(ports(table, 4)).toEqual([3001, 3003, 3001, 3003]);
    table.setReady('notes', DEP_1, 'b', true);
    expect(new Set(ports(table, 3))).toEqual(new Set([3001, 3002, 3003]));
  });

  it('switches new requests to the new current release, while the old one stays reachable by prefix', () => {
    const table = new RouteTable();
    table.setCurrent('notes', DEP_1, [t('old', 3001)]);
    table.setTargets('notes', DEP_2, [t('new', 3002)]);
    expect(ports(table, 2)).toEqual([3001, 3001]);
    table.setCurrent('notes', DEP_2, [t('new', 3002)]);
    expect(ports(table, 2)).toEqual([3002, 3002]);
    expect(ports(table, 1, '11111111')).toEqual([3001]);
    expect(ports(table, 1, '22222222')).toEqual([3002]);
    // Only a full 8-character prefix names a deployment.
    expect(ports(table, 1, '1111111')).toEqual(['none']);
    table.removeDeployment('notes', DEP_1);
    expect(ports(table, 1, '11111111')).toEqual(['none']);
    expect(ports(table, 1)).toEqual([3002]);
  });

  it('copies the targets it is given: the caller mutating its array changes nothing', () => {
    const table = new RouteTable();
    const list = [t('a', 3001)];
    table.setCurrent('notes', DEP_1, list);
    list[0]!.ready = false;
    list.push(t('b', 3002));
    expect(ports(table, 2)).toEqual([3001, 3001]);
    expect(table.targets('notes', DEP_1)).toEqual([t('a', 3001)]);
  });

  it('answers crash_loop for the app URL only, none once stopped, removed or without a current release', () => {
    const table = new RouteTable();
    expect(table.resolve('ghost')).toEqual({ kind: 'none', appName: 'ghost' });
    table.setCurrent('notes', DEP_1, [t('a', 3001)]);
    table.setState('notes', 'crash_loop');
    expect(table.resolve('notes')).toEqual({ kind: 'crash_loop', appName: 'notes' });
    expect(ports(table, 1, '11111111')).toEqual([3001]);
    // A new healthy release ends the crash loop.
    table.setCurrent('notes', DEP_2, [t('b', 3002)]);
    expect(ports(table, 1)).toEqual([3002]);
    table.removeDeployment('notes', DEP_2);
    expect(table.resolve('notes')).toEqual({ kind: 'none', appName: 'notes' });
    table.setCurrent('notes', DEP_1, [t('a', 3001)]);
    table.setState('notes', 'stopped');
    expect(table.resolve('notes')).toEqual({ kind: 'none', appName: 'notes' });
    table.setState('notes', 'serving');
    expect(ports(table, 1)).toEqual([3001]);
    table.removeApp('notes');
    expect(ports(table, 1, '11111111')).toEqual(['none']);
  });

  it('picks another ready target on a retry, and the same one when it is the only one', () => {
    const table = new RouteTable();
    table.setCurrent('notes', DEP_1, [t('a', 3001), t('b', 3002)]);
    for (let i = 0; i < 4; i++) expect(table.resolve('notes', null, 3001)).toEqual({ kind: 'target', port: 3002 });
    table.setCurrent('notes', DEP_1, [t('a', 3001)]);
    expect(table.resolve('notes', null, 3001)).toEqual({ kind: 'target', port: 3001 });
  });

  it('counts requests in flight per port and drains: true once idle, false after the timeout', async () => {
    const table = new RouteTable();
    expect(await table.drain([3001], 10)).toBe(true);
    table.begin(3001);
    table.begin(3001);
    table.begin(3002);
    expect(table.inFlight(3001)).toBe(2);
    expect(await table.drain([3001], 20)).toBe(false);

    const drained = table.drain([3001, 3002], 5000);
    table.end(3001);
    table.end(3002);
    table.end(3001);
    expect(await drained).toBe(true);
    expect(table.inFlight(3001)).toBe(0);
    // An extra end never goes below zero.
    table.end(3001);
    expect(table.inFlight(3001)).toBe(0);
  });

  it('keeps draining one port while another still has requests', async () => {
    const table = new RouteTable();
    table.begin(3001);
    table.begin(3002);
    let settled: boolean | null = null;
    const drained = table.drain([3001, 3002], 5000).then((v) => (settled = v));
    table.end(3001);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(settled).toBeNull();
    table.end(3002);
    expect(await drained).toBe(true);
  });
});
