/**
 * Prometheus HTTP service discovery (`http_sd_configs`,
 * https://prometheus.io/docs/prometheus/latest/http_sd/): one target group per sidecar that
 * reports an admin listener — its `/metrics` address — labelled with what users filter and
 * group by: `service`, `instance` (the instance id, in place of Prometheus' host:port default),
 * `zone` (the instance's `zone` metadata, when registered with one), and `__meta_trellis_*`
 * labels for relabelling (the address the instance registered, its health, its SPIFFE ID).
 *
 * The address comes from the sidecar's own report (the control plane never guesses it); an
 * admin listener bound to a wildcard (0.0.0.0, ::) is given as the registered instance's
 * address with the admin port, since a wildcard is nothing a scraper on another host can dial.
 */
import type { Instance } from '../registry/types.js';
import type { StoredReport } from './snapshot.js';

export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

const WILDCARD = /^(0\.0\.0\.0|\[::\]|\[::0\]):(\d+)$/;

function withHost(host: string, port: string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** `instances`: the registry's view, by `service/id` (for zone, address and health). */
export function prometheusTargets(reports: readonly StoredReport[], instances: ReadonlyMap<string, Instance>): TargetGroup[] {
  const groups: TargetGroup[] = [];
  for (const { service, id, report } of reports) {
    if (report.admin === null) continue;
    const instance = instances.get(`${service}/${id}`);
    const wildcard = WILDCARD.exec(report.admin);
    const target = wildcard === null ? report.admin : withHost(instance?.address ?? '127.0.0.1', wildcard[2]);
    const labels: Record<string, string> = { service, instance: id };
    const zone = instance?.metadata['zone'];
    if (zone !== undefined) labels['zone'] = zone;
    if (instance !== undefined) {
      labels['__meta_trellis_address'] = withHost(instance.address, String(instance.port));
      labels['__meta_trellis_health'] = instance.status;
    }
    if (report.certificate !== null) labels['__meta_trellis_spiffe_id'] = report.certificate.spiffeId;
    groups.push({ targets: [target], labels });
  }
  return groups;
}
