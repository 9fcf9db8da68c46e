/**
 * The lab's client, run on the caller's host beside its sidecar: a steady GET client and a
 * steady POST client (open loop: a request every 1/rate s whatever the others do, as real
 * users keep coming), both through the sidecar's outbound listener, and a watcher of the
 * sidecar's admin /status (every 50 ms) for the endpoints it may pick. One JSON line each:
 *
 *   {"k":"r","m":"GET","t":<sent, epoch ms>,"ms":<latency>,"s":<status, 0: no answer>,"by":"<answering replica>","e":"<trellis-error or client error>","q":<requests in flight when sent>}
 *   {"k":"s","t":<epoch ms>,"p":[<pickable ids>],"x":[<ejected ids>]}    when the set changes
 *   {"k":"end"}                                                          after SIGTERM, once every request has ended
 *
 *   node probe.js --outbound H:P --admin H:P --service S --get-rate N --post-rate N
 */
import { parseArgs } from 'node:util';
import { Pool, request } from 'undici';

const { values } = parseArgs({
  options: {
    outbound: { type: 'string' }, admin: { type: 'string' }, service: { type: 'string', default: 'svc' },
    'get-rate': { type: 'string', default: '50' }, 'post-rate': { type: 'string', default: '50' },
  },
});
const outbound = `http://${values.outbound ?? ''}`;
const admin = `http://${values.admin ?? ''}`;
const service = values.service ?? 'svc';
/** Longer than the sidecar's own 15 s timeout: the client sees what the mesh does, not its own limit. */
const CLIENT_TIMEOUT_MS = 30_000;
const pool = new Pool(outbound, { connections: 4096, headersTimeout: CLIENT_TIMEOUT_MS, bodyTimeout: CLIENT_TIMEOUT_MS, keepAliveTimeout: 10_000 });
const out = (line: object): void => { process.stdout.write(`${JSON.stringify(line)}\n`); };

let inFlight = 0;
let stopping = false;
let drained: (() => void) | undefined;
const body = Buffer.from('{"order":1}');

async function once(method: 'GET' | 'POST'): Promise<void> {
  const t = Date.now();
  const q = inFlight;
  inFlight += 1;
  try {
    const res = await request(`${outbound}/`, {
      dispatcher: pool, method, headers: { host: service, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
      ...(method === 'POST' ? { body } : {}),
    });
    const text = await res.body.text();
    const error = res.headers['trellis-error'];
    out({ k: 'r', m: method, t, ms: Date.now() - t, s: res.statusCode, by: res.statusCode === 200 ? text : '', e: typeof error === 'string' ? error : '', q });
  } catch (err) {
    out({ k: 'r', m: method, t, ms: Date.now() - t, s: 0, by: '', e: (err as { code?: string }).code ?? String(err), q });
  } finally {
    inFlight -= 1;
    if (stopping && inFlight === 0) drained?.();
  }
}

function steady(method: 'GET' | 'POST', rate: number): NodeJS.Timeout | undefined {
  if (rate <= 0) return undefined;
  const period = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  // Ticks every 10 ms send what the rate owes by now: the rate holds even when a tick is late.
  return setInterval(() => {
    const owed = Math.floor((performance.now() - start) / period) - sent;
    for (let i = 0; i < owed; i++) void once(method);
    sent += owed;
  }, 10);
}

let last = '';
const watcher = setInterval(() => {
  void (async () => {
    try {
      const res = await request(`${admin}/status`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      const status = await res.body.json() as { upstreams?: Record<string, { endpoints: string[]; ejected: string[] }> };
      const table = status.upstreams?.[service];
      if (table === undefined) return;
      const pickable = table.endpoints.filter((id) => !table.ejected.includes(id)).sort();
      const key = `${pickable.join(',')}|${[...table.ejected].sort().join(',')}`;
      if (key !== last) {
        last = key;
        out({ k: 's', t: Date.now(), p: pickable, x: [...table.ejected].sort() });
      }
    } catch { /* the sidecar is busy: next tick */ }
  })();
}, 50);

const timers = [steady('GET', Number(values['get-rate'])), steady('POST', Number(values['post-rate']))];

process.once('SIGTERM', () => {
  stopping = true;
  for (const timer of timers) clearInterval(timer);
  clearInterval(watcher);
  void (async () => {
    if (inFlight > 0) await new Promise<void>((resolve) => { drained = resolve; });
    out({ k: 'end' });
    await pool.close();
    process.exit(0);
  })();
});
