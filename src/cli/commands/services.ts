import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../options.js';
import { formatTable, print } from '../output.js';

export function servicesCommand(program: Command): void {
  withClientOptions(program.command('services').description('list services with instance counts by health'))
    .action(async (options: GlobalOptions) => {
      const result = await clientFrom(options).services();
      print(options, result, () => result.services.length === 0
        ? 'no services registered'
        : formatTable(['SERVICE', 'INSTANCES', 'PASSING', 'WARNING', 'CRITICAL'],
          result.services.map((s) => [s.name, s.instances, s.passing, s.warning, s.critical])));
    });
}
