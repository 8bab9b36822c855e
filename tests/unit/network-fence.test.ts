import { describe, expect, it } from 'vitest';
import {
  fenceRuleset,
  listeningSockets,
  localResolvers,
  removalRuleset,
  setUpNetworkFence,
} from '../../server/runtime/local/sandbox/network-fence';

const RANGE = { low: 100_000, high: 165_535 };
const EXPOSED =
  'apps can open connections to every service on this host (Redis, PostgreSQL, the control plane, other apps)';

describe('the network fence ruleset', () => {
  it('is our table only: declared, the uid range added, its chains refilled, the own ports left as they are', () => {
    expect(fenceRuleset({ uidRange: RANGE, resolvers: ['127.0.0.53', '::1'] })).toBe(
      [
        'table inet aether_apps {',
        '\tset app_uids {',
        '\t\ttype uid',
        '\t\tflags interval',
        '\t\tauto-merge',
        '\t}',
        '\tset own_ports {',
        '\t\ttype uid . inet_service',
        '\t}',
        '\tchain output {',
        '\t\ttype filter hook output priority filter; policy accept;',
        '\t}',
        '\tchain fenced {',
        '\t}',
        '}',
        'add element inet aether_apps app_uids { 100000-165535 }',
        'flush chain inet aether_apps output',
        'flush chain inet aether_apps fenced',
        'table inet aether_apps {',
        '\tchain output {',
        '\t\tmeta skuid @app_uids jump fenced',
        '\t}',
        '\tchain fenced {',
        '\t\tip daddr 169.254.0.0/16 meta l4proto tcp reject with tcp reset',
        '\t\tip daddr 169.254.0.0/16 reject with icmpx port-unreachable',
        '\t\tip6 daddr fd00:ec2::254 meta l4proto tcp reject with tcp reset',
        '\t\tip6 daddr fd00:ec2::254 reject with icmpx port-unreachable',
        '\t\tfib daddr type != local accept',
        '\t\tip daddr 127.0.0.53 meta l4proto { tcp, udp } th dport 53 accept',
        '\t\tip6 daddr ::1 meta l4proto { tcp, udp } th dport 53 accept',
        '\t\tmeta skuid . tcp dport @own_ports accept',
        '\t\tmeta skuid . tcp sport @own_ports accept',
        '\t\tmeta l4proto tcp reject with tcp reset',
        '\t\treject with icmpx port-unreachable',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('has no DNS hole without a local resolver', () => {
    expect(fenceRuleset({ uidRange: RANGE, resolvers: [] })).not.toContain('dport 53');
  });

  it('refuses what could change the ruleset beyond numbers and addresses', () => {
    expect(() => fenceRuleset({ uidRange: { low: 5, high: 4 }, resolvers: [] })).toThrow('invalid uid range 5-4');
    expect(() => fenceRuleset({ uidRange: { low: 1.5, high: 4 }, resolvers: [] })).toThrow('invalid uid range 1.5-4');
    const injected = '127.0.0.1 accept; flush ruleset';
    expect(() => fenceRuleset({ uidRange: RANGE, resolvers: [injected] })).toThrow('invalid resolver address');
    const table = 'x; flush ruleset';
    expect(() => fenceRuleset({ uidRange: RANGE, resolvers: [], table })).toThrow('invalid nftables table name');
    expect(() => removalRuleset('A')).toThrow('invalid nftables table name "A"');
  });

  it('removes only our table, whether or not it exists', () => {
    expect(removalRuleset()).toBe('table inet aether_apps {\n}\ndelete table inet aether_apps\n');
  });
});

describe('local resolvers', () => {
  it('are the nameservers at this host\'s own addresses', () => {
    const conf = [
      '# generated',
      'nameserver 127.0.0.53',
      'nameserver 10.255.255.53',
      'nameserver ::1',
      'nameserver fe80::1%eth0',
      'nameserver 192.0.2.2',
      'nameserver not-an-ip',
      'options edns0',
      'nameserver 127.0.0.53',
    ].join('\n');
    const host = new Set(['192.0.2.2', 'fe80::fc:ff:fe00:1']);
    expect(localResolvers(conf, host)).toEqual(['127.0.0.53', '::1', '192.0.2.2']);
    expect(localResolvers('nameserver 10.255.255.53\n', new Set(['192.0.2.2']))).toEqual([]);
  });
});

describe('listening sockets', () => {
  it('are the uid and port of each LISTEN line of /proc/net/tcp and tcp6', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:A8F9 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9447',
      '   1: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000 100001        0 9448',
      '   2: 0100007F:18EB 0100007F:D431 01 00000000:00000000 00:00000000 00000000 100002        0 9449',
    ].join('\n');
    const tcp6 = [
      '  sl  local_address                         remote_address                        st ... uid',
      `   0: ${'0'.repeat(24)}01000000:18EB ${'0'.repeat(32)}:0000 0A 00000000:00000000 00:00000000 00000000 100003 0 1`,
    ].join('\n');
    expect([...listeningSockets([tcp, tcp6])]).toEqual(['0.43257', '100001.6379', '100003.6379']);
  });
});

describe('setting the fence up', () => {
  const base = { uidRange: RANGE, appUids: true } as const;

  it('says why apps are not fenced, and does nothing for their ports then', async () => {
    const cases = [
      [{ ...base, network: 'open', nft: null }, `AETHER_APP_NETWORK=open: ${EXPOSED}`],
      [
        { ...base, appUids: false, network: 'fenced', nft: '/bin/true' },
        `no network fence (it needs a root control plane running apps as their own uids): ${EXPOSED}`,
      ],
      [
        { ...base, network: 'fenced', nft: null },
        `no network fence: nft (Debian package nftables) is missing, so ${EXPOSED}`,
      ],
      [{ ...base, network: 'fenced', nft: '/bin/false' }, `no network fence (nft failed (exit 1)): ${EXPOSED}`],
    ] as const;
    for (const [options, warning] of cases) {
      const fence = await setUpNetworkFence(options);
      expect([fence.active, fence.warning]).toEqual([false, warning]);
      await expect(fence.allowOwnPort(100_000, 4000)).resolves.toBeUndefined();
      await expect(fence.revokeOwnPort(100_000, 4000)).resolves.toBeUndefined();
    }
  });

  it('is in force when nft takes the ruleset, and checks each own-port element', async () => {
    const fence = await setUpNetworkFence({ ...base, network: 'fenced', nft: '/bin/true' });
    expect([fence.active, fence.warning]).toEqual([true, null]);
    await expect(fence.allowOwnPort(100_000, 0)).rejects.toThrow('invalid own-port element 100000 . 0');
    await expect(fence.revokeOwnPort(-1, 80)).rejects.toThrow('invalid own-port element -1 . 80');
  });
});
