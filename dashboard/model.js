// The view from /v1/dashboard/events, reshaped for drawing: services with their instances
// (registry health, plus departed ones as "gone"), their sparklines' series (whole and per
// route), and the edges between services.
import { duration } from './format.js';

/** A `trellis up` replica's restart labels (policy, count, how its last run ended, the back-off), or null. */
function restartsOf(metadata) {
  const policy = metadata?.['trellis.dev/restart'];
  if (policy === undefined) return null;
  return {
    policy, count: Number(metadata['trellis.dev/restarts'] ?? 0),
    lastExit: metadata['trellis.dev/last-exit'] ?? null, backoff: metadata['trellis.dev/backoff'] ?? null,
  };
}

export function model(view) {
  const services = new Map();
  const service = (name) => {
    let s = services.get(name);
    if (s === undefined) {
      const series = view.series?.services[name];
      s = { name, stats: undefined, routes: view.routes?.[name] ?? [], series: series?.total ?? null, routeSeries: series?.routes ?? {}, instances: [] };
      services.set(name, s);
    }
    return s;
  };
  for (const stats of view.services) service(stats.service).stats = stats;
  const reports = new Map(view.sidecars.map((s) => [`${s.service}/${s.id}`, s]));
  const ejected = new Set();
  for (const s of view.sidecars) for (const u of Object.values(s.upstreams)) for (const id of u.ejected) ejected.add(id);
  for (const i of view.instances) {
    const report = reports.get(`${i.service}/${i.id}`);
    service(i.service).instances.push({
      id: i.id, address: `${i.address}:${i.port}`, weight: i.weight, health: i.status, checks: i.checks,
      ejected: ejected.has(i.id), app: report?.app ?? null, reporting: report !== undefined,
      certificate: report?.certificate ?? null, restarts: restartsOf(i.metadata),
    });
  }
  for (const d of view.departed) {
    service(d.instance.service).instances.push({
      id: d.instance.id, address: `${d.instance.address}:${d.instance.port}`, weight: d.instance.weight, health: 'gone',
      checks: [{ name: 'registry', status: 'critical', output: `left the registry at ${new Date(d.at).toLocaleTimeString()}` }],
      ejected: false, app: null, reporting: false, certificate: null, restarts: restartsOf(d.instance.metadata),
    });
  }
  for (const s of services.values()) s.instances.sort((a, b) => a.id.localeCompare(b.id));
  const edges = view.edges.filter((e) => e.src !== '' && e.dst !== '');
  for (const e of edges) { service(e.src); service(e.dst); }
  const stepLabel = view.series === undefined ? '' : duration(view.series.stepMs);
  return { services: [...services.values()].sort((a, b) => a.name.localeCompare(b.name)), edges, stepLabel };
}
