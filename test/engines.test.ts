/** `npm ci` on the Node 20 target warns of no package (EBADENGINE): every locked package's engines.node admits Node 20. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// npm's own range semantics (semver is in the tree through several dependencies).
const semver = createRequire(resolve(root, 'package.json'))('semver') as { satisfies(version: string, range: string): boolean };

it('no locked package needs a newer Node than the target (no EBADENGINE warning from npm ci)', () => {
  const lock = JSON.parse(readFileSync(resolve(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string }; version?: string }> };
  // What npm ci checks engines against: the Node that runs it (the machines' Node 20).
  const target = process.versions.node;
  const refused = Object.entries(lock.packages)
    .filter(([name, p]) => name !== '' && p.engines?.node !== undefined && !semver.satisfies(target, p.engines.node))
    .map(([name, p]) => `${name.replace(/^.*node_modules\//, '')}@${p.version ?? '?'} needs node ${p.engines?.node ?? ''}`);
  assert.deepEqual(refused, []);
});
