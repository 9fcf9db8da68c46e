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
after(() => { child?.kill('SIGKILL'); dir.remove(); });

it('the demo registers three replicas, detects a silent one and sees it rejoin', async () => {
  child = spawn(process.execPath, [demo, '--once'], { cwd: dir.path, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await new Promise<number | null>((r) => child?.on('close', r));
  assert.equal(code, 0, out);
  assert.equal(out.match(/registered\s+my-service\/my-service-\d/g)?.length, 3, out);
  assert.match(out, /my-service\/my-service-2\s+passing → critical/);
  assert.match(out, /healthy instances now:\n\s+my-service-1, my-service-3/);
  assert.match(out, /my-service\/my-service-2\s+critical → passing/);
  assert.match(out, /demo finished/);
});
