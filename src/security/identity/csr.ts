/**
 * A workload's key pair and CSR (`CN=<service>`, the SPIFFE ID as its URI SAN), made in a
 * worker thread that ends with it: @peculiar/x509 and its ASN.1 schemas (≈ 250 modules,
 * ≈ 5.5 MB of a sidecar's private memory, BENCHMARKS.md) are needed once per certificate,
 * so they live in the worker's heap, which is freed when it exits — never in the sidecar's.
 */
import { Worker } from 'node:worker_threads';
import type { CsrRequest, CsrResult } from './csr-worker.js';

export type { CsrResult };

const WORKER = new URL('./csr-worker.js', import.meta.url);

/** `background`: made ahead of need, it keeps no process alive (the first one must: nothing else may yet). */
export function makeCsr(spiffeId: string, service: string, background = false): Promise<CsrResult> {
  const request: CsrRequest = { spiffeId, service };
  return new Promise((resolve, reject) => {
    // No node flags of the sidecar's own (--import hooks, say): the worker needs none.
    const worker = new Worker(WORKER, { workerData: request, execArgv: [] });
    if (background) worker.unref();
    let result: CsrResult | undefined;
    worker.once('message', (message: CsrResult) => { result = message; });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`the CSR worker exited (${code}) without a CSR`));
    });
  });
}
