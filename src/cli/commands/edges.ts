import type { Command } from 'commander';
import { goldenCells, GOLDEN_HEADERS } from '../golden.js';
import { clientFrom, durationArg, withClientOptions, type GlobalOptions } from '../options.js';
import { formatTable, print } from '../output.js';

export function edgesCommand(program: Command): void {
  withClientOptions(program.command('edges')
    .description('who calls whom (from the callers\' sidecars), with the mTLS identity the callee saw and golden metrics per edge'))
    .option('--window <duration>', 'the time window (1s–15m)', durationArg('--window'), '1m')
    .action(async (options: GlobalOptions & { window: string }) => {
      const result = await clientFrom(options).edges({ window: options.window });
      print(options, result, () => result.edges.length === 0
        ? `no calls between meshed services in the last ${result.window}`
        : formatTable(['SRC', 'DST', 'IDENTITY', ...GOLDEN_HEADERS, 'REQUESTS'],
          result.edges.map((e) => [e.src, e.dst, e.identities.length === 0 ? '-' : e.identities.join(','), ...goldenCells(e), String(e.requests)])));
    });
}
