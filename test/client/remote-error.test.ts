/**
 * The control-plane client never trusts an error code off the network: a real HTTP server on
 * port 0 answers with codes of ours, codes of nobody's and no code at all, and the real
 * client turns each into a TrellisError with a known code (its status's when the given one
 * is unknown), keeping the server's message.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ControlPlaneClient } from '../../src/client/control-plane.js';
import { isErrorCode, TrellisError } from '../../src/errors.js';

/** What the server answers next: a status and a body (sent as is). */
let answer: { status: number; body: string } = { status: 200, body: '{}' };

describe('remote error codes', () => {
  let server: Server;
  let client: ControlPlaneClient;

  before(async () => {
    server = createServer((_req, res) => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new ControlPlaneClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const failure = async (status: number, body: unknown): Promise<TrellisError> => {
    answer = { status, body: typeof body === 'string' ? body : JSON.stringify(body) };
    const err = await client.services().then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof TrellisError, `a TrellisError, got ${String(err)}`);
    assert.ok(isErrorCode(err.code), `${err.code} is one of ours`);
    return err;
  };

  it('keeps a code of ours, with its message and field', async () => {
    const err = await failure(400, { error: { code: 'TRELLIS_ERR_VALIDATION', message: 'port must be a number', field: 'port' } });
    assert.equal(err.code, 'TRELLIS_ERR_VALIDATION');
    assert.equal(err.message, 'port must be a number');
    assert.equal(err.field, 'port');
  });

  it('maps an unknown code to the one its status stands for, keeping the message and the given code in details', async () => {
    const err = await failure(404, { error: { code: 'SOMEONE_ELSES_CODE', message: 'no such thing' } });
    assert.equal(err.code, 'TRELLIS_ERR_NOT_FOUND');
    assert.equal(err.message, 'no such thing');
    assert.deepEqual(err.details, { remoteCode: 'SOMEONE_ELSES_CODE' });
    assert.equal(err.status, 404);
  });

  it('a code that is not a string, or none, or no error object at all, gets the status\'s code', async () => {
    assert.equal((await failure(409, { error: { code: 42, message: 'taken' } })).code, 'TRELLIS_ERR_CONFLICT');
    assert.equal((await failure(418, { error: { message: 'teapot' } })).code, 'TRELLIS_ERR_INTERNAL');
    const bare = await failure(401, { nothing: 'here' });
    assert.equal(bare.code, 'TRELLIS_ERR_TOKEN_INVALID');
    assert.equal(bare.message, 'HTTP 401');
  });

  it('an unknown code with a 503 is unreachable (another replica is worth a try); a huge message is capped', async () => {
    const err = await failure(503, { error: { code: 'X'.repeat(10_000), message: 'm'.repeat(100_000), field: { not: 'a string' } } });
    assert.equal(err.code, 'TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE');
    assert.equal(err.message.length, 2_048);
    assert.equal(err.field, undefined);
    assert.equal(String(err.details?.['remoteCode']).length, 128);
  });
});
