// Live tap on the service page, as `trellis tap`: GET /v1/tap?service=…[&path=…][&method=…]
// with the page's read-only session (the same authorization as the CLI's token), an NDJSON
// stream of request summaries the service's sidecars sampled — never a body, a query string
// or a header's value (the sidecars leave them out). Newest first, the last 100 kept.
const MAX_ROWS = 100;
let tapped;      // the service whose panel is drawn
let controller;  // aborts the open stream

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className !== undefined) td.className = className;
  return td;
}

function setStatus(section, state, text) {
  const status = section.querySelector('.tap-status');
  status.dataset.state = state;
  status.textContent = text;
}

function row(m) {
  const tr = document.createElement('tr');
  tr.dataset.requestId = m.requestId;
  tr.dataset.status = String(m.status);
  tr.dataset.path = m.path;
  const time = new Date(m.at);
  const caller = cell(m.caller === '' ? '—' : m.caller);
  if (m.clientId !== '') caller.title = m.clientId;
  tr.append(
    cell(`${time.toLocaleTimeString([], { hour12: false })}.${String(time.getMilliseconds()).padStart(3, '0')}`),
    cell(m.direction === 'inbound' ? 'in' : 'out'), cell(m.method), cell(m.path), cell(String(m.status), 'num'),
    cell(`${m.latencyMs < 10 ? m.latencyMs.toFixed(1) : Math.round(m.latencyMs)} ms`, 'num'), caller,
    cell(m.direction === 'inbound' ? m.service : `→ ${m.service}`), cell(m.instance), cell(m.endpoint ?? '—'), cell(String(m.retries), 'num'), cell(m.errorCode === '' ? '' : m.errorCode),
  );
  if (m.status >= 500 || m.errorCode !== '') tr.className = 'failed';
  return tr;
}

function stop(section) {
  controller?.abort();
  controller = undefined;
  if (section !== undefined) {
    section.querySelector('button.start').hidden = false;
    section.querySelector('button.stop').hidden = true;
  }
}

async function start(section, service, path, method) {
  stop(section);
  const own = new AbortController();
  controller = own;
  section.querySelector('button.start').hidden = true;
  section.querySelector('button.stop').hidden = false;
  setStatus(section, 'arming', 'arming the sidecars…');
  const query = new URLSearchParams({ service });
  if (path !== '') query.set('path', path);
  if (method !== '') query.set('method', method);
  try {
    const response = await fetch(`/v1/tap?${query}`, { signal: own.signal });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error(body?.error?.message ?? `the control plane answered ${response.status}`);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const body = section.querySelector('tbody');
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line === '') continue;
        const message = JSON.parse(line);
        if (message.type === 'armed') setStatus(section, 'armed', `tapping ${service}: ${message.sidecars} sidecar(s)`);
        else if (message.type === 'request') {
          body.prepend(row(message));
          while (body.children.length > MAX_ROWS) body.lastElementChild.remove();
        }
      }
    }
    if (controller === own) setStatus(section, 'stopped', 'the stream ended');
  } catch (err) {
    if (own.signal.aborted) { setStatus(section, 'stopped', 'stopped'); return; }
    setStatus(section, 'error', `tap failed: ${err.message}`);
  } finally {
    if (controller === own) stop(section);
  }
}

/** The live-tap panel of the selected service (kept while the same service stays selected). */
export function drawTap(section, service) {
  if (service === tapped) return;
  stop(section.querySelector('button.stop') === null ? undefined : section);
  tapped = service;
  section.replaceChildren();
  section.hidden = service === undefined;
  if (service === undefined) return;
  const title = document.createElement('h2');
  title.innerHTML = 'Live tap <small>a sample of the requests its sidecars see, as <code>trellis tap</code>: no bodies, queries or header values</small>';
  const form = document.createElement('form');
  form.className = 'tap-form';
  form.innerHTML = '<input name="path" placeholder="path prefix, e.g. /orders" size="24"> <input name="method" placeholder="method" size="8"> '
    + '<button type="submit" class="start">Start tap</button><button type="button" class="stop" hidden>Stop</button> <span class="tap-status" data-state="idle"></span>';
  const table = document.createElement('table');
  table.className = 'tap';
  table.innerHTML = '<thead><tr><th>Time</th><th>Dir</th><th>Method</th><th>Path</th><th class="num">Status</th><th class="num">Latency</th><th>Caller</th><th>Service</th><th>Sidecar</th><th>Endpoint</th><th class="num">Retries</th><th>Error</th></tr></thead><tbody></tbody>';
  section.append(title, form, table);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void start(section, service, form.elements.path.value.trim(), form.elements.method.value.trim().toUpperCase());
  });
  form.querySelector('button.stop').addEventListener('click', () => { stop(section); setStatus(section, 'stopped', 'stopped'); });
}
