import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { print } from '../../output.js';

export function routeDeleteCommand(command: Command): void {
  withClientOptions(command.command('delete').argument('<name>', 'the route')
    .description("delete a traffic route (callers' sidecars stop applying it within a second)"))
    .action(async (name: string, options: GlobalOptions) => {
      const result = await clientFrom(options).deleteTrafficRoute(name);
      print(options, { name, ...result }, () => `deleted the traffic route ${name} (revision ${result.revision})`);
    });
}
