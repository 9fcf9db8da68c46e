/**
 * One error shape for every answer of the API — `{"error":{"code":"TRELLIS_ERR_…","message","field"?}}`
 * with the right status — also for what fastify's router and Node's HTTP parser refuse themselves,
 * sent with curl and raw sockets; and the strict validation of addresses, durations and UTF-8.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { api, killAll, startServer, tempDir, type ApiErrorBody, type ServerProcess } from '../helpers/processes.js';
import { adminHeaders } from '../helpers/tokens.js';

const run = promisify(execFile);

interface Answer { status: number; body: ApiErrorBody }

/** Send raw bytes; read the answer until the server closes (or answers with a complete body). */
function raw(url: string, bytes: string | Buffer, timeoutMs = 15_000): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    let text = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer within ${timeoutMs} ms: ${JSON.stringify(text)}`)); }, timeoutMs);
    const finish = (): void => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? -1);
      if (length < 0 || Buffer.byteLength(body) < length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: Number(head.split(' ')[1]), body: JSON.parse(body) as ApiErrorBody });
    };
    socket.on('data', (d: Buffer) => { text += d.toString('utf8'); finish(); });
    socket.on('error', reject);
    socket.on('close', finish);
  });
}

/** curl: status and JSON body. */
async function curl(args: string[]): Promise<Answer> {
  const { stdout } = await run('curl', ['-s', '-w', '\n%{http_code}', ...args]);
  const lines = stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  return { status, body: JSON.parse(lines.join('\n')) as ApiErrorBody };
}

function assertShape(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.deepEqual(Object.keys(answer.body), ['error'], JSON.stringify(answer.body));
  assert.equal(answer.body.error.code, code);
  assert.ok(answer.body.error.message.length > 15, 'the message explains');
  assert.deepEqual(Object.keys(answer.body.error).filter((k) => !['code', 'message', 'field'].includes(k)), []);
}

describe('API error shape for framework and parser errors', () => {
  const dir = tempDir('api-errors');
  let server: ServerProcess;
  let auth: string[] = [];

  before(async () => {
    server = await startServer(dir.path, ['--dns', 'off', '--header-timeout', '1s']);
    auth = ['-H', `authorization: ${adminHeaders(new URL(server.url).origin)['authorization'] ?? ''}`];
  });
  after(() => { killAll(); dir.remove(); });

  it('a path parameter over 1024 characters → 414 TRELLIS_ERR_URI_TOO_LONG', async () => {
    assertShape(await curl([...auth, `${server.url}/v1/services/${'a'.repeat(2000)}/instances`]), 414, 'TRELLIS_ERR_URI_TOO_LONG');
  });
  it('bad percent-encoding → 400 TRELLIS_ERR_BAD_REQUEST', async () => {
    assertShape(await curl([...auth, `${server.url}/v1/services/%zz/instances`]), 400, 'TRELLIS_ERR_BAD_REQUEST');
  });
  it('bad JSON → 400 TRELLIS_ERR_INVALID_JSON', async () => {
    assertShape(await curl([...auth, '-X', 'PUT', '-H', 'content-type: application/json', '-d', '{"address":', `${server.url}/v1/services/web/instances/w1`]), 400, 'TRELLIS_ERR_INVALID_JSON');
  });
  it('a body over the limit → 413 TRELLIS_ERR_BODY_TOO_LARGE', async () => {
    const big = JSON.stringify({ address: '127.0.0.1', port: 1, metadata: { a: 'x'.repeat(100_000) } });
    assertShape(await curl([...auth, '-X', 'PUT', '-H', 'content-type: application/json', '--data-binary', big, `${server.url}/v1/services/web/instances/w1`]), 413, 'TRELLIS_ERR_BODY_TOO_LARGE');
  });
  it('a body that is not JSON → 415 TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE', async () => {
    assertShape(await curl([...auth, '-X', 'PUT', '-H', 'content-type: application/xml', '-d', '<a/>', `${server.url}/v1/services/web/instances/w1`]), 415, 'TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE');
  });
  it('an unknown route → 404 TRELLIS_ERR_ROUTE_NOT_FOUND', async () => {
    assertShape(await curl([...auth, `${server.url}/v2/nothing`]), 404, 'TRELLIS_ERR_ROUTE_NOT_FOUND');
  });
  it('a malformed header (Node clientError) → 400 TRELLIS_ERR_BAD_REQUEST', async () => {
    assertShape(await raw(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'), 400, 'TRELLIS_ERR_BAD_REQUEST');
  });
  it('a request line that is not HTTP → 400 TRELLIS_ERR_BAD_REQUEST', async () => {
    assertShape(await raw(server.url, 'HELLO\r\n\r\n'), 400, 'TRELLIS_ERR_BAD_REQUEST');
  });
  it('headers over 16 KiB (Node clientError) → 431 TRELLIS_ERR_HEADERS_TOO_LARGE', async () => {
    assertShape(await raw(server.url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 431, 'TRELLIS_ERR_HEADERS_TOO_LARGE');
  });
  it('HTTP/1.1 without Host → 400 TRELLIS_ERR_BAD_REQUEST', async () => {
    assertShape(await raw(server.url, 'GET /healthz HTTP/1.1\r\n\r\n'), 400, 'TRELLIS_ERR_BAD_REQUEST');
  });
  it('a head not finished within --header-timeout → 408 TRELLIS_ERR_REQUEST_TIMEOUT', async () => {
    const started = Date.now();
    assertShape(await raw(server.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\n'), 408, 'TRELLIS_ERR_REQUEST_TIMEOUT');
    assert.ok(Date.now() - started < 5_000, `closed after ${Date.now() - started} ms (header timeout 1 s, checked every second)`);
  });
  it('still serves', async () => {
    assert.equal((await api(`${server.url}/healthz`)).status, 200);
  });
});

describe('strict validation, naming the field', () => {
  const dir = tempDir('api-validation');
  let server: ServerProcess;
  const put = (body: string | Buffer): Promise<Answer> => {
    const { hostname, port } = new URL(server.url);
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    const head = `PUT /v1/services/web/instances/w1 HTTP/1.1\r\nHost: ${hostname}:${port}\r\n${adminHeaders(new URL(server.url).origin)['authorization'] === undefined ? '' : `Authorization: ${adminHeaders(new URL(server.url).origin)['authorization']}\r\n`}Content-Type: application/json\r\nContent-Length: ${payload.length}\r\nConnection: close\r\n\r\n`;
    return raw(server.url, Buffer.concat([Buffer.from(head), payload]));
  };

  before(async () => { server = await startServer(dir.path, ['--dns', 'off']); });
  after(() => { killAll(); dir.remove(); });

  for (const address of ['1.2.3', '256.1.1.1', '1.2.3.4.5', '10.0.0.999']) {
    it(`address ${address} is refused`, async () => {
      const answer = await put(JSON.stringify({ address, port: 80 }));
      assertShape(answer, 400, 'TRELLIS_ERR_VALIDATION');
      assert.equal(answer.body.error.field, 'address');
      assert.match(answer.body.error.message, /not a valid IPv4 address: write four numbers from 0 to 255/);
    });
  }
  for (const address of ['::1', 'fd00::5', '2001:db8::1', '10.0.0.5', 'api.example.com', 'localhost']) {
    it(`address ${address} is accepted`, async () => {
      const answer = await put(JSON.stringify({ address, port: 80 }));
      assert.ok(answer.status === 200 || answer.status === 201, JSON.stringify(answer.body));
    });
  }
  for (const ttl of ['10 s', '10 seconds', '-1s', '1y', '10S']) {
    it(`ttl ${JSON.stringify(ttl)} is refused with the accepted forms named`, async () => {
      const answer = await put(JSON.stringify({ address: '10.0.0.5', port: 80, ttl }));
      assertShape(answer, 400, 'TRELLIS_ERR_VALIDATION');
      assert.equal(answer.body.error.field, 'ttl');
      assert.match(answer.body.error.message, /ttl must be a duration: a number with a unit and no space — ms, s, m, h or d \(e\.g\. "250ms", "10s", "1\.5s", "1m30s"\) — or a number of milliseconds/);
    });
  }
  it('ttl "1m30s" and 5000 are accepted', async () => {
    for (const ttl of ['1m30s', 5000]) {
      const answer = await put(JSON.stringify({ address: '10.0.0.5', port: 80, ttl }));
      assert.ok(answer.status < 300, JSON.stringify(answer.body));
    }
  });
  it('invalid UTF-8 in metadata is refused, naming the field', async () => {
    const body = Buffer.concat([Buffer.from('{"address":"10.0.0.5","port":80,"metadata":{"version":"v'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]);
    const answer = await put(body);
    assertShape(answer, 400, 'TRELLIS_ERR_VALIDATION');
    assert.equal(answer.body.error.field, 'metadata.version');
    assert.match(answer.body.error.message, /metadata\.version is not valid UTF-8/);
  });
  it('an overlong UTF-8 sequence in a metadata key is refused', async () => {
    const body = Buffer.concat([Buffer.from('{"address":"10.0.0.5","port":80,"metadata":{"k'), Buffer.from([0xc0, 0xaf]), Buffer.from('":"v"}}')]);
    const answer = await put(body);
    assertShape(answer, 400, 'TRELLIS_ERR_VALIDATION');
    assert.match(answer.body.error.field ?? '', /^metadata\.k/);
  });
  it('a lone surrogate in metadata is refused, naming the field', async () => {
    const answer = await put('{"address":"10.0.0.5","port":80,"metadata":{"zone":"a\\ud800b"}}');
    assertShape(answer, 400, 'TRELLIS_ERR_VALIDATION');
    assert.equal(answer.body.error.field, 'metadata.zone');
    assert.match(answer.body.error.message, /lone surrogate/);
  });
  it('a surrogate pair (an emoji) is accepted and stored as sent', async () => {
    const answer = await put('{"address":"10.0.0.5","port":80,"metadata":{"mood":"\\ud83d\\ude00"}}');
    assert.ok(answer.status < 300, JSON.stringify(answer.body));
    const { json } = await api<{ instance: { metadata: Record<string, string> } }>(`${server.url}/v1/services/web/instances/w1`);
    assert.equal(json.instance.metadata['mood'], '😀');
  });
});
