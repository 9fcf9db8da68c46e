/**
 * A separate process that measures how long the control plane takes to answer one small
 * request, over and over, until it gets SIGTERM; then prints every latency (ms) as JSON on
 * stdout. Separate so the test process's own work (parsing big pages) never counts.
 *
 *   node latency-probe.js URL PATH TOKEN
 */
import { Agent, request } from 'undici';

const [url, path, token] = process.argv.slice(2);
const agent = new Agent({ connections: 1 });
const latencies: number[] = [];
const failures: string[] = [];
let stop = false;
process.on('SIGTERM', () => { stop = true; });
// Warm up (connection, JIT) before measuring.
for (let i = 0; i < 20; i += 1) await (await request(`${url}${path}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } })).body.text();
process.stdout.write('ready\n');
while (!stop) {
  const started = performance.now();
  try {
    const res = await request(`${url}${path}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}` } });
    await res.body.text();
    if (res.statusCode !== 200) failures.push(`HTTP ${res.statusCode}`);
  } catch (err) {
    failures.push(String(err));
  }
  latencies.push(performance.now() - started);
  await new Promise((resolve) => setTimeout(resolve, 2)); // pacing, a few hundred requests/s
}
process.stdout.write(`${JSON.stringify({ latencies, failures })}\n`);
await agent.close();
