/**
 * A control plane that freezes (no TCP reset: here SIGSTOP) must not leave a watcher
 * waiting forever: after its idle timeout with no keep-alive the watch fails with
 * CONTROL_PLANE_UNREACHABLE. Keep-alives keep a quiet but live watch open.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { adminClient } from '../helpers/tokens.js';
import { TrellisError } from '../../src/errors.js';
import { killAll, startServer, tempDir } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

describe('watch idle timeout', () => {
  const dir = tempDir('watch-idle');
  after(() => { killAll(); dir.remove(); });

  it('stays open on keep-alives, and fails soon after the control plane freezes', async () => {
    const server = await startServer(dir.path, ['--watch-keepalive', '100']);
    after(() => { server.child.kill('SIGCONT'); });
    const client = adminClient(server.url);
    const events: string[] = [];
    let ended: unknown = 'open';
    const watching = client.watch({ service: 'idle', idleTimeoutMs: 600 }, (e) => events.push(e.id))
      .then(() => { ended = 'returned'; }, (err: unknown) => { ended = err; });

    // Quiet but alive: 5 idle timeouts' worth of keep-alives, and an event still arrives.
    const openedAt = Date.now();
    await waitFor('3 s of a quiet stream', () => Date.now() - openedAt > 3_000 || ended !== 'open', { timeoutMs: 10_000, everyMs: 100 });
    assert.equal(ended, 'open', 'keep-alives keep a quiet watch open past 5 idle timeouts');
    await client.register('idle', 'a', { address: '127.0.0.1', port: 9000 });
    await waitFor('the event', () => events.includes('a'));

    server.child.kill('SIGSTOP');
    const frozenAt = Date.now();
    await watching;
    const elapsed = Date.now() - frozenAt;
    const outcome = ended as unknown; // changed by the watch since the check above
    assert.ok(outcome instanceof TrellisError, `expected an error, got ${String(outcome)}`);
    assert.equal(outcome.code, 'TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE');
    assert.match(outcome.message, /sent nothing, not even a keep-alive, for 600 ms/);
    assert.ok(elapsed < 3_000, `noticed after ${elapsed} ms`);
  });
});
