import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../options.js';
import { print } from '../output.js';

export function deregisterCommand(program: Command): void {
  withClientOptions(program.command('deregister').argument('<service>').argument('<id>', 'instance id')
    .description('remove an instance from the registry'))
    .action(async (service: string, id: string, options: GlobalOptions) => {
      const result = await clientFrom(options).deregister(service, id);
      print(options, result, () => `deregistered ${service}/${id} (revision ${result.revision})`);
    });
}
