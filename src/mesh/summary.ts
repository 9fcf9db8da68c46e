/** What `trellis up` prints once everything runs: a row per replica, then how to reach the mesh. */
import { formatTable } from '../util/table.js';
import { formatHostPort } from '../util/host-port.js';
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
    upstreams: Readonly<Record<string, string>>;
  }>;
}

export function summarize(mesh: Mesh): MeshSummary {
  const dns = mesh.controlPlane.dns;
  const states = new Map(mesh.replicaStates().map((s) => [s.id, s]));
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
      outbound: info.outbound,
      upstreams: Object.fromEntries(Object.entries(info.upstreams).map(([s, p]) => [s, `http://127.0.0.1:${p}`])),
    })),
  };
}

export function formatSummary(summary: MeshSummary): string {
  const table = formatTable(['SERVICE', 'INSTANCE', 'APP', 'APP PID', 'RESTART', 'SIDECAR IN', 'ADMIN (/metrics)', 'OUTBOUND (TRELLIS_OUTBOUND)', 'UPSTREAMS'],
    summary.replicas.map((r) => [
      r.service, r.id, r.app, r.appPid, `${r.restart} (${r.restarts})`, r.inbound, r.admin, r.outbound,
      Object.entries(r.upstreams).map(([s, url]) => `${s}=${url}`).join(' ') || '-',
    ]));
  const exposed = Object.entries(summary.exposed).map(([service, address]) => `  ${service}: curl http://${address}/`);
  return [
    table,
    '',
    `control plane ${summary.controlPlane}${summary.dns === null ? '' : `   DNS ${summary.dns}`}`,
    ...(exposed.length === 0 ? [] : ['exposed services:', ...exposed]),
  ].join('\n');
}
