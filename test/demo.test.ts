/** `make demo` runs the tour end to end (here with --once so it exits). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers/processes.js';

const demo = resolve(dirname(fileURLToPath(import.meta.url)), '../examples/demo/demo.js');
const dir = tempDir('demo');
let child: ReturnType<typeof spawn> | undefined;
const pids: number[] = [];
after(() => {
  child?.kill('SIGKILL');
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  dir.remove();
});

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** The answered count of each replica in the window whose title matches. */
function windowCounts(out: string, title: RegExp): { failed: number; counts: Record<string, number> } {
  const start = out.search(title);
  assert.ok(start >= 0, `no window ${title} in:\n${out}`);
  const block = out.slice(start).split('\n').slice(0, 4).join('\n');
  assert.ok(/(\d+) failed/.test(block), `no failed count in the window ${title}:\n${out}`);
  const failed = Number(/(\d+) failed/.exec(block)?.[1]);
  const counts = Object.fromEntries([...block.matchAll(/(my-service-\d)\s+(\d+)/g)].map((m) => [m[1], Number(m[2])]));
  return { failed, counts };
}

it('the demo runs the seed\'s mesh, survives a kill -9 without a failed request and sees the replica rejoin', async () => {
  child = spawn(process.execPath, [demo, '--once'], { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await new Promise<number | null>((r) => child?.on('close', r));
  for (const m of out.matchAll(/ready \(app [\d.:]+, pid (\d+)[;)]/g)) pids.push(Number(m[1]));
  assert.equal(code, 0, `the demo exited with ${code}:\n${out}`);
  assert.equal(pids.length, 5, `expected 5 app starts (3 replicas + caller + the restarted replica), saw ${pids.length}:\n${out}`);

  const first = windowCounts(out, /over 3 s: /);
  assert.equal(first.failed, 0, `requests failed in the first window:\n${out}`);
  for (const id of ['my-service-1', 'my-service-2', 'my-service-3']) assert.ok((first.counts[id] ?? 0) > 0, `${id} got no traffic:\n${out}`);

  assert.match(out, /my-service-2 left the healthy list \d+ ms after the kill/);
  assert.ok(/healthy instances now: my-service-1, my-service-3\n/.test(out), `the healthy list after the kill is not my-service-1, my-service-3:\n${out}`);
  const killed = windowCounts(out, /from the kill until/);
  assert.equal(killed.failed, 0, `requests failed around the kill:\n${out}`);
  assert.equal(killed.counts['my-service-2'], 0, `my-service-2 answered a request sent after its kill:\n${out}`);
  assert.ok((killed.counts['my-service-1'] ?? 0) > 0 && (killed.counts['my-service-3'] ?? 0) > 0, `the survivors got no traffic after the kill:\n${out}`);

  assert.match(out, /my-service-2 is serving again/);
  assert.ok(/since the start: \d+ answered, 0 failed/.test(out), `requests failed over the whole demo:\n${out}`);
  assert.match(out, /demo finished/);
  for (const pid of pids) assert.equal(alive(pid), false, `app pid ${pid} outlived the demo`);
});
