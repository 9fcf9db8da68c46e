// The service page: its golden metrics and their sparklines, the same per route (inbound, as `trellis routes`), and each instance with health, checks, weight,
// ejection (by any caller's outlier detection), the app check its sidecar reports, and the
// workload certificate its sidecar holds (SPIFFE ID and time left).
import { ms, percent, rps, timeLeft } from './format.js';
import { sparklines } from './sparkline.js';

/** The instance's certificate: its SPIFFE ID and how long it has left; why there is none otherwise. */
function certificateCell(instance) {
  const c = instance.certificate;
  if (c === null) return cell(instance.reporting ? 'none (mTLS off)' : '—', 'muted');
  const td = cell(`${c.spiffeId} · ${timeLeft(Date.parse(c.notAfter) - Date.now())}`);
  td.dataset.certificate = c.spiffeId;
  td.title = `expires ${new Date(c.notAfter).toLocaleString()}`;
  return td;
}

/** Restarts of a `trellis up` replica: policy and count, and after one how the last run ended and the back-off. */
function restartsCell(instance) {
  const r = instance.restarts;
  if (r === null) return cell('—', 'muted');
  const td = cell(r.lastExit === null ? `${r.count} (${r.policy})` : `${r.count} (${r.policy}) · last ${r.lastExit}${r.backoff === null ? '' : ` · back-off ${r.backoff}`}`);
  td.dataset.restarts = String(r.count);
  return td;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className !== undefined) td.className = className;
  return td;
}

/** A cell with a sparkline (when there is a series) and the figure. */
function sparkCell(spark, text, kind) {
  const td = cell('', 'num');
  if (spark !== undefined) {
    td.append(spark[kind]);
    td.dataset.spark = kind;
    td.title = spark[kind].getAttribute('aria-label');
  }
  td.append(document.createTextNode(text));
  return td;
}

/** Golden metrics per declared route, with their sparklines; [default] holds the requests no route matched. */
function routesTable(routes, routeSeries, stepLabel) {
  const table = document.createElement('table');
  table.className = 'routes';
  table.innerHTML = '<thead><tr><th>Route</th><th class="num">Success</th><th class="num">RPS</th><th class="num">p50</th><th class="num">p95</th><th class="num">p99</th></tr></thead>';
  const body = document.createElement('tbody');
  for (const r of routes) {
    const row = document.createElement('tr');
    row.dataset.route = r.route;
    const spark = sparklines(routeSeries[r.route], stepLabel);
    row.append(cell(r.route), sparkCell(spark, percent(r.successRate), 'success'), sparkCell(spark, rps(r.rps), 'rps'), cell(ms(r.latencyMs.p50), 'num'), cell(ms(r.latencyMs.p95), 'num'), sparkCell(spark, ms(r.latencyMs.p99), 'p99'));
    body.append(row);
  }
  table.append(body);
  return table;
}

export function drawDetail(section, service, stepLabel) {
  section.replaceChildren();
  if (service === undefined) {
    section.append(Object.assign(document.createElement('p'), { className: 'muted', textContent: 'Select a service.' }));
    return;
  }
  const title = document.createElement('h2');
  title.textContent = `Service ${service.name}`;
  section.append(title);
  const s = service.stats;
  const summary = document.createElement('p');
  summary.textContent = s === undefined
    ? 'no traffic reported'
    : `success ${percent(s.successRate)} · ${rps(s.rps)} · p50 ${ms(s.latencyMs.p50)} · p95 ${ms(s.latencyMs.p95)} · p99 ${ms(s.latencyMs.p99)} · ${s.total.requests} requests since its sidecars started`;
  section.append(summary);
  if (service.series !== null) {
    // The service's sparklines, larger: the last 15 minutes, one point per step.
    const trio = document.createElement('p');
    trio.className = 'sparks';
    const big = sparklines(service.series, stepLabel);
    for (const [kind, label] of [['success', 'success'], ['rps', 'req/s'], ['p99', 'p99']]) {
      const spark = big[kind];
      spark.setAttribute('width', '180');
      spark.setAttribute('height', '32');
      const span = Object.assign(document.createElement('span'), { className: 'spark-label', textContent: `${label} ` });
      span.dataset.spark = kind;
      span.title = spark.getAttribute('aria-label');
      span.append(spark);
      trio.append(span);
    }
    section.append(trio);
  }
  if (service.routes.length > 0) section.append(routesTable(service.routes, service.routeSeries, stepLabel));
  const table = document.createElement('table');
  table.innerHTML = '<thead><tr><th>Instance</th><th>Address</th><th>Health</th><th class="num">Weight</th><th>Ejected</th><th>App check (sidecar)</th><th>Certificate</th><th>Restarts</th></tr></thead>';
  const body = document.createElement('tbody');
  for (const i of service.instances) {
    const row = document.createElement('tr');
    row.dataset.instance = i.id;
    row.append(cell(i.id), cell(i.address));
    const health = document.createElement('td');
    const badge = Object.assign(document.createElement('span'), { className: 'badge', textContent: i.health });
    badge.dataset.health = i.health;
    badge.title = i.checks.map((c) => `${c.name}: ${c.status} — ${c.output}`).join('\n');
    health.append(badge);
    row.append(health, cell(String(i.weight), 'num'), cell(i.ejected ? 'yes' : 'no'), cell(i.app === null ? (i.reporting ? '—' : 'not reporting') : `${i.app.status}: ${i.app.output}`), certificateCell(i), restartsCell(i));
    body.append(row);
  }
  table.append(body);
  section.append(table);
}
