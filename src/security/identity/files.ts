/**
 * A workload certificate kept on disk for an app without a sidecar (a proxyless gRPC app, whose
 * gRPC library reads it with the file-watcher certificate provider of gRFC A29): `cert.pem`
 * (the leaf), `key.pem` (its private key, mode 0600) and `ca.pem` (the trust bundle: every
 * root the mesh trusts, so a rotation carries both roots) in one directory. Each file is
 * written to a temporary name and renamed over the old one, so a reader never sees half a
 * file; the key goes first, then the certificate, then the bundle.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import type { WorkloadCertificate } from './workload.js';

export const CERT_FILES = Object.freeze({ certificate: 'cert.pem', key: 'key.pem', bundle: 'ca.pem' });

function put(dir: string, name: string, text: string, mode: number): void {
  const file = join(dir, name);
  const temporary = join(dir, `.${name}.${process.pid}.tmp`);
  writeFileSync(temporary, text, { mode });
  renameSync(temporary, file);
}

/** @throws TrellisError IDENTITY_UNAVAILABLE when the directory cannot be written. */
export function writeCertificateFiles(dir: string, certificate: WorkloadCertificate): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    put(dir, CERT_FILES.key, certificate.keyPem, 0o600);
    put(dir, CERT_FILES.certificate, certificate.certificatePem, 0o644);
    put(dir, CERT_FILES.bundle, `${certificate.trustBundle.map((pem) => pem.trim()).join('\n')}\n`, 0o644);
  } catch (err) {
    throw new TrellisError(ErrorCodes.IDENTITY_UNAVAILABLE, `cannot write the workload certificate into ${dir}: ${messageOf(err)} (give a directory this user may write, with --dir)`, { cause: err });
  }
}
