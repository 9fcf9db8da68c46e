// The topology graph in plain SVG: services in columns by call depth (callers left,
// callees right), edges as arrows labelled with success rate, req/s and p99.
import { ms, percent, rps, serviceHealth } from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 220;
const NODE_H = 84;

function el(name, attributes = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Column of each service: 0 for services nobody calls, else 1 + the deepest caller's. */
function columns(services, edges) {
  const depth = new Map(services.map((s) => [s.name, 0]));
  for (let round = 0; round < services.length; round += 1) {
    let moved = false;
    for (const e of edges) {
      if (e.src === e.dst) continue;
      const want = (depth.get(e.src) ?? 0) + 1;
      if ((depth.get(e.dst) ?? 0) < want && want < services.length) { depth.set(e.dst, want); moved = true; }
    }
    if (!moved) break;
  }
  return depth;
}

export function drawGraph(svg, { services, edges }, onSelect) {
  const depth = columns(services, edges);
  const byColumn = new Map();
  for (const s of services) {
    const c = depth.get(s.name) ?? 0;
    if (!byColumn.has(c)) byColumn.set(c, []);
    byColumn.get(c).push(s);
  }
  const width = Math.max(svg.clientWidth || 900, 400);
  const height = Math.max(svg.clientHeight || 360, 200);
  const columnCount = Math.max(1, byColumn.size);
  const at = new Map();
  for (const [c, list] of byColumn) {
    list.forEach((s, i) => {
      at.set(s.name, { x: (width / (columnCount + 1)) * (c + 1), y: (height / (list.length + 1)) * (i + 1) });
    });
  }
  svg.replaceChildren();
  const defs = el('defs');
  const marker = el('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' });
  marker.append(el('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#64748b' }));
  defs.append(marker);
  svg.append(defs);

  for (const e of edges) {
    const a = at.get(e.src);
    const b = at.get(e.dst);
    if (a === undefined || b === undefined) continue;
    const g = el('g', { class: 'edge', 'data-edge': `${e.src}->${e.dst}`, 'data-failing': String(e.successRate !== null && e.successRate < 0.95) });
    const x1 = a.x + NODE_W / 2;
    const x2 = b.x - NODE_W / 2;
    const mid = (x1 + x2) / 2;
    g.append(el('path', { d: `M ${x1} ${a.y} C ${mid} ${a.y}, ${mid} ${b.y}, ${x2} ${b.y}` }));
    g.append(el('text', { x: mid, y: (a.y + b.y) / 2 - 8 }, `${percent(e.successRate)} · ${rps(e.rps)} · p99 ${ms(e.latencyMs.p99)}`));
    if (e.identities.length > 0) {
      // Short on the edge (the caller's service: "mTLS · caller"; no emoji: not every browser has the font), the full SPIFFE IDs on hover.
      const names = e.identities.map((id) => id.slice(id.lastIndexOf('/') + 1));
      const label = el('text', { x: mid, y: (a.y + b.y) / 2 + 10, 'data-identities': e.identities.join(' ') }, `mTLS · ${names.join(', ')}`);
      label.append(el('title', {}, e.identities.join('\n')));
      g.append(label);
    }
    svg.append(g);
  }

  for (const s of services) {
    const p = at.get(s.name);
    const health = serviceHealth(s.instances);
    const g = el('g', { class: 'node', 'data-service': s.name, 'data-health': health, transform: `translate(${p.x - NODE_W / 2}, ${p.y - NODE_H / 2})` });
    g.append(el('rect', { width: NODE_W, height: NODE_H }));
    g.append(el('text', { class: 'name', x: NODE_W / 2, y: 20 }, s.name));
    const stats = s.stats;
    g.append(el('text', { x: NODE_W / 2, y: 40 }, stats === undefined ? '—' : `${percent(stats.successRate)} · ${rps(stats.rps)} · p99 ${ms(stats.latencyMs.p99)}`));
    const step = Math.min(18, (NODE_W - 20) / Math.max(1, s.instances.length));
    s.instances.forEach((instance, i) => {
      const dot = el('circle', { class: 'dot', cx: 10 + step / 2 + i * step, cy: 64, r: 6, 'data-instance': instance.id, 'data-health': instance.health });
      dot.append(el('title', {}, `${instance.id}: ${instance.health}`));
      g.append(dot);
    });
    g.addEventListener('click', () => onSelect(s.name));
    svg.append(g);
  }
}
