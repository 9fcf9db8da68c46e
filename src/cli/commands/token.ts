/**
 * `trellis token create|list|revoke` — join tokens for sidecars. The token is printed once,
 * by `create`; the control plane keeps only its hash. Pass it to a sidecar in TRELLIS_TOKEN
 * or a file (--token-file), never as a flag.
 */
import type { Command } from 'commander';
import { formatDuration, parseDuration } from '../../util/duration.js';
import { clientFrom, durationArg, withClientOptions, type GlobalOptions } from '../options.js';
import { formatTable, print } from '../output.js';

interface CreateOptions extends GlobalOptions {
  service: string;
  namespace?: string;
  ttl: string;
}

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('join tokens: how a sidecar earns its mTLS certificate');

  withClientOptions(token.command('create').description('make a join token for one service (printed once: keep it)'))
    .requiredOption('--service <name>', 'the service the token lets a sidecar be')
    .option('--namespace <name>', 'its namespace (default "default")')
    .option('--ttl <duration>', 'how long the token may be used for a first certificate', durationArg('--ttl'), '1h')
    .action(async (options: CreateOptions) => {
      const made = await clientFrom(options).createToken({
        service: options.service, ttl: options.ttl, ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      });
      print(options, made, () => `${made.token}\n\n# join token ${made.id} for ${made.namespace}/${made.service}, valid for ${formatDuration(parseDuration(options.ttl) ?? 0)} (until ${made.expiresAt}).\n# It is shown only now. Give it to the sidecar in TRELLIS_TOKEN or a file (--token-file), never as a flag.`);
    });

  withClientOptions(token.command('list').description('join tokens (ids, services, expiry; never the tokens)'))
    .action(async (options: GlobalOptions) => {
      const { tokens } = await clientFrom(options).listTokens();
      print(options, { tokens }, () => (tokens.length === 0 ? 'no join tokens' : formatTable(['ID', 'NAMESPACE', 'SERVICE', 'EXPIRES'],
        tokens.map((t) => [t.id, t.namespace, t.service, t.expiresAt]))));
    });

  withClientOptions(token.command('revoke').argument('<id>', 'token id (see `trellis token list`)').description('revoke a join token'))
    .action(async (id: string, options: GlobalOptions) => {
      const result = await clientFrom(options).revokeToken(id);
      print(options, result, () => `revoked join token ${result.revoked}`);
    });
}
