/** Request bodies: streamed to the first attempt, kept for a retry while small, never buffered when large. */
import assert from 'node:assert/strict';
import { PassThrough, type Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { FedBody, NO_BODY, replayableBody } from '../../src/proxy/body.js';

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

describe('a body fed by the raw HTTP/1 connection', () => {
  const flow = (): { paused: number; resumed: number; pauseBody(): void; resumeBody(): void } => ({
    paused: 0, resumed: 0, pauseBody() { this.paused += 1; }, resumeBody() { this.resumed += 1; },
  });

  it('is whole when it all came before anyone read it, and replays for a retry', async () => {
    const body = new FedBody(1024, flow());
    body.push(Buffer.from('ab'));
    body.push(Buffer.from('cd'));
    assert.equal(body.whole(), undefined, 'not whole before its end');
    body.end();
    assert.deepEqual(body.whole()?.map(String), ['ab', 'cd']);
    assert.equal(await text(body.open()), 'abcd');
    assert.equal(await text(body.open()), 'abcd', 'a second attempt gets it again');
  });

  it('streams to a sink with backpressure, pauses its feeder, and cannot replay once larger than it keeps', async () => {
    const feeder = flow();
    const body = new FedBody(4, feeder);
    const got: string[] = [];
    let ended = false;
    let failure: Error | undefined;
    const reader = body.stream({ write: (c) => { got.push(String(c)); return got.length !== 1; }, end: () => { ended = true; }, fail: (e) => { failure = e; } });
    body.push(Buffer.from('12345'));
    assert.equal(feeder.paused, 1, 'a sink that said stop pauses the feeder');
    body.push(Buffer.from('678'));
    assert.deepEqual(got, ['12345']);
    reader.resume();
    assert.deepEqual(got, ['12345', '678']);
    assert.equal(feeder.resumed, 1);
    body.end();
    assert.equal(ended, true);
    assert.equal(body.replayable, false);
    assert.equal(failure, undefined);
    await assert.rejects(text(body.open()), /cannot be sent again/);
  });

  it('tells the sink when the client broke the body off', () => {
    const body = new FedBody(1024, flow());
    let failure: Error | undefined;
    body.stream({ write: () => true, end: () => assert.fail('no end'), fail: (e) => { failure = e; } });
    body.push(Buffer.from('x'));
    body.fail(new Error('client gone'));
    assert.match(String(failure), /client gone/);
  });
});
