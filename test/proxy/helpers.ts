/** Shared pieces of the sidecar tests: small apps on port 0, sidecars in-process, requests with undici. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool, request } from 'undici';
import { startSidecar, type Sidecar } from '../../src/agent/sidecar.js';
import type { SidecarConfigInput } from '../../src/proxy/config.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { formatHostPort, type HostPort } from '../../src/util/host-port.js';
import type { Logger } from 'pino';
import { DEFAULT_CONTROL_PLANE } from '../../src/config/env.js';
import { killAll } from '../helpers/processes.js';
import { mintToken } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';

export const quiet = createLogger({ level: 'silent' });

export interface App {
  readonly name: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

type Handle = (req: IncomingMessage, res: ServerResponse) => void;

/** A plain node:http app answering `<name>` (or as `handle` says) on 127.0.0.1, port 0. */
export async function startApp(name: string, handle?: Handle): Promise<App> {
  const server = createServer(handle ?? ((req, res) => {
    req.resume();
    res.setHeader('content-type', 'text/plain');
    res.end(name);
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    name,
    port,
    server,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A sidecar in this process with silent logs, with a join token minted for its service. */
export async function sidecar(config: SidecarConfigInput, logger: Logger = quiet): Promise<Sidecar> {
  const token = await mintToken(config.controlPlane ?? DEFAULT_CONTROL_PLANE, config.service);
  return startSidecar({ config, logger, token });
}

/** A replica: `app` behind a sidecar registered as `service`, id `<service>-<app name>`. */
export function replica(controlPlane: string, service: string, app: App, extra: Partial<SidecarConfigInput> = {}): Promise<Sidecar> {
  return sidecar({
    service,
    id: `${service}-${app.name}`,
    controlPlane,
    app: { port: app.port, health: { interval: '200ms' } },
    ttl: '1s',
    ...extra,
  });
}

/** Until `caller` has `count` endpoints of `service`. */
export function endpointsReached(caller: Sidecar, service: string, count: number, timeoutMs = 15_000): Promise<readonly string[]> {
  return waitFor(`${count} endpoints of ${service} at the caller`, () => {
    const endpoints = caller.status().upstreams[service]?.endpoints;
    return endpoints !== undefined && endpoints.length === count ? endpoints : undefined;
  }, { timeoutMs });
}

export function url(at: HostPort, path = '/'): string {
  return `http://${formatHostPort(at)}${path}`;
}

export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request with undici (its own connection unless a dispatcher is given). */
export async function send(target: string, options: { headers?: Record<string, string>; method?: string; body?: string; dispatcher?: Pool } = {}): Promise<Answer> {
  const response = await request(target, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers ?? {},
    ...(options.body === undefined ? {} : { body: options.body }),
    ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
  });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

/**
 * `total` GETs with Host `service` through an outbound listener, `concurrency` at a time
 * on keep-alive connections; returns how many each body (the replica's name) got.
 */
export async function distribution(outbound: HostPort, service: string, total: number, concurrency = 8): Promise<Map<string, number>> {
  const pool = new Pool(url(outbound), { connections: concurrency });
  const counts = new Map<string, number>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      const answer = await send(url(outbound, '/who'), { headers: { host: service }, dispatcher: pool });
      const key = answer.status === 200 ? answer.body : `status ${answer.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  return counts;
}

/** after(): close the sidecars, then the apps, kill every spawned process, remove the temp dir. */
export async function tearDown(dir: { remove(): void }, sidecars: readonly Sidecar[], apps: readonly App[]): Promise<void> {
  await Promise.all(sidecars.map((s) => s.close()));
  await Promise.all(apps.map((a) => a.close()));
  killAll();
  dir.remove();
}
