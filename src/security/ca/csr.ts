/**
 * Reading a workload's certificate request: PEM → PKCS#10 (by @peculiar/x509), its
 * self-signature checked, and the one SPIFFE ID in its URI SAN. Anything else is
 * TRELLIS_ERR_CSR_INVALID saying what was wrong.
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { x509 } from '../crypto.js';
import { parseSpiffeId } from '../spiffe.js';

export interface ParsedCsr {
  readonly csr: x509.Pkcs10CertificateRequest;
  readonly spiffeId: string;
}

const MAX_CSR_BYTES = 16 * 1024;

function invalid(message: string): TrellisError {
  return new TrellisError(ErrorCodes.CSR_INVALID, message, { field: 'csr' });
}

export async function parseCsr(pem: unknown): Promise<ParsedCsr> {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw invalid('csr must be a PEM certificate request ("-----BEGIN CERTIFICATE REQUEST-----")');
  }
  if (pem.length > MAX_CSR_BYTES) throw invalid(`csr is longer than ${MAX_CSR_BYTES} bytes`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch {
    throw invalid('csr is not a readable PKCS#10 certificate request');
  }
  if (!(await csr.verify())) throw invalid('the csr signature does not match its public key (it was altered, or signed with another key)');
  const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension);
  const uris = (san instanceof x509.SubjectAlternativeNameExtension ? san.names.items : []).filter((n) => n.type === 'url').map((n) => n.value);
  const others = san instanceof x509.SubjectAlternativeNameExtension ? san.names.items.filter((n) => n.type !== 'url') : [];
  if (uris.length !== 1 || others.length > 0) {
    throw invalid('the csr must carry exactly one subject alternative name: a URI spiffe://<trust-domain>/ns/<namespace>/svc/<service>');
  }
  const spiffeId = uris[0];
  if (parseSpiffeId(spiffeId) === undefined) {
    throw invalid(`the csr's URI ${JSON.stringify(spiffeId.slice(0, 200))} is not spiffe://<trust-domain>/ns/<namespace>/svc/<service>`);
  }
  return { csr, spiffeId };
}
