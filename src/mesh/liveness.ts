/**
 * A liveness check, as a pod's livenessProbe: `trellis up` probes each replica's app itself
 * (GET the path, or a TCP connect) every interval, and after `failureThreshold` failures in a
 * row stops the replica — which its restart policy then starts again. Readiness (`health`) only
 * takes a replica out of rotation; liveness restarts it.
 */
import { probeFor } from '../health/checks/registry.js';
import { readinessCheck } from '../run/readiness.js';

export interface LivenessSpec {
  readonly http?: string;
  readonly intervalMs: number;
  readonly failureThreshold: number;
}

export const LIVENESS_DEFAULTS = Object.freeze({ intervalMs: 10_000, failureThreshold: 3 });

/** Probe `host:port` until stopped; `onDead` is called once, with the last probe's output, after too many failures in a row. */
export function watchLiveness(host: string, port: number, spec: LivenessSpec, onDead: (output: string) => void): () => void {
  const probe = probeFor(readinessCheck(spec.http));
  const stop = new AbortController();
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  const round = async (): Promise<void> => {
    const result = await probe({ address: host, port }, stop.signal);
    if (stop.signal.aborted) return;
    failures = result.status === 'passing' ? 0 : failures + 1;
    if (failures >= spec.failureThreshold) { onDead(result.output); return; }
    timer = setTimeout(() => void round(), spec.intervalMs);
  };
  timer = setTimeout(() => void round(), spec.intervalMs);
  return () => { stop.abort(); clearTimeout(timer); };
}
