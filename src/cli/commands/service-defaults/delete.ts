import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { print } from '../../output.js';

export function serviceDefaultsDeleteCommand(command: Command): void {
  withClientOptions(command.command('delete').argument('<service>', 'the service')
    .description("delete a service's defaults (its callers' sidecars go back to their own settings within a second)"))
    .action(async (service: string, options: GlobalOptions) => {
      const result = await clientFrom(options).deleteServiceDefaults(service);
      print(options, { service, ...result }, () => `deleted the service defaults of ${service} (revision ${result.revision})`);
    });
}
