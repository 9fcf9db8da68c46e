import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { print } from '../../output.js';
import { routesTable } from './format.js';

export function routeListCommand(command: Command): void {
  withClientOptions(command.command('list').description('list the traffic routes, or those attached to one service')
    .option('--service <service>', 'only the routes attached to this service'))
    .action(async (options: GlobalOptions & { service?: string }) => {
      const result = await clientFrom(options).trafficRoutes(options.service === undefined ? undefined : [options.service]);
      print(options, result, () => (result.routes.length === 0
        ? `no traffic routes${options.service === undefined ? '' : ` attached to ${options.service}`}: callers send to every healthy instance`
        : routesTable(result.routes)));
    });
}
