/**
 * Control planes booting on this host, one after another, as their own process
 * (`node --import tsx tests/support/fence-boots.ts`): each boot re-asserts the network fence and
 * prunes the own ports it finds stale, as a web or worker process does at start. Runs until killed.
 */
import { setUpNetworkFence } from '../../server/runtime/local/sandbox/network-fence';

const uidRange = { low: 100_000, high: 165_535 };
for (;;) {
  await setUpNetworkFence({ network: 'fenced', appUids: true, uidRange });
  process.stdout.write('.');
}
