import { InvalidArgumentError, type Command } from 'commander';
import { parseRoute } from '../../../proxy/routing/schema.js';
import { explainRoute } from '../../../proxy/routing/explain.js';
import { isHealthy } from '../../../registry/types.js';
import { formatDuration } from '../../../util/duration.js';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { formatTable, print } from '../../output.js';

interface CheckOptions extends GlobalOptions {
  from?: string;
  to: string;
  method: string;
  path: string;
  header: Record<string, string>;
}

/** -H NAME:VALUE, repeatable. */
function collectHeader(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const colon = value.indexOf(':');
  if (colon <= 0) throw new InvalidArgumentError(`-H takes NAME:VALUE, e.g. -H x-canary:1 (got ${JSON.stringify(value)}).`);
  return { ...previous, [value.slice(0, colon).trim().toLowerCase()]: value.slice(colon + 1).trim() };
}

export function routeCheckCommand(command: Command): void {
  withClientOptions(command.command('check')
    .description("which route and backend would a caller's sidecar pick for this request, and why")
    .option('--from <caller>', 'the calling service (its sidecar applies the routes)')
    .requiredOption('--to <service>', 'the service called')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('--path <path>', 'HTTP path (with ?query)', '/')
    .option('-H, --header <name:value>', 'a request header, repeatable', collectHeader, {}))
    .action(async (options: CheckOptions) => {
      const client = clientFrom(options);
      const [listing, instances] = await Promise.all([client.trafficRoutes([options.to]), client.instances(options.to)]);
      const routes = listing.routes.flatMap((r) => {
        try {
          return [parseRoute(r.spec)];
        } catch {
          return [];
        }
      });
      const endpoints = instances.instances.filter(isHealthy).map((i) => ({ id: i.id, address: i.address, port: i.port, weight: i.weight, metadata: i.metadata }));
      const result = { from: options.from ?? null, ...explainRoute({ service: options.to, routes, endpoints, method: options.method, path: options.path, headers: options.header }) };
      print(options, result, () => [
        `${result.from === null ? '' : `${result.from} → `}${result.service}: ${result.request.method} ${result.request.path}`,
        ...result.why.map((line) => `  ${line}`),
        formatTable(['BACKEND', 'LABELS', 'WEIGHT', 'SHARE', 'INSTANCES'], result.backends.map((b) => [
          b.subset ?? '(all)', b.labels === null ? '-' : Object.entries(b.labels).map(([k, v]) => `${k}=${v}`).join(','), b.weight, `${b.percent}%`, b.instances.length === 0 ? 'none healthy' : b.instances.join(','),
        ])),
        `filters: ${result.filters.length === 0 ? 'none' : result.filters.join('; ')}`,
        `timeout ${result.timeoutMs === 0 ? 'none' : formatDuration(result.timeoutMs)} · per try ${result.perTryTimeoutMs === 0 ? 'none' : formatDuration(result.perTryTimeoutMs)} · attempts ${result.retry.maxAttempts} on ${result.retry.retryOnStatus.join(',')}`,
      ].join('\n'));
    });
}
