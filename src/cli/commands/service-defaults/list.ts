import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { print } from '../../output.js';
import { serviceDefaultsTable } from './format.js';

export function serviceDefaultsListCommand(command: Command): void {
  withClientOptions(command.command('list').description('list every service that has service defaults'))
    .action(async (options: GlobalOptions) => {
      const result = await clientFrom(options).serviceDefaults();
      print(options, result, () => (result.serviceDefaults.length === 0
        ? 'no service defaults: callers use their own settings and the built-in defaults'
        : serviceDefaultsTable(result.serviceDefaults)));
    });
}
