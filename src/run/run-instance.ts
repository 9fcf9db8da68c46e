/**
 * One instance = an app and its sidecar (and, for each of the app's other ports, a sidecar of
 * that port's own service: RunSpec.ports):
 *   start the sidecar (its outbound side is there before the app's first call; it registers
 *   the instance only once the app passes its health check) → start the app (PORT and the
 *   TRELLIS_* variables) → wait until the app is ready and registered → run until the app
 *   exits or a stop is asked → drain the sidecar (deregister, finish in-flight) → stop the
 *   app (SIGTERM to its process group, SIGKILL after the grace period).
 * `finished` resolves with the app's exit code, so one-shot jobs end `trellis run`. An app
 * that exits before it is ready is reported as `{ ready: false }` with its exit code.
 */
import type { Logger } from 'pino';
import { messageOf } from '../errors.js';
import { appEnvironment } from './app-env.js';
import { describeExit, exitCodeOf, startApp, type AppExit, type AppOutput } from './app-process.js';
import { freePort } from './free-port.js';
import { describeHolder, hostPortHolder } from './listener-owner.js';
import { inNamespace } from './netns.js';
import { assertPortFree } from './port-holder.js';
import { waitUntilReady, waitUntilRegistered } from './readiness.js';
import { startInstanceSidecar, startPortSidecar, type InstanceSidecar } from './sidecar.js';
import type { InstanceInfo, RunSpec } from './types.js';

export interface RunRuntime {
  /** The environment the app inherits (the caller's own). */
  readonly inheritedEnv: NodeJS.ProcessEnv;
  readonly output: AppOutput;
  readonly logger: Logger;
  /** Aborting it stops the instance (before it is ready: the start fails). */
  readonly signal?: AbortSignal;
}

export interface RunningInstance {
  readonly ready: true;
  readonly info: InstanceInfo;
  /** The app's exit code (128 + signal number when a signal ended it), after the sidecar drained. */
  readonly finished: Promise<number>;
}

/** The app exited before it was ready: it was never registered. */
export interface ExitedEarly {
  readonly ready: false;
  readonly exit: AppExit;
  readonly exitCode: number;
  /** "my-service-1: the app exited with code 3 before it was ready (it was never registered)" */
  readonly message: string;
}

const LOCALHOST = '127.0.0.1';

export async function startInstance(spec: RunSpec, runtime: RunRuntime): Promise<RunningInstance | ExitedEarly> {
  const { logger, signal } = runtime;
  // A given port still held (by an app an earlier run left behind, say) is named now, not after a ready timeout.
  if (spec.port !== undefined) await assertPortFree(LOCALHOST, spec.port, spec.id);
  const appPort = spec.port ?? await freePort(LOCALHOST);
  const appHost = spec.network?.appAddress ?? LOCALHOST;
  const outboundHost = spec.network?.hostAddress ?? LOCALHOST;
  const deadline = Date.now() + spec.readyTimeoutMs;
  const sidecar = await startInstanceSidecar(spec, appPort, logger);
  // The app's other ports: a sidecar each, registering its own service (RunSpec.ports).
  const portSidecars: InstanceSidecar[] = [];
  const drainAll = async (): Promise<void> => { await Promise.all([sidecar, ...portSidecars].map((s) => s.drain())); };
  let env: NodeJS.ProcessEnv;
  try {
    for (const port of spec.ports ?? []) portSidecars.push(await startPortSidecar(spec, port, logger));
    env = appEnvironment(runtime.inheritedEnv, spec.env ?? {}, {
      service: spec.service,
      id: spec.id,
      appPort,
      controlPlane: spec.controlPlane,
      outboundPort: sidecar.outboundPort,
      outboundHost,
      upstreamPorts: sidecar.upstreamPorts,
    });
  } catch (err) {
    await drainAll();
    throw err;
  }
  const app = startApp({
    command: inNamespace(spec.network, spec.command),
    ...(spec.cwd === undefined ? {} : { cwd: spec.cwd }),
    env,
    output: runtime.output,
  });

  let started: boolean | AppExit | undefined;
  try {
    started = await waitUntilReady({
      name: spec.id,
      host: appHost,
      port: appPort,
      ...(app.pid === undefined ? {} : { appPid: app.pid }),
      ...(spec.healthPath === undefined ? {} : { healthPath: spec.healthPath }),
      timeoutMs: spec.readyTimeoutMs,
      exited: app.exited,
      ...(signal === undefined ? {} : { signal }),
    }) ?? await waitUntilRegistered({
      name: spec.id, registered: () => sidecar.registered() && portSidecars.every((s) => s.registered()), deadline, exited: app.exited, ...(signal === undefined ? {} : { signal }),
    });
  } catch (err) {
    await Promise.all([drainAll(), app.stop(spec.stopGraceMs)]);
    throw err;
  }
  if (typeof started === 'object') {
    await drainAll();
    return {
      ready: false, exit: started, exitCode: exitCodeOf(started),
      message: `${spec.id}: the app ${describeExit(started)} before it was ready (it was never registered)${started.error === undefined ? `; ${portDiagnosis(spec, appPort)}` : ''}`,
    };
  }
  if (!started) logger.warn({ id: spec.id }, 'the app is ready but its sidecar has not registered it yet (is the control plane reachable?); it keeps trying');

  const stopRequested = new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  const finished = (async (): Promise<number> => {
    const first = await Promise.race([app.exited, stopRequested.then(() => undefined)]);
    if (first !== undefined) logger.info({ id: spec.id }, `the app ${describeExit(first)}: draining the sidecar`);
    try {
      await drainAll();
    } catch (err) {
      logger.warn({ id: spec.id, err: messageOf(err) }, 'the sidecar did not drain cleanly');
    }
    return exitCodeOf(first ?? await app.stop(spec.stopGraceMs));
  })();

  return {
    ready: true,
    info: {
      service: spec.service,
      id: spec.id,
      appPid: app.pid ?? 0,
      appPort,
      appHost,
      ...(spec.network === undefined ? {} : { namespace: spec.network.namespace }),
      admin: sidecar.admin,
      inbound: sidecar.inbound,
      registered: started,
      outbound: `http://${outboundHost}:${sidecar.outboundPort}`,
      upstreams: Object.fromEntries(sidecar.upstreamPorts),
      ...(spec.ports === undefined || spec.ports.length === 0 ? {} : {
        ports: spec.ports.map((p, i) => ({ service: p.service, id: p.id, appPort: p.port, inbound: portSidecars[i]?.inbound ?? '-', admin: portSidecars[i]?.admin ?? '-' })),
      }),
    },
    finished,
  };
}

/** "it was given port 8080 in $PORT, and port 8080 is held by pid 4242 (hello)": why an app may have exited before it was ready. */
function portDiagnosis(spec: RunSpec, appPort: number): string {
  const given = `it was given port ${appPort} in $PORT`;
  if (spec.network !== undefined) return `${given} in its own network namespace ${spec.network.namespace}, where nothing else listens`;
  const holder = hostPortHolder(appPort);
  switch (holder.kind) {
    case 'other': return `${given}, and port ${appPort} is held by ${describeHolder(holder)} — stop it or give this app another port`;
    case 'none': return `${given}, and nothing else holds port ${appPort} — does the app listen on $PORT?`;
    default: return given;
  }
}
