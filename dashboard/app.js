// The dashboard: a server-sent-event stream of the mesh's view, drawn as a topology graph,
// a service table with sparklines and the selected service's page (#/services/<name>) with
// its live tap. No reload needed.
import { drawDetail } from './detail.js';
import { duration, ms, percent, rps, serviceHealth } from './format.js';
import { drawGraph } from './graph.js';
import { model } from './model.js';
import { ensureSession, hasSession, hideNeedsToken, showNeedsToken } from './session.js';
import { sparklines } from './sparkline.js';
import { drawTap } from './tap.js';

const $ = (selector) => document.querySelector(selector);
let current = { services: [], edges: [], stepLabel: '' };
/** The page's own ?window=…&series=…&step=… go to the event stream (figures' window, sparklines' span and step). */
const STREAM_OPTIONS = ['window', 'series', 'step'];

function selected() {
  const match = /^#\/services\/([a-z0-9-]+)$/.exec(location.hash);
  return match === null ? current.services[0]?.name : match[1];
}

function select(name) {
  location.hash = `#/services/${name}`;
}

function drawTable(services) {
  const body = $('#service-table tbody');
  body.replaceChildren();
  for (const s of services) {
    const row = document.createElement('tr');
    row.className = 'selectable';
    row.dataset.service = s.name;
    row.dataset.health = serviceHealth(s.instances);
    const up = s.instances.filter((i) => i.health !== 'critical' && i.health !== 'gone').length;
    const cells = [s.name, `${up}/${s.instances.length}`, percent(s.stats?.successRate), rps(s.stats?.rps ?? 0), ms(s.stats?.latencyMs.p50), ms(s.stats?.latencyMs.p95), ms(s.stats?.latencyMs.p99)];
    // Success, RPS and p99 with their sparklines (the last 15 minutes, step by step).
    const sparks = sparklines(s.series, current.stepLabel);
    const sparkAt = { 2: 'success', 3: 'rps', 6: 'p99' };
    cells.forEach((text, index) => {
      const td = document.createElement('td');
      const kind = sparkAt[index];
      if (kind !== undefined && sparks !== undefined) {
        td.append(sparks[kind], document.createTextNode(text));
        td.dataset.spark = kind;
        td.title = sparks[kind].getAttribute('aria-label');
      } else td.textContent = text;
      if (index > 0) td.className = 'num';
      row.append(td);
    });
    row.addEventListener('click', () => select(s.name));
    body.append(row);
  }
}

function render() {
  drawGraph($('#graph'), current, select);
  drawTable(current.services);
  drawDetail($('#detail'), current.services.find((s) => s.name === selected()), current.stepLabel);
  drawTap($('#tap'), current.services.some((s) => s.name === selected()) ? selected() : undefined);
}

function connect() {
  const given = new URLSearchParams(location.search);
  const options = new URLSearchParams();
  for (const name of STREAM_OPTIONS) if (given.has(name)) options.set(name, given.get(name));
  const events = new EventSource(`/v1/dashboard/events${options.toString() === '' ? '' : `?${options}`}`);
  const status = $('#connection');
  events.addEventListener('open', () => { status.dataset.state = 'live'; status.textContent = 'live'; });
  events.addEventListener('error', () => {
    status.dataset.state = 'lost';
    status.textContent = 'reconnecting…';
    // An expired or revoked token: stop reconnecting and say so.
    void hasSession().then((ok) => {
      if (!ok) {
        events.close();
        void start('the token expired or was revoked');
      }
    }, () => undefined);
  });
  events.addEventListener('view', (event) => {
    const view = JSON.parse(event.data);
    current = model(view);
    $('#window').textContent = `figures over the last ${view.window} · ${new Date(view.time).toLocaleTimeString()}`;
    if (view.series !== undefined) $('#spark-span').textContent = `sparklines: the last ${duration(view.series.points * view.series.stepMs)}, a point per ${duration(view.series.stepMs)}`;
    render();
  });
}

async function start(reason, token) {
  const refused = await ensureSession(token);
  if (refused !== undefined) {
    showNeedsToken(reason ?? refused, (given) => start(undefined, given));
    return;
  }
  hideNeedsToken();
  connect();
}

window.addEventListener('hashchange', render);
window.addEventListener('resize', render);
void start();
