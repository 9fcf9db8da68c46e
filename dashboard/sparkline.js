// Sparklines in plain SVG: one polyline per series (a step's value per point, oldest left),
// gaps where a step has no value (no requests: no success rate, no p99). The values are kept
// in data-values (comma-separated, empty for a gap) for whoever reads the page.
const SVG = 'http://www.w3.org/2000/svg';

function el(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  return node;
}

/**
 * `values`: numbers or null, oldest first. `kind`: rps | success | p99 (its colour and scale:
 * success spans 0–100%, the others 0–their maximum). `title`: its label (aria-label; the
 * cell that holds it shows it on hover).
 */
export function sparkline(values, { kind, title, width = 90, height = 20 }) {
  const svg = el('svg', { class: 'spark', 'data-kind': kind, width, height, viewBox: `0 0 ${width} ${height}`, 'aria-label': title });
  svg.dataset.values = values.map((v) => (v === null ? '' : String(v))).join(',');
  const present = values.filter((v) => v !== null);
  svg.dataset.points = String(present.length);
  const max = kind === 'success' ? 1 : Math.max(...present, 0);
  const step = values.length > 1 ? (width - 2) / (values.length - 1) : 0;
  const y = (v) => (max <= 0 ? height - 1 : height - 1 - (v / max) * (height - 2));
  svg.append(el('line', { class: 'base', x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5 }));
  let run = [];
  const flush = () => {
    if (run.length === 1) svg.append(el('circle', { cx: run[0][0], cy: run[0][1], r: 1.2 }));
    else if (run.length > 1) svg.append(el('polyline', { points: run.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ') }));
    run = [];
  };
  values.forEach((v, i) => {
    if (v === null) { flush(); return; }
    run.push([1 + i * step, y(v)]);
  });
  flush();
  // The hover text goes on the cell that holds it (a <title> here would join the cell's text).
  svg.setAttribute('role', 'img');
  return svg;
}

/** The three sparklines of a series (src/telemetry/series.ts), keyed by kind; undefined without one. */
export function sparklines(series, stepLabel) {
  if (series === undefined || series === null) return undefined;
  const last = (list) => list[list.length - 1];
  const peak = Math.max(...series.rps, 0);
  const rps = sparkline(series.rps, { kind: 'rps', title: `requests/s per ${stepLabel} (peak ${peak}, last ${last(series.rps) ?? 0})` });
  rps.dataset.requests = series.requests.join(',');
  return {
    success: sparkline(series.successRate, { kind: 'success', title: `success rate per ${stepLabel}` }),
    rps,
    p99: sparkline(series.p99Ms, { kind: 'p99', title: `p99 latency (ms) per ${stepLabel}` }),
  };
}
