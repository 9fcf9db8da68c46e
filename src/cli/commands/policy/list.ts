import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { print } from '../../output.js';
import { policyTable } from './format.js';

export function policyListCommand(policy: Command): void {
  withClientOptions(policy.command('list')
    .description('list the authorization policies')
    .option('--service <service>', "only those that apply to this service (its own and the mesh-wide ones)"))
    .action(async (options: GlobalOptions & { service?: string }) => {
      const result = await clientFrom(options).policies(options.service);
      print(options, result, () => (result.policies.length === 0
        ? `no policies${options.service === undefined ? '' : ` apply to ${options.service}`}: every request is allowed (the built-in default)`
        : policyTable(result.policies)));
    });
}
