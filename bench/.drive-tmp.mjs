import { ControlPlaneClient } from '/work/wt/scale/dist/src/client/control-plane.js';
import { readFileSync } from 'node:fs';
const url = process.argv[2];
const token = readFileSync('/tmp/scaleprof2/data/admin-token', 'utf8').trim();
const client = new ControlPlaneClient(url, token);
const t = (l, t0) => console.log(l, Math.round(performance.now() - t0), 'ms');
async function reg(service, count, extra) {
  const starts = []; for (let s = 0; s < count; s += 1000) starts.push(s);
  const run = async () => { for (let s = starts.shift(); s !== undefined; s = starts.shift()) {
    const inst = Array.from({ length: 1000 }, (_, i) => ({ id: `i-${String(s + i).padStart(6, '0')}`, address: '10.0.0.1', port: 1000 + i, metadata: { zone: 'a' }, ...extra }));
    const t0 = performance.now(); await client.registerMany(service, inst); t('  bulk', t0); } };
  await Promise.all([run(), run()]);
}
let t0 = performance.now(); await reg('big', 20000, {}); t('big', t0);
t0 = performance.now(); await reg('storm', 20000, { ttl: '15s' }); t('storm', t0);
const ids = Array.from({ length: 20000 }, (_, i) => `i-${String(i).padStart(6, '0')}`);
t0 = performance.now();
const waves = []; for (let s = 0; s < 20000; s += 1000) waves.push(client.heartbeatMany('storm', ids.slice(s, s + 1000)).then(() => t('  hb', t0)));
await Promise.all(waves); t('heartbeats', t0);
t0 = performance.now();
let worst = 0;
for (;;) { const s = performance.now(); const r = await client.service('storm'); worst = Math.max(worst, performance.now() - s); if (r.service.critical === 20000) break; await new Promise(r => setTimeout(r, 20)); }
t('storm done', t0); console.log('worst small request', worst.toFixed(0));
