/**
 * The mesh client library with mutual TLS (mtls: strict): it obtains its own workload
 * certificate with its join token and calls an instance behind a sidecar in strict mode — a
 * plaintext client is refused there — and the callee's sidecar sees the library's SPIFFE ID.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { createMeshClient, type MeshClient } from '../../src/library/index.js';
import { killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { replica, startApp, url, type App } from '../proxy/helpers.js';

describe('the mesh client library over mutual TLS to a sidecar-fronted instance', () => {
  const data = tempDir('library-mtls');
  let server: ServerProcess;
  let app: App;
  let callee: Sidecar;
  let mesh: MeshClient;

  before(async () => {
    server = await startServer(join(data.path, 'cp'));
    app = await startApp('secure-1');
    callee = await replica(server.url, 'secure-service', app, { mtls: { mode: 'strict' } });
    mesh = await createMeshClient({ service: 'caller', controlPlane: server.url, token: await mintToken(server.url, 'caller'), upstreams: ['secure-service'], mtls: 'strict' });
  });

  after(async () => {
    await mesh?.close();
    await callee?.close();
    await app?.close();
    killAll();
    await server?.kill();
    data.remove();
  });

  it('calls it over mTLS, and the callee sees the library\'s SPIFFE ID', async () => {
    const text = await waitFor('an answer over mTLS', async () => {
      const { statusCode, body } = await request('http://secure-service/', { dispatcher: mesh.dispatcher });
      const answer = await body.text();
      return statusCode === 200 ? answer : undefined;
    }, { timeoutMs: 15_000 });
    assert.equal(text, 'secure-1');
    // Plaintext to the strict inbound listener is refused: the call above was mutual TLS.
    await assert.rejects(request(url(callee.inbound!)).then((r) => r.body.text()));
    for (let i = 0; i < 20; i += 1) await (await request('http://secure-service/', { dispatcher: mesh.dispatcher })).body.text();
    const edge = await waitFor('the edge with the caller\'s identity', async () => {
      const { stdout, code } = await runCli(['edges', '--json', '--control-plane', server.url]);
      if (code !== 0) return undefined;
      const edges = (JSON.parse(stdout) as { edges: Array<{ src: string; dst: string; identities: string[] }> }).edges;
      return edges.find((e) => e.dst === 'secure-service' && e.identities.length > 0);
    }, { timeoutMs: 15_000, everyMs: 500 });
    assert.deepEqual(edge.identities, ['spiffe://trellis.local/ns/default/svc/caller']);
  });
});
