/** The worker of ./csr.ts: one key pair and CSR for its workerData, posted back; then it ends. */
import { parentPort, workerData } from 'node:worker_threads';
import { SIGNING_ALGORITHM, generateKeyPair, privateKeyPem, x509 } from '../crypto.js';

export interface CsrRequest { readonly spiffeId: string; readonly service: string }
export interface CsrResult { readonly csrPem: string; readonly keyPem: string }

if (parentPort !== null) {
  const { spiffeId, service } = workerData as CsrRequest;
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${service}`,
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }])],
  });
  const result: CsrResult = { csrPem: csr.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
  parentPort.postMessage(result);
}
