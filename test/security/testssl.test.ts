/**
 * testssl.sh (the Debian package) against a sidecar's inbound port: only TLS 1.3 is
 * offered (no SSLv2/v3, TLS 1.0, 1.1 or 1.2) and no weak cipher category. Only the
 * protocol and cipher-category checks run (`--protocols --std`), with a generous timeout;
 * the summary is recorded in docs/security.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Sidecar } from '../../src/agent/sidecar.js';
import { startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { sidecar, startApp, tearDown, type App } from '../proxy/helpers.js';
import { run } from './helpers.js';

interface Finding { id: string; severity: string; finding: string }

describe('testssl.sh against an inbound port', () => {
  const dir = tempDir('testssl');
  const sidecars: Sidecar[] = [];
  const apps: App[] = [];
  let server: ServerProcess;
  let port: number;

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off']);
    const app = await startApp('b');
    apps.push(app);
    const b = await sidecar({ service: 'b', controlPlane: server.url, app: { port: app.port } });
    sidecars.push(b);
    port = b.inbound?.port ?? 0;
  });

  after(() => tearDown(dir, sidecars, apps));

  it('finds TLS 1.3 only and no weak cipher', { timeout: 300_000 }, async () => {
    const json = join(dir.path, 'testssl.json');
    const result = await run('testssl', ['--quiet', '--color', '0', '--warnings', 'off', '--protocols', '--std', '--jsonfile', json, `127.0.0.1:${port}`], { timeoutMs: 280_000 });
    const findings = new Map((JSON.parse(readFileSync(json, 'utf8')) as Finding[]).map((f) => [f.id, f.finding]));
    const summary = `${result.stdout}\n${[...findings].map(([id, finding]) => `${id}: ${finding}`).join('\n')}`;
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1', 'TLS1_2']) assert.equal(findings.get(id), 'not offered', `${id}\n${summary}`);
    assert.match(findings.get('TLS1_3') ?? '', /^offered/, summary);
    for (const id of ['cipherlist_NULL', 'cipherlist_aNULL', 'cipherlist_EXPORT', 'cipherlist_LOW', 'cipherlist_3DES_IDEA', 'cipherlist_AVERAGE']) {
      assert.equal(findings.get(id), 'not offered', `${id}\n${summary}`);
    }
    assert.equal(findings.get('cipherlist_STRONG'), 'offered', summary);
  });
});
