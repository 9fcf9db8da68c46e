/** Request bodies: streamed to the first attempt, kept for a retry while small, never buffered when large. */
import assert from 'node:assert/strict';
import { PassThrough, type Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { NO_BODY, replayableBody } from '../../src/proxy/body.js';

async function text(stream: Readable | null): Promise<string> {
  assert.ok(stream !== null);
  let out = '';
  for await (const chunk of stream) out += (chunk as Buffer).toString();
  return out;
}

function source(chunks: string[]): PassThrough {
  const stream = new PassThrough();
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  return stream;
}

describe('request bodies', () => {
  it('a request without a body opens nothing and is replayable', () => {
    assert.equal(NO_BODY.open(), null);
    assert.equal(NO_BODY.replayable, true);
  });

  it('replays a small body in full, any number of times', async () => {
    const body = replayableBody(source(['hello ', 'world']), 1024);
    assert.equal(await text(body.open()), 'hello world');
    assert.equal(body.replayable, true);
    assert.equal(await text(body.open()), 'hello world');
    assert.equal(await text(body.open()), 'hello world');
  });

  it('replays what a cut-short first attempt read, then the rest from the client', async () => {
    const client = new PassThrough();
    const body = replayableBody(client, 1024);
    const first = body.open();
    assert.ok(first !== null);
    client.write('part one;');
    const [chunk] = await new Promise<[Buffer]>((resolve) => first.once('data', (c: Buffer) => resolve([c])));
    assert.equal(chunk.toString(), 'part one;');
    first.destroy();
    assert.equal(client.destroyed, false, "giving up an attempt leaves the client's stream alone");
    client.end('part two');
    assert.equal(await text(body.open()), 'part one;part two');
  });

  it('streams a body over the limit without keeping it, and then is not replayable', async () => {
    const big = 'x'.repeat(4096);
    const body = replayableBody(source([big, big, big]), 5000);
    assert.equal((await text(body.open())).length, 3 * 4096);
    assert.equal(body.replayable, false);
    await assert.rejects(text(body.open()), /cannot be sent again/);
  });
});
