/**
 * A watcher that stops reading while live events keep coming is cut off with its coded reason
 * (TRELLIS_ERR_WATCHER_TOO_SLOW and the last revision it was sent), and resuming from that
 * revision gives it everything after, whole (issue 13). The client here is a raw socket that
 * pauses, so the control plane's buffer really fills.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { ControlPlaneClient } from '../../src/client/control-plane.js';
import { adminClient, adminToken } from '../helpers/tokens.js';
import { killAll, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const INSTANCES = 5_000;
const metadata = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, 'x'.repeat(500)]));

describe('a watcher that stops reading', () => {
  const dir = tempDir('slow-watcher');
  let server: ServerProcess;
  let client: ControlPlaneClient;
  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off', '--watch-max-buffer', '65536']);
    client = adminClient(server.url);
  });
  after(() => { killAll(); dir.remove(); });

  it('is cut off with WATCHER_TOO_SLOW and its last revision, and resumes from it without a gap', async () => {
    const { hostname: host, port } = new URL(server.url);
    const socket = connect(Number(port), host);
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    socket.write(`GET /v1/watch?format=ndjson&service=flood HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${adminToken(server.url) ?? ''}\r\n\r\n`);
    let head = '';
    await waitFor('the response head', () => new Promise<boolean>((resolve) => {
      const chunk = socket.read() as Buffer | null;
      if (chunk !== null) head += chunk.toString('latin1');
      resolve(head.includes('\r\n\r\n'));
    }));
    assert.match(head, /^HTTP\/1\.1 200/);
    socket.pause(); // stop reading: the kernel's buffers, then the server's, fill up

    for (let start = 0; start < INSTANCES; start += 1_000) {
      const instances = Array.from({ length: 1_000 }, (_, i) => ({ id: `f-${start + i}`, address: '10.0.0.1', port: 1_000 + i, metadata }));
      assert.equal((await client.registerMany('flood', instances)).failed, 0);
    }
    const last = (await client.instances('flood')).revision;

    // Now read everything the server sent before it hung up.
    let text = head.slice(head.indexOf('\r\n\r\n') + 4);
    socket.resume();
    socket.setEncoding('latin1');
    await new Promise<void>((resolve) => {
      socket.on('data', (d: string) => { text += d; });
      socket.once('end', resolve);
      socket.once('close', () => resolve());
    });
    socket.destroy();
    const lines = text.split('\n').filter((l) => l.trim().startsWith('{'));
    const error = JSON.parse(lines[lines.length - 1] ?? '{}') as { error?: { code: string; lastRevision: number; message: string } };
    assert.equal(error.error?.code, 'TRELLIS_ERR_WATCHER_TOO_SLOW', 'the last line says why');
    assert.match(error.error?.message ?? '', /reconnect with after=\d+/);
    const resumeAfter = error.error?.lastRevision ?? -1;
    const seen = new Set(lines.slice(0, -1).map((l) => (JSON.parse(l) as { id: string }).id));
    assert.ok(resumeAfter > 0 && resumeAfter < last, `cut off at revision ${resumeAfter} of ${last}`);

    // Resume: every event after lastRevision, in order, none missing.
    const res = await request(`${server.url}/v1/watch?format=ndjson&service=flood&after=${resumeAfter}`, { headers: { authorization: `Bearer ${adminToken(server.url) ?? ''}` } });
    res.body.on('error', () => undefined);
    const reader = createInterface({ input: res.body, crlfDelay: Infinity });
    reader.on('error', () => undefined);
    const revisions: number[] = [];
    for await (const line of reader) {
      if (line.trim() === '') continue;
      const event = JSON.parse(line) as { revision: number; id: string };
      revisions.push(event.revision);
      seen.add(event.id);
      if (event.revision >= last) break;
    }
    res.body.destroy();
    assert.ok((revisions[0] ?? 0) > resumeAfter, 'only events after the cut');
    assert.equal(seen.size, INSTANCES, 'before the cut and after the resume, every registration seen');
    assert.equal(revisions[revisions.length - 1], last);
    assert.ok(revisions.every((r, i) => i === 0 || r > (revisions[i - 1] ?? 0)), 'in order, none twice');
  });
});
