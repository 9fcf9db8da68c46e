/**
 * Secrets at rest (issue 20, items 1 and 5): after real use — certificates issued, a CA rotation —
 * no file under a data dir (`trellis server`'s, and `trellis up`'s `.trellis/<name>/`) is readable
 * by another user (`runuser -u nobody`), and no byte of a CA root private key is in trellis.db or
 * its WAL in plaintext (PEM body, DER, the raw scalar). A key an older Trellis stored in plaintext
 * is wrapped at the next start and its old bytes are gone from the files. A data dir with loose
 * modes is tightened with a warning naming the `chmod`. A wrong or missing key-encryption key, and
 * an emptied or missing database next to an existing mesh's keys, refuse to start with a coded
 * error and the recovery steps.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { chmodSync as chmod, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { spawn } from 'node:child_process';
import { CLI, api, killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';
import { adminClient } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { killSpawned, meshSummary, spawnCli } from '../mesh/spawn.js';
import { meshCertificate, run } from './helpers.js';

/** Every path under `dir` (itself included). */
function walk(dir: string): string[] {
  const out = [dir];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

/** Modes 0700/0600, and `nobody` can read nothing (nor list a directory). */
async function assertPrivate(dir: string): Promise<number> {
  const paths = walk(dir);
  for (const path of paths) {
    const stat = statSync(path);
    assert.equal(stat.mode & 0o077, 0, `${path} has mode ${(stat.mode & 0o777).toString(8)}: open to other users`);
    const readable = await run('runuser', ['-u', 'nobody', '--', 'test', '-r', path]);
    assert.notEqual(readable.code, 0, `nobody can read ${path}`);
    if (!stat.isDirectory()) {
      const cat = await run('runuser', ['-u', 'nobody', '--', 'cat', path]);
      assert.notEqual(cat.code, 0, `nobody could cat ${path}`);
      assert.equal(cat.stdout, '');
    }
  }
  return paths.length;
}

/** The forms a root private key could be stored in: PEM body lines, the whole base64 body, DER, the raw scalar (and its base64). */
function keyNeedles(pem: string): Array<{ what: string; bytes: Buffer }> {
  const key = createPrivateKey(pem);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const d = Buffer.from(String(key.export({ format: 'jwk' }).d), 'base64url');
  const lines = pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  return [
    ...lines.map((l, i) => ({ what: `PEM line ${i + 1}`, bytes: Buffer.from(l) })),
    { what: 'the PEM body', bytes: Buffer.from(lines.join('')) },
    { what: 'the PKCS#8 DER', bytes: der },
    { what: 'the raw private scalar', bytes: d },
    { what: 'the raw scalar, base64', bytes: Buffer.from(d.toString('base64')) },
  ];
}

/** The root keys (PEM) of a data dir, from its 0600 key files. */
function rootKeys(dataDir: string): string[] {
  const ca = join(dataDir, 'ca');
  return readdirSync(ca).filter((f) => f.endsWith('.key')).map((f) => readFileSync(join(ca, f), 'utf8'));
}

/** Which key bytes appear in trellis.db / -wal / -shm (an empty list: none). */
function keyBytesInStore(dataDir: string, keys: readonly string[]): string[] {
  const found: string[] = [];
  for (const name of ['trellis.db', 'trellis.db-wal', 'trellis.db-shm']) {
    const file = join(dataDir, name);
    if (!existsSync(file)) continue;
    const content = readFileSync(file);
    for (const [k, pem] of keys.entries()) {
      for (const needle of keyNeedles(pem)) if (content.includes(needle.bytes)) found.push(`${name}: ${needle.what} of key ${k + 1}`);
    }
  }
  return found;
}

describe('secrets at rest', () => {
  const dir = tempDir('secrets');
  // The temp dir is 0700 itself: open it, so that only the data dir's own modes keep `nobody` out.
  chmod(dir.path, 0o755);
  const work = join(dir.path, 'work');
  mkdirSync(work, { mode: 0o700 });
  after(() => { killAll(); killSpawned(); dir.remove(); });

  describe('trellis server', () => {
    const data = join(dir.path, 'server');
    let server: ServerProcess;
    before(async () => {
      server = await startServer(data, ['--dns', 'off']);
    });

    it('after certificates and a rotation: nothing readable by nobody, no byte of either root key in trellis.db or its WAL', async () => {
      for (const service of ['a', 'b']) await meshCertificate(server.url, work, service);
      const rotated = await api<{ roots: unknown[] }>(`${server.url}/v1/ca/rotate`, 'POST', {});
      assert.equal(rotated.status, 200, JSON.stringify(rotated.json));
      assert.equal(rotated.json.roots.length, 2);
      await meshCertificate(server.url, work, 'c');
      const keys = rootKeys(data);
      assert.equal(keys.length, 2, 'two roots since the rotation');
      assert.ok(existsSync(join(data, 'trellis.db-wal')), 'the WAL is there while the server runs');
      assert.deepEqual(keyBytesInStore(data, keys), [], 'while running');
      const checked = await assertPrivate(data);
      assert.ok(checked >= 7, `checked ${checked} paths (db, wal, admin-token, ca/, two keys, kek)`);
      await server.kill('SIGTERM');
      assert.deepEqual(keyBytesInStore(data, keys), [], 'after a clean stop');
      await assertPrivate(data);
    });

    it('keeps the wrapped keys in the store (AES-256-GCM, naming the KEK), the KEK in ca/kek outside it', async () => {
      const store = await openSqliteStore({ dataDir: data });
      try {
        const { kvs } = await store.range('/ca/keys/');
        assert.equal(kvs.length, 2);
        for (const kv of kvs) assert.match(kv.value, /^\{"wrapped":"A256GCM","kek":"[0-9a-f]{16}","iv":/);
      } finally {
        await store.close();
      }
      const kek = readFileSync(join(data, 'ca', 'kek'), 'utf8').trim();
      assert.equal(Buffer.from(kek, 'base64').length, 32);
      assert.ok(!readFileSync(join(data, 'trellis.db')).includes(Buffer.from(kek)), 'the KEK is not in the store');
    });

    it('tightens a data dir left open (0755 / 0644) and warns with the chmod that fixes it', async () => {
      chmod(data, 0o755);
      chmod(join(data, 'ca'), 0o755);
      chmod(join(data, 'trellis.db'), 0o644);
      chmod(join(data, 'admin-token'), 0o644);
      writeFileSync(join(data, 'notes.txt'), 'not ours', { mode: 0o644 });
      chmod(join(data, 'notes.txt'), 0o644);
      const again = await startServer(data, ['--dns', 'off']);
      assert.equal(statSync(join(data, 'notes.txt')).mode & 0o777, 0o644, 'a file Trellis does not keep there is not touched');
      unlinkSync(join(data, 'notes.txt'));
      for (const path of [data, join(data, 'trellis.db'), join(data, 'admin-token'), join(data, 'ca')]) {
        assert.ok(again.output().includes(`${path} was open to other users`), `a warning names ${path}:\n${again.output()}`);
      }
      assert.ok(again.output().includes(`chmod 600 ${join(data, 'trellis.db')}`), 'and the chmod');
      await assertPrivate(data);
      await again.kill('SIGTERM');
    });

    it('refuses a wrong or missing key-encryption key with TRELLIS_ERR_CA_KEK and how to give the right one', async () => {
      const other = Buffer.alloc(32, 7).toString('base64');
      const wrong = await runCli(['server', '--data-dir', data, '--listen', '127.0.0.1:0', '--dns', 'off'], { TRELLIS_CA_KEK: other });
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(wrong.stderr, /TRELLIS_ERR_CA_KEK/);
      assert.match(wrong.stderr, /wrapped with key-encryption key [0-9a-f]{16}, but this control plane's KEK \(TRELLIS_CA_KEK\) is [0-9a-f]{16}.*TRELLIS_CA_KEK.*--ca-kek-file/);
      const kekFile = join(data, 'ca', 'kek');
      const kek = readFileSync(kekFile, 'utf8');
      renameSync(kekFile, join(work, 'kek'));
      const missing = await runCli(['server', '--data-dir', data, '--listen', '127.0.0.1:0', '--dns', 'off']);
      assert.equal(missing.code, 1, missing.stderr);
      assert.match(missing.stderr, /TRELLIS_ERR_CA_KEK/);
      assert.match(missing.stderr, /has none \(no TRELLIS_CA_KEK, no --ca-kek-file, no .*ca\/kek\)/);
      assert.ok(!existsSync(kekFile), 'no new KEK was made over wrapped keys');
      // The same KEK from a file elsewhere (as replicas on one etcd share it) opens the keys.
      chmod(join(work, 'kek'), 0o644);
      const given = await startServer(data, ['--dns', 'off', '--ca-kek-file', join(work, 'kek')]);
      assert.equal((await api(`${given.url}/v1/ca`)).status, 200);
      assert.ok(given.output().includes(`the key-encryption key file ${join(work, 'kek')} is readable by other users`), 'a loose KEK file is warned about');
      await given.kill('SIGTERM');
      writeFileSync(kekFile, kek, { mode: 0o600 });
    });
  });

  it('wraps a root key an older Trellis stored in plaintext, and its old bytes leave trellis.db and the WAL', async () => {
    const data = join(dir.path, 'migrate');
    const first = await startServer(data, ['--dns', 'off']);
    await meshCertificate(first.url, work, 'm');
    await first.kill('SIGTERM');
    const [pem] = rootKeys(data);
    assert.ok(pem !== undefined);
    // What an older Trellis did: the PEM itself at /ca/keys/<id>, written through the store (so its history has it too).
    const store = await openSqliteStore({ dataDir: data });
    const { kvs } = await store.range('/ca/keys/');
    const key = kvs[0]?.key ?? '';
    await store.put(key, pem);
    await store.put('/unrelated', 'x'.repeat(10));
    await store.close();
    assert.notDeepEqual(keyBytesInStore(data, [pem]), [], 'the plaintext key is in the file before the migration (the check can fail)');

    const migrated = await startServer(data, ['--dns', 'off']);
    await waitFor('the migration warning', () => migrated.output().includes('now wrapped with the key-encryption key'));
    assert.deepEqual(keyBytesInStore(data, [pem]), [], 'while running, right after the migration');
    await meshCertificate(migrated.url, work, 'n');
    await migrated.kill('SIGTERM');
    assert.deepEqual(keyBytesInStore(data, [pem]), [], 'after a stop');
    const reopened = await openSqliteStore({ dataDir: data });
    assert.match((await reopened.get(key)).kv?.value ?? '', /^\{"wrapped":"A256GCM"/);
    await reopened.close();
  });

  describe('a lost database is never a brand-new mesh', () => {
    it('a zero-length trellis.db: refused with TRELLIS_ERR_DATA_CORRUPT and the recovery steps; nothing replaced', async () => {
      const data = join(dir.path, 'zero');
      const server = await startServer(data, ['--dns', 'off']);
      await server.kill('SIGTERM');
      const token = readFileSync(join(data, 'admin-token'), 'utf8');
      const keys = readdirSync(join(data, 'ca')).sort();
      truncateSync(join(data, 'trellis.db'), 0);
      const refused = await runCli(['server', '--data-dir', data, '--listen', '127.0.0.1:0', '--dns', 'off']);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /TRELLIS_ERR_DATA_CORRUPT/);
      assert.match(refused.stderr, /trellis\.db: it is empty \(0 bytes\)/);
      assert.match(refused.stderr, /To recover: stop Trellis and restore trellis\.db .* from a backup/);
      assert.match(refused.stderr, /move the whole data dir aside \(mv /);
      assert.equal(statSync(join(data, 'trellis.db')).size, 0, 'the empty file is left as it was');
      assert.equal(readFileSync(join(data, 'admin-token'), 'utf8'), token, 'the admin token is not overwritten');
      assert.deepEqual(readdirSync(join(data, 'ca')).sort(), keys, 'no new root');
    });

    it('a missing trellis.db next to ca/ keys and the admin token: refused the same way', async () => {
      const data = join(dir.path, 'missing');
      const server = await startServer(data, ['--dns', 'off']);
      await server.kill('SIGTERM');
      for (const name of readdirSync(data).filter((f) => f.startsWith('trellis.db'))) unlinkSync(join(data, name));
      const refused = await runCli(['server', '--data-dir', data, '--listen', '127.0.0.1:0', '--dns', 'off']);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /TRELLIS_ERR_DATA_CORRUPT/);
      assert.match(refused.stderr, /it is missing, but the data dir holds an existing mesh \(ca\/.*admin-token\)/);
      assert.match(refused.stderr, /To recover/);
      assert.ok(!existsSync(join(data, 'trellis.db')), 'no new database was made');
    });
  });

  it('the admin token is shown once on a terminal (a pty from script(1)), and only there', async () => {
    const data = join(dir.path, 'tty');
    const command = [process.execPath, CLI, 'server', '--data-dir', data, '--listen', '127.0.0.1:0', '--dns', 'off'].join(' ');
    const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise((resolve) => child.once('close', resolve));
    try {
      const token = await waitFor('the token on the terminal', () => {
        const file = join(data, 'admin-token');
        if (!existsSync(file)) return undefined;
        const written = readFileSync(file, 'utf8').trim();
        return output.includes(written) ? written : undefined;
      }, { timeoutMs: 20_000 });
      assert.match(output, /the admin token \(shown only now, on this terminal; also in .*admin-token, mode 0600\)/);
      assert.match(token, /^trellis-admin\./);
    } finally {
      process.kill(-(child.pid ?? 0), 'SIGKILL');
      await exited;
    }
  });

  it("trellis up: nothing under .trellis/<name>/ is readable by nobody, no root key byte in its store (started with umask 022)", async () => {
    const hello = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples/hello');
    const project = join(dir.path, 'project');
    mkdirSync(project, { mode: 0o755 });
    const file = join(project, 'mesh.yaml');
    writeFileSync(file, `services:
  hello:
    command: ["${process.execPath}", "${join(hello, 'server.js')}"]
    health: { http: /healthz, interval: 500ms }
`);
    const previous = process.umask(0o022);
    let up;
    try {
      up = spawnCli(['up', file, '--json', '--listen', '127.0.0.1:0', '--dns', 'off']);
    } finally {
      process.umask(previous);
    }
    const summary = await meshSummary(up);
    const client = adminClient(summary.controlPlane);
    await waitFor('the replica registered with its mTLS certificate', async () => (await client.instances('hello', true)).instances.length === 1, { timeoutMs: 30_000 });
    const data = join(project, '.trellis', 'mesh');
    assert.deepEqual(keyBytesInStore(data, rootKeys(data)), []);
    const checked = await assertPrivate(data);
    assert.ok(checked >= 5, `checked ${checked} paths`);
    assert.equal(statSync(join(project, '.trellis')).mode & 0o077, 0, '.trellis/ itself is made private');
    up.child.kill('SIGINT');
    await up.exited;
    await assertPrivate(data);
  });
});
