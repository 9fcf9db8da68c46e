import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { formatTable, print } from '../../output.js';
import { overlapLines } from './format.js';

export function routeApplyCommand(command: Command): void {
  withClientOptions(command.command('apply')
    .description('create or replace the traffic routes in a YAML file (all of them, or none when one is invalid)')
    .requiredOption('-f, --file <file>', 'one route ({ name, parentRefs, subsets, rules }) per document, or several under "routes:"'))
    .action(async (options: GlobalOptions & { file: string }) => {
      const { loadRoutesFile } = await import('../../../control-plane/routes/file.js'); // yaml: loaded on use
      const routes = await loadRoutesFile(options.file);
      const result = await clientFrom(options).applyTrafficRoutes(routes);
      print(options, result, () => [
        formatTable(['ROUTE', 'RESULT', 'REVISION'], result.routes.map(({ route, created }) => [route.name, created ? 'created' : 'updated', route.revision])),
        ...(result.overlaps.length === 0 ? [] : [overlapLines(result.overlaps)]),
      ].join('\n'));
    });
}
