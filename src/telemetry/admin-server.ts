/**
 * The sidecar's admin listener (Linkerd's :4191): `GET /metrics` (Prometheus text),
 * `GET /status` (sidecar.status() as JSON), `GET /ready` (200 once serving — and, with an
 * app, registered — else 503), `GET /live` (200 while the process runs). Loopback by default.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import { formatHostPort, type HostPort } from '../util/host-port.js';
import type { SidecarMetrics } from './metrics.js';

export interface AdminSources {
  readonly metrics: SidecarMetrics | undefined;
  status(): unknown;
  ready(): boolean;
}

export interface AdminServer {
  readonly address: HostPort;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function notFound(req: IncomingMessage): { error: { code: string; message: string } } {
  return { error: { code: ErrorCodes.ROUTE_NOT_FOUND, message: `no admin route ${req.method ?? 'GET'} ${req.url ?? '/'}: try /metrics, /status, /ready or /live` } };
}

async function handle(req: IncomingMessage, res: ServerResponse, sources: AdminSources): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    json(res, 405, { error: { code: ErrorCodes.METHOD_NOT_ALLOWED, message: 'the admin listener takes GET only' } });
    return;
  }
  switch (path) {
    case '/metrics': {
      if (sources.metrics === undefined) {
        json(res, 404, { error: { code: ErrorCodes.NOT_FOUND, message: 'metrics are off in this sidecar (telemetry.metrics: false)' } });
        return;
      }
      const text = await sources.metrics.exposition();
      res.writeHead(200, { 'content-type': sources.metrics.contentType });
      res.end(text);
      return;
    }
    case '/status':
      json(res, 200, sources.status());
      return;
    case '/ready': {
      const ready = sources.ready();
      json(res, ready ? 200 : 503, { ready });
      return;
    }
    case '/live':
      json(res, 200, { live: true });
      return;
    default:
      json(res, 404, notFound(req));
  }
}

export async function startAdminServer(at: HostPort, sources: AdminSources): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    req.resume();
    handle(req, res, sources).catch((err: unknown) => json(res, 500, { error: { code: ErrorCodes.INTERNAL, message: messageOf(err) } }));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => { server.off('error', reject); resolve(); });
    });
  } catch (err) {
    throw new TrellisError(ErrorCodes.LISTEN, `cannot listen on ${formatHostPort(at)} for the admin endpoint: ${messageOf(err)} (pick another admin.listen)`, { field: 'admin.listen', cause: err });
  }
  const { port } = server.address() as AddressInfo;
  return {
    address: { host: at.host, port },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
