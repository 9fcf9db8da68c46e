/** What `trellis up` prints once everything runs: a row per replica, then how to reach the mesh. */
import { formatTable } from '../util/table.js';
import { formatHostPort } from '../util/host-port.js';
import { formatDuration } from '../util/duration.js';
import type { Mesh } from './mesh.js';

export interface MeshSummary {
  readonly controlPlane: string;
  readonly dns: string | null;
  readonly exposed: Readonly<Record<string, string>>;
  readonly replicas: ReadonlyArray<{
    service: string; id: string; pid: number; appPid: number; app: string; namespace: string | null; inbound: string; outbound: string;
    /** The sidecar's admin listener: /metrics, /status, /ready. */
    admin: string;
    restart: string; restarts: number; state: string;
    /** How its last run ended, and the back-off before the restart that followed (null before any). */
    lastExit: string | null; backoff: string | null;
    upstreams: Readonly<Record<string, string>>;
    /** The app's other ports, each registered as a service of its own by a sidecar of its own. */
    ports: ReadonlyArray<{ service: string; id: string; app: string; inbound: string; admin: string }>;
  }>;
}

export function summarize(mesh: Mesh): MeshSummary {
  const dns = mesh.controlPlane.dns;
  const states = new Map(mesh.replicaStates().map((s) => [s.id, s]));
  const backoff = (id: string): string | null => {
    const ms = states.get(id)?.backoffMs;
    return ms === undefined ? null : formatDuration(ms);
  };
  return {
    controlPlane: mesh.controlPlane.url,
    dns: dns === undefined ? null : formatHostPort(dns),
    exposed: Object.fromEntries(mesh.exposed),
    replicas: mesh.replicas().map(({ info, pid }) => ({
      service: info.service,
      id: info.id,
      pid,
      appPid: info.appPid,
      app: `${info.appHost}:${info.appPort}`,
      namespace: info.namespace ?? null,
      inbound: info.inbound,
      admin: info.admin,
      restart: states.get(info.id)?.restart ?? 'always',
      restarts: states.get(info.id)?.restarts ?? 0,
      state: states.get(info.id)?.state ?? 'running',
      lastExit: states.get(info.id)?.lastExit ?? null,
      backoff: backoff(info.id),
      outbound: info.outbound,
      upstreams: Object.fromEntries(Object.entries(info.upstreams).map(([s, p]) => [s, `http://127.0.0.1:${p}`])),
      ports: (info.ports ?? []).map((p) => ({ service: p.service, id: p.id, app: `${info.appHost}:${p.appPort}`, inbound: p.inbound, admin: p.admin })),
    })),
  };
}

/** `always (0)`; after a restart `always (2; last exit code 137 (SIGKILL), back-off 2s)`. */
function restartCell(r: MeshSummary['replicas'][number]): string {
  const last = r.lastExit === null ? '' : `; last ${r.lastExit}${r.backoff === null ? '' : `, back-off ${r.backoff}`}`;
  return `${r.restart} (${r.restarts}${last})`;
}

export function formatSummary(summary: MeshSummary): string {
  const table = formatTable(['SERVICE', 'INSTANCE', 'APP', 'APP PID', 'RESTART', 'SIDECAR IN', 'ADMIN (/metrics)', 'OUTBOUND (TRELLIS_OUTBOUND)', 'UPSTREAMS'],
    summary.replicas.flatMap((r) => [
      [
        r.service, r.id, r.app, r.appPid, restartCell(r), r.inbound, r.admin, r.outbound,
        Object.entries(r.upstreams).map(([s, url]) => `${s}=${url}`).join(' ') || '-',
      ],
      // Another port of the same app (the same process): its own service, sidecar and registration.
      ...r.ports.map((p) => [p.service, p.id, p.app, r.appPid, restartCell(r), p.inbound, p.admin, `(${r.id}'s)`, '-']),
    ]));
  const exposed = Object.entries(summary.exposed).map(([service, address]) => `  ${service}: curl http://${address}/`);
  return [
    table,
    '',
    `control plane ${summary.controlPlane}${summary.dns === null ? '' : `   DNS ${summary.dns}`}`,
    ...(exposed.length === 0 ? [] : ['exposed services:', ...exposed]),
  ].join('\n');
}
