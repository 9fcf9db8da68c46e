/**
 * V8 flags for a process that runs a sidecar (given on its own command line by whoever spawns
 * it: `trellis up`'s replicas, the benchmarks). Measured (bench notes in docs/proxy.md): a
 * 1 MB young-generation semi-space and no V8 worker pool take a sidecar under load from
 * ≈ 96 to ≈ 69 MB RSS (private memory ≈ 53 → 25 MB) at the same CPU per request — a
 * sidecar's garbage is short-lived and small, so a large nursery only holds it longer.
 */
export const SIDECAR_V8_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=1', '--v8-pool-size=0']);
