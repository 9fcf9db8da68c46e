import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { print } from '../../output.js';

export function policyDeleteCommand(policy: Command): void {
  withClientOptions(policy.command('delete').argument('<name>', 'the policy name')
    .description('delete a policy (sidecars stop enforcing it within a second)'))
    .action(async (name: string, options: GlobalOptions) => {
      const result = await clientFrom(options).deletePolicy(name);
      print(options, { name, ...result }, () => `deleted policy ${name} (revision ${result.revision})`);
    });
}
