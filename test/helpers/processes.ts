/** Real processes for tests: the trellis CLI from dist/, killed in after(). */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { adminEnv, adminHeaders, rememberServer } from './tokens.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/src/cli/main.js, from dist/test/helpers. */
export const CLI = resolve(here, '../../src/cli/main.js');

const children = new Set<ChildProcess>();

/** The KEK every test replica on etcd shares (32 bytes, base64). */
export const TEST_ETCD_KEK = Buffer.alloc(32, 0x5a).toString('base64');

/** Kill every process this file started (call from after()). */
export function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `trellis-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The admin token for a CLI call with --control-plane, unless the call names a token itself (TRELLIS_ADMIN_TOKEN, TRELLIS_TOKEN). */
export function cliTokenEnv(args: readonly string[], env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if ('TRELLIS_ADMIN_TOKEN' in env || 'TRELLIS_TOKEN' in env) return env;
  const at = args.indexOf('--control-plane');
  const controlPlane = at < 0 ? undefined : args[at + 1]?.split(',')[0];
  return controlPlane === undefined ? env : { ...adminEnv(controlPlane), ...env };
}

/** Run the CLI to completion (with the admin token of its --control-plane unless `env` names a token). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...cliTokenEnv(args, env) }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => { children.delete(child); resolvePromise({ code, stdout, stderr }); });
  });
}

export interface ServerProcess {
  url: string;
  dnsPort: number;
  child: ChildProcess;
  /** Everything written to stdout/stderr so far. */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

interface ReadyLine { msg?: string; api?: string; dns?: string | null }

/** Start `trellis server` on port 0 and wait for its "control plane ready" log line. */
export function startServer(dataDir: string, extraArgs: string[] = []): Promise<ServerProcess> {
  // Replicas on one etcd share one key-encryption key for the CA's root keys (docs/operations.md).
  const sharedKek = extraArgs.includes('--store') && !extraArgs.includes('--ca-kek-file') && process.env['TRELLIS_CA_KEK'] === undefined;
  const child = spawn(process.execPath, [CLI, 'server', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--dns', '127.0.0.1:0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(sharedKek ? { env: { ...process.env, TRELLIS_CA_KEK: TEST_ETCD_KEK } } : {}),
  });
  children.add(child);
  let output = '';
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`trellis server did not become ready in 45 s:\n${output}`)), 45_000);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`trellis server exited with ${code}:\n${output}`)); });
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      let parsed: ReadyLine;
      try { parsed = JSON.parse(line) as ReadyLine; } catch { return; }
      if (parsed.msg !== 'control plane ready' || parsed.api === undefined) return;
      clearTimeout(timer);
      // Every API call needs a token: the helpers send this control plane's admin token (from its data dir, or a replica's on the same store).
      const flag = (name: string): string => extraArgs[extraArgs.indexOf(name) + 1] ?? '';
      rememberServer(parsed.api, dataDir, extraArgs.includes('--store') ? `${flag('--store')} ${flag('--etcd-prefix')}` : dataDir);
      resolvePromise({
        url: parsed.api,
        dnsPort: Number(parsed.dns?.split(':').pop()),
        child,
        output: () => output,
        kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
          children.delete(child);
        },
      });
    });
  });
}

export interface ApiErrorBody { error: { code: string; message: string; field?: string } }

/** Headers for `api` that send no token at all. */
export const NO_TOKEN: Readonly<Record<string, string>> = Object.freeze({ authorization: '' });

/**
 * JSON over HTTP with the platform's fetch (a real client). It sends the control plane's admin
 * token unless `headers` has an authorization of its own (NO_TOKEN: none).
 */
export async function api<T = ApiErrorBody>(url: string, method = 'GET', body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: T }> {
  const { authorization, ...rest } = headers;
  const auth = authorization === undefined ? adminHeaders(new URL(url).origin) : authorization === '' ? {} : { authorization };
  const init: RequestInit = { method, headers: { ...rest, ...auth } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, json: (text === '' ? undefined : JSON.parse(text)) as T };
}

/** `api` with the control plane's admin token (administrative calls: policy writes, join tokens). */
export function adminApi<T = ApiErrorBody>(url: string, method = 'GET', body?: unknown): Promise<{ status: number; json: T }> {
  return api<T>(url, method, body, adminHeaders(new URL(url).origin));
}
