/** Shared pieces of the security tests: real openssl and curl, certificates made the way an operator would. */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../src/telemetry/logger.js';
import { mintNewToken } from '../helpers/tokens.js';

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a program to completion (never rejects), optionally with stdin. */
export function run(program: string, args: readonly string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(program, [...args], { timeout: options.timeoutMs ?? 20_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...options.env } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** A key and CSR made by openssl for `spiffeId` (the key stays in `dir`). */
export async function opensslCsr(dir: string, name: string, spiffeId: string): Promise<{ key: string; csr: string }> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const made = await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr,
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=URI:${spiffeId}`]);
  if (made.code !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  return { key, csr };
}

export interface SignAnswer {
  readonly status: number;
  readonly body: { certificate?: string; trustBundle?: string[]; notAfter?: string; error?: { code: string; message: string } };
}

/** POST /v1/ca/sign with fetch, as a sidecar would. */
export async function sign(controlPlane: string, csrPem: string, token: string | undefined, lifetime = '1h'): Promise<SignAnswer> {
  const response = await fetch(`${controlPlane}/v1/ca/sign`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ csr: csrPem, lifetime }),
  });
  return { status: response.status, body: await response.json() as SignAnswer['body'] };
}

/** A mesh certificate for `service`, signed by the control plane's CA; files in `dir`. */
export async function meshCertificate(controlPlane: string, dir: string, service: string, lifetime = '1h'): Promise<CertificateFiles & { bundle: string; notAfter: Date }> {
  const { key, csr } = await opensslCsr(dir, `mesh-${service}-${lifetime}`, `spiffe://trellis.local/ns/default/svc/${service}`);
  const answer = await sign(controlPlane, readFileSync(csr, 'utf8'), await mintNewToken(controlPlane, service), lifetime);
  if (answer.status !== 200 || answer.body.certificate === undefined) throw new Error(`signing failed: ${JSON.stringify(answer.body)}`);
  const cert = join(dir, `mesh-${service}-${lifetime}.crt`);
  const bundle = join(dir, 'bundle.crt');
  writeFileSync(cert, answer.body.certificate);
  writeFileSync(bundle, (answer.body.trustBundle ?? []).join(''));
  return { cert, key, bundle, notAfter: new Date(answer.body.notAfter ?? 0) };
}

/** A root of another CA (openssl) and a leaf it signed with the same SPIFFE ID as a mesh workload. */
export async function foreignCertificate(dir: string, spiffeId: string): Promise<CertificateFiles & { rootCert: string; rootKey: string }> {
  const rootKey = join(dir, 'foreign-root.key');
  const rootCert = join(dir, 'foreign-root.crt');
  const root = await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', rootKey, '-out', rootCert,
    '-days', '30', '-subj', '/CN=Another CA/O=elsewhere', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  if (root.code !== 0) throw new Error(`openssl root failed: ${root.stderr}`);
  const { key, csr } = await opensslCsr(dir, 'foreign-leaf', spiffeId);
  const ext = join(dir, 'foreign-leaf.ext');
  writeFileSync(ext, `subjectAltName=URI:${spiffeId}\nextendedKeyUsage=clientAuth,serverAuth\n`);
  const cert = join(dir, 'foreign-leaf.crt');
  const signed = await run('openssl', ['x509', '-req', '-in', csr, '-CA', rootCert, '-CAkey', rootKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext]);
  if (signed.code !== 0) throw new Error(`openssl x509 failed: ${signed.stderr}`);
  return { cert, key, rootCert, rootKey };
}

/** A logger whose JSON lines the test can read. */
export function capturingLogger(level = 'info'): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger({ level, destination }), lines: () => lines };
}

/** curl against an inbound port over TLS (-k: the server's SPIFFE identity is not a host name curl can check). */
export function curlTls(port: number, path: string, cert?: CertificateFiles): Promise<Run> {
  return run('curl', ['-sS', '-k', '--max-time', '10', '--tlsv1.3', ...(cert === undefined ? [] : ['--cert', cert.cert, '--key', cert.key]), '-w', '\\n%{http_code}', `https://127.0.0.1:${port}${path}`]);
}
