/**
 * The DNS interface, queried with the real `dig` over UDP and TCP, against
 * servers on port 0 backed by an in-memory lookup.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import dnsPacket, { type DecodedPacket } from 'dns-packet';
import { isTrellisError } from '../../src/errors.js';
import { startDnsServer, type DnsInstance, type DnsServer } from '../../src/dns/index.js';
import { ThrottledLog } from '../../src/util/throttled-log.js';

const run = promisify(execFile);

const MANY = 200;
const services: Record<string, DnsInstance[]> = {
  web: [
    { id: 'a', address: '10.0.0.1', port: 8081, weight: 1 },
    { id: 'b', address: '10.0.0.2', port: 8082, weight: 3 },
  ],
  mixed: [
    { id: 'v4', address: '10.0.1.1', port: 9001, weight: 100_000 },
    { id: 'v6', address: '::1', port: 9002, weight: 2 },
    { id: 'named', address: 'db.example.com', port: 9003, weight: 1 },
    // Drained: in no answer.
    { id: 'drained', address: '10.0.1.4', port: 9004, weight: 0 },
  ],
  empty: [],
  many: Array.from({ length: MANY }, (_, i) => ({ id: `i${i}`, address: `10.1.${i >> 8}.${i & 0xff}`, port: 10_000 + i, weight: 1 })),
};

const warnings: string[] = [];
const logger = { warn: (_obj: object, msg: string) => void warnings.push(msg) };

async function lookup(service: string): Promise<DnsInstance[] | undefined> {
  if (service === 'broken') throw new Error('registry unavailable');
  return services[service];
}

/** Full `dig` output. */
async function dig(server: DnsServer, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', [`@${server.host}`, '-p', String(server.port), '+time=2', '+tries=1', ...args]);
  return stdout;
}

/** `dig +short`, sorted. */
async function short(server: DnsServer, ...args: string[]): Promise<string[]> {
  return (await dig(server, '+short', ...args)).split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();
}

function status(output: string): string | undefined {
  return /status: (\w+)/.exec(output)?.[1];
}

function flags(output: string): string[] {
  return /;; flags: ([a-z ]*);/.exec(output)?.[1]?.split(' ') ?? [];
}

/** The records of one section of `dig` output (`+noall +answer` etc.), as "name ttl class type data". */
function records(output: string): string[] {
  return output.split('\n').filter((l) => l !== '' && !l.startsWith(';')).map((l) => l.split(/\s+/).join(' ')).sort();
}

/** A query as a TCP frame: 16-bit length, then the message. */
function tcpQuery(id: number, name: string, type: 'A' | 'SRV'): Buffer {
  return dnsPacket.streamEncode({ id, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] });
}

describe('DNS interface (dig)', () => {
  let v4: DnsServer;
  let v6: DnsServer;

  before(async () => {
    v4 = await startDnsServer({ host: '127.0.0.1', port: 0, lookup, logger });
    v6 = await startDnsServer({ host: '::1', port: 0, lookup, logger, domain: 'Mesh.Internal.', ttlSeconds: 30 });
  });

  after(async () => {
    await Promise.all([v4?.close(), v6?.close()]);
  });

  it('reports the bound address and one port for UDP and TCP', () => {
    assert.equal(v4.host, '127.0.0.1');
    assert.ok(v4.port > 0);
    assert.equal(v6.host, '::1');
  });

  it('answers A with the addresses of the instances', async () => {
    assert.deepEqual(await short(v4, 'web.service.trellis', 'A'), ['10.0.0.1', '10.0.0.2']);
  });

  it('answers SRV with exactly one record per instance and their addresses as additional records', async () => {
    assert.deepEqual(await short(v4, 'web.service.trellis', 'SRV'), ['1 1 8081 a.web.instance.trellis.', '1 3 8082 b.web.instance.trellis.']);
    assert.deepEqual(records(await dig(v4, '+noall', '+additional', 'web.service.trellis', 'SRV')), [
      'a.web.instance.trellis. 0 IN A 10.0.0.1',
      'b.web.instance.trellis. 0 IN A 10.0.0.2',
    ]);
  });

  it('uses a hostname address as the SRV target, clamps weights, and leaves drained instances out', async () => {
    assert.deepEqual(await short(v4, 'mixed.service.trellis', 'SRV'), [
      '1 1 9003 db.example.com.',
      '1 2 9002 v6.mixed.instance.trellis.',
      '1 65535 9001 v4.mixed.instance.trellis.',
    ]);
    assert.deepEqual(records(await dig(v4, '+noall', '+additional', 'mixed.service.trellis', 'SRV')), [
      'v4.mixed.instance.trellis. 0 IN A 10.0.1.1',
      'v6.mixed.instance.trellis. 0 IN AAAA ::1',
    ]);
    assert.deepEqual(await short(v4, 'mixed.service.trellis', 'A'), ['10.0.1.1']);
  });

  it('answers AAAA over IPv6, with a custom domain and TTL', async () => {
    assert.deepEqual(await short(v6, 'mixed.service.mesh.internal', 'AAAA'), ['::1']);
    assert.deepEqual(records(await dig(v6, '+noall', '+answer', 'mixed.service.mesh.internal', 'AAAA')), ['mixed.service.mesh.internal. 30 IN AAAA ::1']);
    assert.equal(status(await dig(v6, 'web.service.trellis', 'A')), 'REFUSED');
  });

  it('answers ANY with A, AAAA and SRV', async () => {
    assert.deepEqual(await short(v4, 'mixed.service.trellis', 'ANY'), [
      '1 1 9003 db.example.com.',
      '1 2 9002 v6.mixed.instance.trellis.',
      '1 65535 9001 v4.mixed.instance.trellis.',
      '10.0.1.1',
      '::1',
    ]);
  });

  it('answers instance names, case-insensitively, with or without the trailing dot', async () => {
    assert.deepEqual(await short(v4, 'a.web.instance.trellis', 'A'), ['10.0.0.1']);
    assert.deepEqual(await short(v4, 'B.Web.Instance.TRELLIS.', 'A'), ['10.0.0.2']);
    assert.deepEqual(await short(v4, 'v6.mixed.instance.trellis', 'AAAA'), ['::1']);
    assert.deepEqual(await short(v4, 'named.mixed.instance.trellis', 'A'), ['db.example.com.']);
    assert.equal(status(await dig(v4, 'drained.mixed.instance.trellis', 'A')), 'NXDOMAIN');
    assert.equal(status(await dig(v4, 'zz.web.instance.trellis', 'A')), 'NXDOMAIN');
  });

  it('answers over TCP on the same port', async () => {
    assert.deepEqual(await short(v4, '+tcp', 'web.service.trellis', 'SRV'), ['1 1 8081 a.web.instance.trellis.', '1 3 8082 b.web.instance.trellis.']);
    assert.deepEqual(await short(v6, '+tcp', 'mixed.service.mesh.internal', 'AAAA'), ['::1']);
  });

  it('answers NXDOMAIN for an unknown service and NOERROR with no records for one without instances, both with the SOA', async () => {
    const unknown = await dig(v4, 'nope.service.trellis', 'A');
    assert.equal(status(unknown), 'NXDOMAIN');
    assert.ok(flags(unknown).includes('aa'));
    assert.match(unknown, /ANSWER: 0, AUTHORITY: 1/);
    assert.match(unknown, /^trellis\.\s+0\s+IN\s+SOA\s+ns\.trellis\. hostmaster\.trellis\./m);

    const empty = await dig(v4, 'empty.service.trellis', 'A');
    assert.equal(status(empty), 'NOERROR');
    assert.ok(flags(empty).includes('aa'));
    assert.match(empty, /ANSWER: 0, AUTHORITY: 1/);
    assert.match(empty, /IN\s+SOA\s+ns\.trellis\./);
  });

  it('answers NOERROR with no records for an unsupported type, NXDOMAIN for impossible names in the domain', async () => {
    const txt = await dig(v4, 'web.service.trellis', 'TXT');
    assert.equal(status(txt), 'NOERROR');
    assert.match(txt, /ANSWER: 0,/);
    assert.equal(status(await dig(v4, 'web.trellis', 'A')), 'NXDOMAIN');
    assert.match((await short(v4, 'trellis', 'SOA')).join('\n'), /^ns\.trellis\. hostmaster\.trellis\. \d+ 3600 600 86400 0$/);
  });

  it('refuses names outside its domain', async () => {
    const output = await dig(v4, 'example.com', 'A');
    assert.equal(status(output), 'REFUSED');
    assert.ok(!flags(output).includes('aa'));
  });

  it('answers SERVFAIL when the lookup throws, and keeps serving', async () => {
    assert.equal(status(await dig(v4, 'broken.service.trellis', 'A')), 'SERVFAIL');
    assert.ok(warnings.some((w) => w.includes('SERVFAIL')));
    assert.deepEqual(await short(v4, 'web.service.trellis', 'A'), ['10.0.0.1', '10.0.0.2']);
  });

  describe('truncation', () => {
    const allAddresses = services.many.map((i) => i.address).sort();

    it('sets TC on a UDP answer over 512 bytes without EDNS0', async () => {
      const output = await dig(v4, '+ignore', '+noedns', 'many.service.trellis', 'A');
      assert.ok(flags(output).includes('tc'), output);
      const answers = Number(/ANSWER: (\d+)/.exec(output)?.[1]);
      assert.ok(answers > 0 && answers < MANY, `${answers} answers`);
    });

    it('honours the EDNS0 buffer size a client advertises, up to 4096 bytes', async () => {
      const output = await dig(v4, '+ignore', '+bufsize=3000', 'many.service.trellis', 'A');
      assert.ok(flags(output).includes('tc'), output);
      const size = Number(/MSG SIZE\s+rcvd: (\d+)/.exec(output)?.[1]);
      assert.ok(size > 2500 && size <= 3000, `${size} bytes`);

      // dig will not advertise more than 4096 bytes: ask by hand.
      const socket = dgram.createSocket('udp4');
      try {
        socket.send(dnsPacket.encode({
          id: 9,
          type: 'query',
          questions: [{ name: 'many.service.trellis', type: 'A', class: 'IN' }],
          additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 65_000, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
        }), v4.port, '127.0.0.1');
        const [reply] = (await once(socket, 'message')) as [Buffer];
        assert.ok(reply.length > 3500 && reply.length <= 4096, `${reply.length} bytes`);
        assert.ok(dnsPacket.decode(reply).flag_tc);
      } finally {
        socket.close();
      }
    });

    it('lets dig retry over TCP and get every record', async () => {
      assert.deepEqual(await short(v4, 'many.service.trellis', 'A'), allAddresses);
      const srv = await short(v4, 'many.service.trellis', 'SRV');
      assert.equal(srv.length, MANY);
      assert.ok(srv.includes('1 1 10199 i199.many.instance.trellis.'));
    });
  });

  describe('bad network input', () => {
    it('answers FORMERR to an undecodable UDP packet, drops one too short for an id, and keeps serving', async () => {
      const socket = dgram.createSocket('udp4');
      try {
        socket.send(Buffer.from([0x42]), v4.port, '127.0.0.1');
        socket.send(Buffer.from('\x12\x34garbage, not DNS', 'latin1'), v4.port, '127.0.0.1');
        const [reply] = (await once(socket, 'message')) as [Buffer];
        const decoded = dnsPacket.decode(reply) as DecodedPacket & { rcode: string };
        assert.equal(decoded.id, 0x1234);
        assert.equal(decoded.rcode, 'FORMERR');
      } finally {
        socket.close();
      }
      assert.ok(warnings.some((w) => w.includes('malformed')));
      assert.deepEqual(await short(v4, 'web.service.trellis', 'A'), ['10.0.0.1', '10.0.0.2']);
    });

    it('answers FORMERR, without echoing it, to a question whose name dns-packet cannot decode faithfully', async () => {
      // One label "web.service" (with a dot in it), then "trellis": not web.service.trellis.
      const name = Buffer.concat([Buffer.from([11]), Buffer.from('web.service'), Buffer.from([7]), Buffer.from('trellis'), Buffer.from([0])]);
      const header = Buffer.from([0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
      const socket = dgram.createSocket('udp4');
      try {
        socket.send(Buffer.concat([header, name, Buffer.from([0, 1, 0, 1])]), v4.port, '127.0.0.1');
        const [reply] = (await once(socket, 'message')) as [Buffer];
        const decoded = dnsPacket.decode(reply) as DecodedPacket & { rcode: string };
        assert.equal(decoded.id, 0x4242);
        assert.equal(decoded.rcode, 'FORMERR');
        assert.deepEqual(decoded.questions, []);
      } finally {
        socket.close();
      }
    });

    it('closes a TCP connection that sends garbage, and only that one', async () => {
      const good = net.connect(v4.port, '127.0.0.1');
      const bad = net.connect(v4.port, '127.0.0.1');
      await Promise.all([once(good, 'connect'), once(bad, 'connect')]);
      try {
        const closed = once(bad, 'close');
        bad.write(Buffer.from([0x00, 0x05, 1, 2, 3, 4, 5]));
        await closed;
        assert.deepEqual(await short(v4, '+tcp', 'web.service.trellis', 'A'), ['10.0.0.1', '10.0.0.2']);
        good.write(tcpQuery(7, 'web.service.trellis', 'A'));
        const [chunk] = (await once(good, 'data')) as [Buffer];
        assert.equal(dnsPacket.streamDecode(chunk).id, 7);
      } finally {
        good.destroy();
        bad.destroy();
      }
    });

    it('answers several queries on one TCP connection, sent in fragments', async () => {
      const socket = net.connect(v4.port, '127.0.0.1');
      await once(socket, 'connect');
      try {
        const frames = Buffer.concat([tcpQuery(1, 'web.service.trellis', 'SRV'), tcpQuery(2, 'many.service.trellis', 'A')]);
        let received = Buffer.alloc(0);
        const replies = new Map<number, DecodedPacket>();
        const done = new Promise<void>((resolve, reject) => {
          socket.on('error', reject);
          socket.on('data', (chunk: Buffer) => {
            received = Buffer.concat([received, chunk]);
            while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
              const reply = dnsPacket.decode(received.subarray(2, 2 + received.readUInt16BE(0)));
              replies.set(reply.id ?? -1, reply);
              received = received.subarray(2 + received.readUInt16BE(0));
            }
            if (replies.size === 2) resolve();
          });
        });
        // One byte, then the rest of the first frame together with part of the second, then the remainder.
        socket.write(frames.subarray(0, 1));
        socket.write(frames.subarray(1, 40));
        socket.write(frames.subarray(40));
        await done;
        assert.equal(replies.get(1)?.answers?.length, 2);
        assert.equal(replies.get(2)?.answers?.length, MANY);
      } finally {
        socket.destroy();
      }
    });
  });
});

describe('DNS server options', () => {
  it('rejects an invalid domain or port', async () => {
    await assert.rejects(startDnsServer({ host: '127.0.0.1', port: 0, lookup, domain: 'bad domain' }), (err) => isTrellisError(err) && err.field === 'domain');
    await assert.rejects(startDnsServer({ host: '127.0.0.1', port: 70_000, lookup }), (err) => isTrellisError(err) && err.field === 'port');
  });

  it('closes an idle TCP connection', async () => {
    const server = await startDnsServer({ host: '127.0.0.1', port: 0, lookup, tcpIdleTimeoutMs: 50 });
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      await once(socket, 'close');
    } finally {
      await server.close();
    }
  });

  it('warns about bad packets at most once per interval, counting the others', () => {
    const warned: object[] = [];
    let now = 0;
    const log = new ThrottledLog({ warn: (obj) => void warned.push(obj) }, 'bad', 1_000, () => now);
    log.report({});
    log.report({});
    now = 999;
    log.report({});
    now = 1_000;
    log.report({});
    assert.equal(log.count, 4);
    assert.deepEqual(warned, [{ total: 1, suppressedSinceLastWarning: 0 }, { total: 4, suppressedSinceLastWarning: 2 }]);
  });

  it('fails to start on a port already in use, and can be closed twice', async () => {
    const first = await startDnsServer({ host: '127.0.0.1', port: 0, lookup });
    try {
      await assert.rejects(startDnsServer({ host: '127.0.0.1', port: first.port, lookup }), /EADDRINUSE/);
    } finally {
      await first.close();
      await first.close();
    }
  });
});
