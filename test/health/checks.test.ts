/**
 * Active health checks against real servers on port 0: each probe kind's verdicts, and
 * the runner's schedule (jitter, minimum interval, no overlap, stop) and thresholds. Every
 * timing is asserted on a ManualClock (test/helpers/manual-clock.ts) at its exact boundary:
 * the sockets are real, time is the test's.
 */
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { CheckRunner, StatusThreshold } from '../../src/health/check-runner.js';
import { probeFor } from '../../src/health/checks/registry.js';
import { MAX_OUTPUT_BYTES, type ActiveCheckSpec, type CheckTarget, type HttpCheckSpec, type ProbeResult, type TcpCheckSpec } from '../../src/health/checks/types.js';
import { worstStatus, type HealthStatus } from '../../src/core/health.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/wait.js';

/** How a path answers: a status code, never ('hang'), or a status after a delay. */
type Behaviour = number | 'hang' | { status: number; afterMs: number } | ((req: IncomingMessage, res: ServerResponse) => void);

interface Seen {
  method: string;
  /** performance.now() when the request arrived. */
  at: number;
}

/** A real HTTP server whose paths' answers a test switches, recording every request. */
class TestHttpServer {
  readonly server: HttpServer;
  readonly #behaviours = new Map<string, Behaviour>();
  readonly #seen = new Map<string, Seen[]>();
  /** Requests currently being answered, and the most ever at once. */
  inFlight = 0;
  maxInFlight = 0;

  constructor() {
    this.server = createHttpServer((req, res) => this.#handle(req, res));
  }

  async listen(host = '127.0.0.1'): Promise<CheckTarget> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, host, () => resolve());
    });
    return { address: host, port: (this.server.address() as AddressInfo).port };
  }

  /** Sets how `path` answers from now on. */
  answer(path: string, behaviour: Behaviour): void {
    this.#behaviours.set(path, behaviour);
  }

  /** Requests seen on `path` so far. */
  seen(path: string): Seen[] {
    return this.#seen.get(path) ?? [];
  }

  count(path: string): number {
    return this.seen(path).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = req.url ?? '/';
    const list = this.#seen.get(path) ?? [];
    list.push({ method: req.method ?? '', at: performance.now() });
    this.#seen.set(path, list);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.once('close', () => { this.inFlight -= 1; });

    const behaviour = this.#behaviours.get(path) ?? 404;
    if (behaviour === 'hang') return;
    if (typeof behaviour === 'function') return behaviour(req, res);
    if (typeof behaviour === 'number') {
      res.writeHead(behaviour).end(`answered ${behaviour}`);
      return;
    }
    const timer = setTimeout(() => res.writeHead(behaviour.status).end('slow'), behaviour.afterMs);
    res.once('close', () => clearTimeout(timer));
  }
}

const common = {
  intervalMs: 50,
  timeoutMs: 1_000,
  failuresBeforeCritical: 1,
  successesBeforePassing: 1,
  initialStatus: 'passing',
} as const;

function httpSpec(path: string, overrides: Partial<HttpCheckSpec> = {}): HttpCheckSpec {
  return { ...common, type: 'http', path, method: 'GET', ...overrides };
}

function tcpSpec(overrides: Partial<TcpCheckSpec> = {}): TcpCheckSpec {
  return { ...common, type: 'tcp', ...overrides };
}

/** Runs one probe of `spec` against `target` with a fresh signal. */
function probeOnce(spec: ActiveCheckSpec, target: CheckTarget, signal = new AbortController().signal, clock?: ManualClock): Promise<ProbeResult> {
  return probeFor(spec, clock)(target, signal);
}

/** A port nothing listens on: bind one, then close it. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const app = new TestHttpServer();
let target: CheckTarget;
const runners: CheckRunner[] = [];

/** A runner stopped in after() even if the test fails. */
function runner(options: ConstructorParameters<typeof CheckRunner>[0]): CheckRunner {
  const created = new CheckRunner(options);
  runners.push(created);
  return created;
}

before(async () => {
  target = await app.listen();
});

after(async () => {
  for (const r of runners) r.stop();
  await app.close();
});

describe('worstStatus', () => {
  it('orders critical > warning > passing, and an empty list is passing', () => {
    assert.equal(worstStatus([]), 'passing');
    assert.equal(worstStatus(['passing', 'passing']), 'passing');
    assert.equal(worstStatus(['passing', 'warning', 'passing']), 'warning');
    assert.equal(worstStatus(['warning', 'critical', 'passing']), 'critical');
  });
});

describe('HTTP probe', () => {
  it('2xx is passing, with the status line and body in the output', async () => {
    app.answer('/ok', 200);
    const result = await probeOnce(httpSpec('/ok'), target);
    assert.deepEqual(result, {
      status: 'passing',
      output: `HTTP GET http://127.0.0.1:${target.port}/ok: 200 OK Output: answered 200`,
    });
  });

  it('429 is warning', async () => {
    app.answer('/busy', 429);
    const result = await probeOnce(httpSpec('/busy'), target);
    assert.equal(result.status, 'warning');
    assert.match(result.output, /: 429 Too Many Requests Output: answered 429$/);
  });

  it('500 and 404 are critical', async () => {
    app.answer('/broken', 500);
    const broken = await probeOnce(httpSpec('/broken'), target);
    assert.equal(broken.status, 'critical');
    assert.equal(broken.output, `HTTP GET http://127.0.0.1:${target.port}/broken: 500 Internal Server Error Output: answered 500`);
    assert.equal((await probeOnce(httpSpec('/missing'), target)).status, 'critical');
  });

  it('a server that never answers is critical exactly when timeoutMs elapses', async () => {
    app.answer('/hang', 'hang');
    const clock = new ManualClock();
    let settled: ProbeResult | undefined;
    const pending = probeOnce(httpSpec('/hang', { timeoutMs: 100 }), target, undefined, clock).then((r) => (settled = r));
    await waitFor('the request to arrive', () => app.count('/hang') === 1);
    assert.deepEqual(clock.pending(), [100], 'one deadline, 100 ms away');
    await clock.advance(99);
    assert.equal(settled, undefined, 'still waiting at 99 ms');
    await clock.advance(1);
    const result = await pending;
    assert.equal(result.status, 'critical');
    assert.equal(result.output, `HTTP GET http://127.0.0.1:${target.port}/hang: timed out after 100 ms`);
    assert.deepEqual(clock.pending(), [], 'the deadline is cleared');
    await waitFor('the timed-out connection to close', () => app.inFlight === 0);
  });

  it('a refused connection is critical, naming the error code', async () => {
    const result = await probeOnce(httpSpec('/ok'), { address: '127.0.0.1', port: await closedPort() });
    assert.equal(result.status, 'critical');
    assert.match(result.output, /ECONNREFUSED/);
  });

  it('an aborted signal settles the probe as cancelled', async () => {
    app.answer('/hang-cancel', 'hang');
    const controller = new AbortController();
    const pending = probeOnce(httpSpec('/hang-cancel', { timeoutMs: 5_000 }), target, controller.signal);
    await waitFor('the request to arrive', () => app.count('/hang-cancel') === 1);
    controller.abort();
    const result = await pending;
    assert.equal(result.status, 'critical');
    assert.match(result.output, /: cancelled$/);
  });

  it('HEAD sends a HEAD request', async () => {
    app.answer('/head', 200);
    const result = await probeOnce(httpSpec('/head', { method: 'HEAD' }), target);
    assert.equal(result.status, 'passing');
    assert.match(result.output, /^HTTP HEAD .*: 200 OK Output: $/);
    assert.deepEqual(app.seen('/head').map((s) => s.method), ['HEAD']);
  });

  it('the spec port overrides the instance port', async () => {
    app.answer('/port', 200);
    const result = await probeOnce(httpSpec('/port', { port: target.port }), { address: '127.0.0.1', port: await closedPort() });
    assert.equal(result.status, 'passing');
  });

  it('follows redirects like Consul, judging the final response', async () => {
    app.answer('/moved', (_req, res) => res.writeHead(302, { location: '/ok' }).end());
    app.answer('/moved-to-broken', (_req, res) => res.writeHead(301, { location: '/broken' }).end());
    app.answer('/ok', 200);
    app.answer('/broken', 500);
    const before = app.count('/ok');
    assert.equal((await probeOnce(httpSpec('/moved'), target)).status, 'passing');
    assert.equal(app.count('/ok'), before + 1);
    assert.equal((await probeOnce(httpSpec('/moved-to-broken'), target)).status, 'critical');
  });

  it('a redirect loop ends critical', async () => {
    app.answer('/loop', (_req, res) => res.writeHead(302, { location: '/loop' }).end());
    const result = await probeOnce(httpSpec('/loop'), target);
    assert.equal(result.status, 'critical');
    assert.match(result.output, /302 Found/);
  });

  it('keeps at most 4 KiB of output and does not read a big body to the end', async () => {
    let bytesWritten = 0;
    let finished = false;
    app.answer('/big', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      // Stream up to 64 MiB, stopping when the client goes away.
      const write = (): void => {
        while (bytesWritten < 64 * 1024 * 1024) {
          bytesWritten += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        finished = true;
        res.end();
      };
      res.once('close', () => res.removeAllListeners('drain'));
      write();
    });
    const result = await probeOnce(httpSpec('/big'), target);
    assert.equal(result.status, 'passing');
    assert.ok(Buffer.byteLength(result.output) <= MAX_OUTPUT_BYTES, `output is ${Buffer.byteLength(result.output)} bytes`);
    assert.match(result.output, /Output: x+$/);
    assert.equal(finished, false, 'the server could write the whole body: the probe read it all');
  });

  it('cuts multi-byte output on a character boundary', async () => {
    app.answer('/accents', (_req, res) => res.writeHead(200).end('é'.repeat(5_000)));
    const result = await probeOnce(httpSpec('/accents'), target);
    assert.ok(Buffer.byteLength(result.output) <= MAX_OUTPUT_BYTES);
    assert.ok(!result.output.includes('\uFFFD'), 'no replacement character from a split é');
    assert.match(result.output, /Output: (é)+$/);
  });

  it('brackets IPv6 addresses in the URL', async (t) => {
    const v6 = new TestHttpServer();
    let v6Target: CheckTarget;
    try {
      v6Target = await v6.listen('::1');
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    try {
      v6.answer('/healthz', 200);
      const result = await probeOnce(httpSpec('/healthz'), v6Target);
      assert.equal(result.status, 'passing');
      assert.match(result.output, new RegExp(`^HTTP GET http://\\[::1\\]:${v6Target.port}/healthz: 200 OK`));
    } finally {
      await v6.close();
    }
  });
});

describe('TCP probe', () => {
  let tcp: TcpServer;
  let tcpTarget: CheckTarget;

  before(async () => {
    tcp = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    tcpTarget = { address: '127.0.0.1', port: (tcp.address() as AddressInfo).port };
  });

  after(() => {
    if (tcp.listening) tcp.close();
  });

  it('a listening port is passing; once the server closes, critical with the error code', async () => {
    assert.deepEqual(await probeOnce(tcpSpec(), tcpTarget), {
      status: 'passing',
      output: `TCP connect 127.0.0.1:${tcpTarget.port}: Success`,
    });
    await new Promise<void>((resolve) => tcp.close(() => resolve()));
    const result = await probeOnce(tcpSpec(), tcpTarget);
    assert.equal(result.status, 'critical');
    assert.equal(result.output, `TCP connect 127.0.0.1:${tcpTarget.port}: connect ECONNREFUSED 127.0.0.1:${tcpTarget.port}`);
  });

  it('the spec port overrides the instance port', async () => {
    const result = await probeOnce(tcpSpec({ port: target.port }), { address: '127.0.0.1', port: await closedPort() });
    assert.equal(result.status, 'passing');
  });

  it('an already-aborted signal is cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await probeOnce(tcpSpec(), { address: '127.0.0.1', port: target.port }, controller.signal);
    assert.equal(result.status, 'critical');
    assert.match(result.output, /: cancelled$/);
  });
});

describe('StatusThreshold', () => {
  it('changes only after consecutive results cross a threshold; warning counts as a failure', () => {
    const threshold = new StatusThreshold('passing', { failuresBeforeCritical: 2, successesBeforePassing: 2 });
    const changes = (['critical', 'passing', 'warning', 'critical', 'passing', 'passing'] as HealthStatus[])
      .map((verdict) => (threshold.record(verdict) ? threshold.status : '-'));
    assert.deepEqual(changes, ['-', '-', '-', 'critical', '-', 'passing']);

    const warning = new StatusThreshold('passing', { failuresBeforeCritical: 2, successesBeforePassing: 1 });
    assert.equal(warning.record('critical'), false);
    assert.equal(warning.record('warning'), true);
    assert.equal(warning.status, 'warning');
  });
});

describe('CheckRunner', () => {
  it('goes critical after exactly failuresBeforeCritical failures, passing after exactly successesBeforePassing', async () => {
    const path = '/threshold';
    app.answer(path, 500);
    const changes: { status: HealthStatus; requests: number }[] = [];
    let results = 0;
    const check = runner({
      spec: httpSpec(path, { failuresBeforeCritical: 3, successesBeforePassing: 2 }),
      target,
      minIntervalMs: 10,
      random: () => 0,
      onResult: () => { results += 1; },
      onChange: (status) => {
        changes.push({ status, requests: app.count(path) });
        // Switch the answer between probes, so every later request is counted against the new answer.
        if (status === 'critical') app.answer(path, 200);
      },
    });
    assert.equal(check.status, 'passing');
    check.start();
    await waitFor('critical then passing', () => changes.length === 2);
    check.stop();
    assert.deepEqual(changes, [
      { status: 'critical', requests: 3 },
      { status: 'passing', requests: 3 + 2 },
    ]);
    assert.equal(check.status, 'passing');
    assert.ok(results >= 5);
  });

  it('reports warning when 429s cross the failure threshold', async () => {
    const path = '/warning';
    app.answer(path, 429);
    const changes: { status: HealthStatus; output: string; requests: number }[] = [];
    const check = runner({
      spec: httpSpec(path, { failuresBeforeCritical: 2 }),
      target,
      minIntervalMs: 10,
      random: () => 0,
      onChange: (status, result) => changes.push({ status, output: result.output, requests: app.count(path) }),
    });
    check.start();
    await waitFor('a status change', () => changes.length === 1);
    check.stop();
    assert.equal(changes[0]?.status, 'warning');
    assert.equal(changes[0]?.requests, 2);
    assert.match(changes[0]?.output ?? '', /429 Too Many Requests/);
  });

  it('starts at initialStatus and reports passing once probes pass', async () => {
    const path = '/initially-critical';
    app.answer(path, 200);
    const changes: HealthStatus[] = [];
    const check = runner({
      spec: httpSpec(path, { initialStatus: 'critical' }),
      target,
      minIntervalMs: 10,
      random: () => 0,
      onChange: (status) => changes.push(status),
    });
    assert.equal(check.status, 'critical');
    check.start();
    await waitFor('passing', () => changes.length === 1);
    check.stop();
    assert.deepEqual(changes, ['passing']);
  });

  it('delays the first probe by exactly floor(random() × interval)', async () => {
    for (const [fraction, path, delay] of [[0.5, '/jitter-half', 100], [0.9, '/jitter-late', 180], [0, '/jitter-none', 0]] as const) {
      app.answer(path, 200);
      const clock = new ManualClock();
      const check = runner({ spec: httpSpec(path, { intervalMs: 200 }), target, random: () => fraction, clock, onChange: () => {} });
      check.start();
      assert.deepEqual(clock.pending(), [delay], `first probe scheduled after ${delay} ms (fraction ${fraction})`);
      if (delay > 0) {
        await clock.advance(delay - 1);
        assert.equal(app.count(path), 0, `no probe at ${delay - 1} ms`);
      }
      await clock.advance(delay > 0 ? 1 : 0);
      await waitFor('the first probe', () => app.count(path) === 1);
      check.stop();
    }
  });

  it('keeps jitter below the interval even if random() returns 1', () => {
    const path = '/jitter-one';
    app.answer(path, 200);
    const clock = new ManualClock();
    const check = runner({ spec: httpSpec(path, { intervalMs: 100 }), target, random: () => 1, clock, onChange: () => {} });
    check.start();
    assert.deepEqual(clock.pending(), [99]);
    check.stop();
    assert.deepEqual(clock.pending(), [], 'stop() cancels the timer');
  });

  it('raises intervals below minIntervalMs (default 100 ms) to it, measured start to start', async () => {
    const path = '/min-interval';
    app.answer(path, 200);
    const clock = new ManualClock();
    const durations: number[] = [];
    const check = runner({ spec: httpSpec(path, { intervalMs: 5 }), target, random: () => 0, clock, onResult: (_r, ms) => durations.push(ms), onChange: () => {} });
    assert.equal(check.intervalMs, 100);
    check.start();
    for (let probe = 1; probe <= 3; probe += 1) {
      await clock.next();
      await waitFor(`probe ${probe}`, () => app.count(path) === probe && durations.length === probe);
      // The probe took no time on this clock: the next starts a whole interval later, and not a millisecond sooner.
      assert.deepEqual(clock.pending(), [100]);
      await clock.advance(99);
      assert.equal(app.count(path), probe, 'no probe before the interval is over');
      assert.deepEqual(clock.pending(), [1]);
    }
    check.stop();
    assert.deepEqual(durations, [0, 0, 0]);
    assert.throws(() => new CheckRunner({ spec: httpSpec(path), target, minIntervalMs: 0, onChange: () => {} }), { code: 'TRELLIS_ERR_VALIDATION', field: 'minIntervalMs' });
  });

  it('never overlaps probes: a slow probe delays the next until it finishes', async () => {
    const path = '/slow';
    const held: ServerResponse[] = [];
    app.answer(path, (_req, res) => { held.push(res); });
    const clock = new ManualClock();
    const durations: number[] = [];
    const check = runner({ spec: httpSpec(path, { intervalMs: 50, timeoutMs: 1_000 }), target, minIntervalMs: 10, random: () => 0, clock, onResult: (_r, ms) => durations.push(ms), onChange: () => {} });
    check.start();
    await clock.advance(0);
    await waitFor('the first probe to arrive', () => held.length === 1);
    assert.deepEqual(clock.pending(), [1_000], 'only the probe deadline: no next probe while one is in flight');
    await clock.advance(150);
    assert.equal(app.count(path), 1, 'three intervals later, still one probe');
    held[0]?.writeHead(200).end('late');
    // It took 150 ms (> the 50 ms interval): the next one starts at once.
    await waitFor('the slow probe to end', () => durations.length === 1);
    assert.deepEqual(durations, [150]);
    assert.deepEqual(clock.pending(), [0]);
    check.stop();
  });

  it('stop() prevents further probes and callbacks, and is idempotent', async () => {
    const path = '/stopped';
    const sentinelPath = '/sentinel';
    app.answer(path, 500);
    app.answer(sentinelPath, 200);
    let callbacks = 0;
    const check = runner({
      spec: httpSpec(path, { failuresBeforeCritical: 100 }),
      target,
      minIntervalMs: 10,
      random: () => 0,
      onResult: () => { callbacks += 1; },
      onChange: () => { callbacks += 1; },
    });
    check.start();
    check.start(); // already running: no second schedule
    await waitFor('two probes', () => app.count(path) >= 2);
    check.stop();
    check.stop();
    const probes = app.count(path);
    const callbacksAtStop = callbacks;
    // Let several intervals pass, observed through a second runner on the same server.
    const sentinel = runner({ spec: httpSpec(sentinelPath), target, minIntervalMs: 10, random: () => 0, onChange: () => {} });
    sentinel.start();
    await waitFor('the sentinel to probe four times', () => app.count(sentinelPath) >= 4);
    sentinel.stop();
    assert.equal(app.count(path), probes);
    assert.equal(callbacks, callbacksAtStop);
    assert.throws(() => check.start(), { code: 'TRELLIS_ERR_INTERNAL' });
  });

  it('stop() aborts a probe in flight without calling back', async () => {
    const path = '/hang-stop';
    app.answer(path, 'hang');
    let callbacks = 0;
    const check = runner({
      spec: httpSpec(path, { timeoutMs: 10_000, initialStatus: 'critical' }),
      target,
      random: () => 0,
      onResult: () => { callbacks += 1; },
      onChange: () => { callbacks += 1; },
    });
    check.start();
    await waitFor('the probe to arrive', () => app.count(path) === 1);
    check.stop();
    await waitFor('the aborted request to close', () => app.inFlight === 0);
    assert.equal(callbacks, 0);
    assert.equal(check.status, 'critical');
  });

  it('runs TCP checks too', async () => {
    const changes: HealthStatus[] = [];
    const check = runner({
      spec: tcpSpec({ initialStatus: 'critical' }),
      target,
      minIntervalMs: 10,
      random: () => 0,
      onChange: (status) => changes.push(status),
    });
    check.start();
    await waitFor('passing', () => changes.length === 1);
    check.stop();
    assert.deepEqual(changes, ['passing']);
  });
});
