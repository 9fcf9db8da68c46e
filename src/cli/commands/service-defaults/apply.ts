import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { formatTable, print } from '../../output.js';

export function serviceDefaultsApplyCommand(command: Command): void {
  withClientOptions(command.command('apply')
    .description('create or replace the service defaults in a YAML file (all of them, or none when one is invalid)')
    .requiredOption('-f, --file <file>', 'one entry ({ service, timeout, retry, … }) per document, or several under "serviceDefaults:"'))
    .action(async (options: GlobalOptions & { file: string }) => {
      const { loadServiceDefaultsFile } = await import('../../../control-plane/service-defaults/file.js'); // yaml: loaded on use
      const entries = await loadServiceDefaultsFile(options.file);
      const result = await clientFrom(options).applyServiceDefaults(entries.map((e) => ({ service: e.service, ...e.policy })));
      print(options, result, () => formatTable(['SERVICE', 'RESULT', 'REVISION'], result.serviceDefaults.map(({ serviceDefaults: d, created }) => [
        d.service, created ? 'created' : 'updated', d.revision,
      ])));
    });
}
