import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../../options.js';
import { print } from '../../output.js';
import { checkReport } from './format.js';

/** Exit code of a check whose answer is "denied" (0 = allowed; 1 = an error; 2 = a usage error). */
export const DENIED_EXIT_CODE = 3;

interface CheckOptions extends GlobalOptions {
  from: string;
  to: string;
  method: string;
  path: string;
  tcp?: boolean;
}

export function policyCheckCommand(policy: Command): void {
  withClientOptions(policy.command('check')
    .description('would this call be allowed? the decision, and which policy and rule (or default) made it')
    .option('--from <caller>', 'the caller: a service name, a spiffe:// ID, or "unauthenticated"', 'unauthenticated')
    .requiredOption('--to <service>', 'the service called')
    .option('--method <method>', 'HTTP method', 'GET')
    .option('--path <path>', 'HTTP path', '/')
    .option('--tcp', 'a TCP connection instead of an HTTP request (only rules without methods or paths apply)'))
    .action(async (options: CheckOptions) => {
      const result = await clientFrom(options).checkPolicy({
        from: options.from, to: options.to,
        ...(options.tcp ? { protocol: 'tcp' as const } : { method: options.method, path: options.path }),
      });
      print(options, result, () => checkReport(result));
      if (!result.decision.allowed) process.exitCode = DENIED_EXIT_CODE;
    });
}
