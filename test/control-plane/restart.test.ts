/**
 * kill -9 the control plane and restart it on the same data dir: registrations and the
 * revision counter survive, and a watcher resumes from its last revision with no missed
 * and no duplicated event.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { adminClient } from '../helpers/tokens.js';
import type { RegistryEvent } from '../../src/registry/types.js';
import { killAll, startServer, tempDir } from '../helpers/processes.js';
import { collectEvents } from '../helpers/registry-client.js';
import { waitFor } from '../helpers/wait.js';

describe('control plane crash and restart', () => {
  const dir = tempDir('restart');
  after(() => { killAll(); dir.remove(); });

  it('keeps every registration and the revision, and a watcher resumes exactly', async () => {
    const first = await startServer(dir.path);
    const client1 = adminClient(first.url);
    const startRevision = (await client1.services()).revision;
    const watch1 = collectEvents(first.url, { after: startRevision });

    // Acknowledged writes: 20 instances across 2 services, some with a TTL, then updates.
    const acknowledged: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      const service = i % 2 === 0 ? 'alpha' : 'beta';
      const { revision } = await client1.register(service, `i${i}`, { address: '127.0.0.1', port: 10_000 + i, ...(i % 3 === 0 ? { ttl: '30s' } : {}), metadata: { n: String(i) } });
      acknowledged.push(revision);
    }
    const { revision: deregisteredAt } = await client1.deregister('beta', 'i19');
    acknowledged.push(deregisteredAt);
    // Let the watcher fall behind on purpose for the last writes: fire them and kill at once.
    const inFlight = [20, 21, 22].map((i) => client1.register('alpha', `late${i}`, { address: '127.0.0.1', port: 11_000 + i }).then((r) => r.revision, () => undefined));
    const late = await Promise.all(inFlight);
    await first.kill('SIGKILL');
    await watch1.done;
    for (const r of late) if (r !== undefined) acknowledged.push(r);
    const seenBeforeCrash = watch1.events.slice();
    const lastSeen = seenBeforeCrash.at(-1)?.revision ?? startRevision;

    const second = await startServer(dir.path);
    const client2 = adminClient(second.url);
    const alpha = await client2.instances('alpha');
    const beta = await client2.instances('beta');
    const ids = [...alpha.instances, ...beta.instances].map((i) => i.id).sort();
    const expectedIds = [...Array.from({ length: 19 }, (_, i) => `i${i}`), ...late.flatMap((r, k) => (r === undefined ? [] : [`late${20 + k}`]))].sort();
    assert.deepEqual(ids, expectedIds, 'every acknowledged registration survived');
    assert.equal(alpha.instances.find((i) => i.id === 'i4')?.metadata['n'], '4');
    const maxAcknowledged = Math.max(...acknowledged);
    assert.ok(alpha.revision >= maxAcknowledged, `revision ${alpha.revision} went back below ${maxAcknowledged}`);

    // A new write gets a higher revision than anything before the crash.
    const { revision: afterRestart } = await client2.register('alpha', 'new', { address: '127.0.0.1', port: 12_000 });
    assert.ok(afterRestart > maxAcknowledged);

    // Resume the watcher from its last revision.
    const watch2 = collectEvents(second.url, { after: lastSeen });
    await waitFor('the resumed watcher to reach the newest write', () => watch2.events.some((e) => e.revision === afterRestart));
    watch2.stop();

    const combined: RegistryEvent[] = [...seenBeforeCrash, ...watch2.events];
    const revisions = combined.map((e) => e.revision);
    assert.equal(new Set(revisions).size, revisions.length, 'no event delivered twice');
    assert.deepEqual(revisions, [...revisions].sort((a, b) => a - b), 'events in order');

    // Compare with the full history as the restarted server replays it.
    const full = collectEvents(second.url, { after: startRevision });
    await waitFor('full replay', () => full.events.some((e) => e.revision === afterRestart));
    full.stop();
    assert.deepEqual(revisions, full.events.map((e) => e.revision), 'no event missed');
    for (const r of acknowledged) assert.ok(revisions.includes(r), `acknowledged write at revision ${r} was delivered`);
    await second.kill();
  });
});
