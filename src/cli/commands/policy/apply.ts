import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { formatTable, print } from '../../output.js';

export function policyApplyCommand(policy: Command): void {
  withClientOptions(policy.command('apply')
    .description('create or replace the policies in a YAML file (all of them, or none when one is invalid)')
    .requiredOption('-f, --file <file>', 'a policy file: one policy, or several under "policies:" (see docs/security.md)'))
    .action(async (options: GlobalOptions & { file: string }) => {
      const { loadPolicyFile } = await import('../../../security/authz/file.js'); // yaml: loaded on use, not by every command
      const policies = await loadPolicyFile(options.file);
      const result = await clientFrom(options).applyPolicies(policies);
      print(options, result, () => formatTable(['POLICY', 'SERVICE', 'RESULT', 'REVISION'], result.policies.map(({ policy: p, created }) => [
        p.name, p.service, created ? 'created' : 'updated', p.revision,
      ])));
    });
}
