import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { print } from '../../output.js';
import { serviceDefaultsTable } from './format.js';

export function serviceDefaultsGetCommand(command: Command): void {
  withClientOptions(command.command('get').argument('<service>', 'the service').description("show one service's defaults"))
    .action(async (service: string, options: GlobalOptions) => {
      const result = await clientFrom(options).getServiceDefaults(service);
      print(options, result, () => serviceDefaultsTable([result.serviceDefaults]));
    });
}
