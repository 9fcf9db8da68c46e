/** One human line per mesh event: what `trellis up` and `make demo` print while a mesh starts and stops. */
import { formatDuration } from '../util/duration.js';
import type { MeshEvent } from './mesh.js';

export function describeMeshEvent(event: MeshEvent): string {
  switch (event.kind) {
    case 'control-plane': return `control plane ${event.url}${event.dns === undefined ? '' : `   DNS ${event.dns}`}   data ${event.dataDir} (every API call needs a token: the CLI finds the admin token with TRELLIS_DATA_DIR=${event.dataDir})`;
    case 'stale-removed': return `removed ${event.count} instance(s) left over from an earlier run`;
    case 'starting': return `starting ${event.service} ${event.index}/${event.replicas}…`;
    case 'ready': return `  ${event.info.id} ready (app ${event.info.appHost}:${event.info.appPort}${event.info.namespace === undefined ? '' : ` in netns ${event.info.namespace}`}, pid ${event.info.appPid}; sidecar admin/metrics http://${event.info.admin}/metrics)`;
    case 'exposed': return `${event.service} exposed at ${event.address}`;
    case 'exited': return `${event.id} exited${event.code === null ? '' : ` with code ${event.code}`}`;
    case 'restarting': return `${event.id} restarts in ${formatDuration(event.inMs)} (restart #${event.restarts}; the back-off doubles up to 30s)`;
    case 'restart-failed': return `${event.id} did not start again: ${event.message}`;
    case 'not-restarted': return `${event.id} stays stopped (restart: ${event.restart})`;
    case 'liveness-failed': return `${event.id} failed its liveness check ${event.failures} time(s) in a row (${event.output}): stopping it`;
    case 'build': return `building ${event.service}: ${event.command.join(' ')}`;
    case 'stopping': return 'stopping: draining sidecars, stopping apps, then the control plane…';
  }
}
