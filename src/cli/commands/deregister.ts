import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../options.js';
import { print } from '../output.js';
import { withKnownInstance } from '../known-service.js';

export function deregisterCommand(program: Command): void {
  withClientOptions(program.command('deregister').argument('<service>').argument('<id>', 'instance id')
    .description('remove an instance from the registry'))
    .action(async (service: string, id: string, options: GlobalOptions) => {
      const client = clientFrom(options);
      const result = await withKnownInstance(client, service, id, () => client.deregister(service, id));
      print(options, result, () => `deregistered ${service}/${id} (revision ${result.revision})`);
    });
}
