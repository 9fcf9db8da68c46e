import type { Command } from 'commander';
import { goldenCells, GOLDEN_HEADERS } from '../golden.js';
import { withKnownService } from '../known-service.js';
import { clientFrom, durationArg, withClientOptions, type GlobalOptions } from '../options.js';
import { formatTable, print } from '../output.js';
import type { ServiceStats } from '../../telemetry/aggregate.js';

export function statTable(services: readonly ServiceStats[]): string {
  return services.length === 0
    ? 'no services'
    : formatTable(['SERVICE', 'MESHED', ...GOLDEN_HEADERS, 'REQUESTS'],
      services.map((s) => [s.service, String(s.meshed), ...goldenCells(s), String(s.requests)]));
}

export function statCommand(program: Command): void {
  withClientOptions(program.command('stat').argument('[service]', 'one service (default: all)')
    .description('golden metrics per service, from its sidecars (inbound): success rate, requests/s, latency percentiles'))
    .option('--window <duration>', 'the time window (1s–15m)', durationArg('--window'), '1m')
    .action(async (service: string | undefined, options: GlobalOptions & { window: string }) => {
      const client = clientFrom(options);
      const call = (): ReturnType<typeof client.stat> => client.stat({ window: options.window, ...(service === undefined ? {} : { service }) });
      const result = service === undefined ? await call() : await withKnownService(client, service, call);
      print(options, result, () => statTable(result.services));
    });
}
