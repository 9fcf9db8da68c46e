/** `trellis routes SERVICE`: golden metrics per declared route of a service, as `linkerd viz routes`. */
import type { Command } from 'commander';
import { goldenCells, GOLDEN_HEADERS } from '../golden.js';
import { requireKnownService } from '../known-service.js';
import { clientFrom, durationArg, withClientOptions, type GlobalOptions } from '../options.js';
import { formatTable, print } from '../output.js';
import type { RouteStats } from '../../telemetry/aggregate.js';

export function routesTable(service: string, routes: readonly RouteStats[]): string {
  return routes.length === 0
    ? `no traffic to ${service} in the window (routes are declared with \`routes:\` in its sidecar's config or the mesh file)`
    : formatTable(['ROUTE', ...GOLDEN_HEADERS, 'REQUESTS'], routes.map((r) => [r.route, ...goldenCells(r), String(r.requests)]));
}

export function routesCommand(program: Command): void {
  withClientOptions(program.command('routes').argument('<service>', 'the service whose routes to show')
    .description('golden metrics per route of a service, from its sidecars (inbound); unmatched requests are [default]'))
    .option('--window <duration>', 'the time window (1s–15m)', durationArg('--window'), '1m')
    .action(async (service: string, options: GlobalOptions & { window: string }) => {
      const client = clientFrom(options);
      const result = await client.routes({ service, window: options.window });
      if (result.routes.length === 0) await requireKnownService(client, service);
      print(options, result, () => routesTable(result.service, result.routes));
    });
}
