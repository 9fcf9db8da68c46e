/**
 * `trellis token create|list|revoke` — join tokens for sidecars, read-only tokens for people and tools. The token is printed once,
 * by `create`; the control plane keeps only its hash. Pass it to a sidecar in TRELLIS_TOKEN
 * or a file (--token-file), never as a flag.
 */
import type { Command } from 'commander';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { formatDuration, parseDuration } from '../../util/duration.js';
import { clientFrom, durationArg, withClientOptions, type GlobalOptions } from '../options.js';
import { formatTable, print } from '../output.js';

interface CreateOptions extends GlobalOptions {
  service?: string;
  readOnly?: boolean;
  namespace?: string;
  ttl: string;
}

export function tokenCommand(program: Command): void {
  const token = program.command('token').description('join tokens (how a sidecar starts) and read-only tokens (people and tools)');

  withClientOptions(token.command('create').description('make a join token for one service, or a read-only token (printed once: keep it)'))
    .option('--service <name>', 'the service the token lets a sidecar be')
    .option('--namespace <name>', 'its namespace (default "default")')
    .option('--read-only', 'a read-only token instead: reads the registry, policies, metrics and the dashboard; writes nothing')
    .option('--ttl <duration>', 'how long the token is valid (a join token: for a sidecar to start)', durationArg('--ttl'), '1h')
    .action(async (options: CreateOptions) => {
      if ((options.service === undefined) === (options.readOnly !== true)) {
        throw new TrellisError(ErrorCodes.BAD_FLAG, 'give --service NAME (a join token for a sidecar) or --read-only, one of them', { field: 'service' });
      }
      const made = await clientFrom(options).createToken({
        ttl: options.ttl,
        ...(options.readOnly === true ? { readOnly: true } : options.service === undefined ? {} : { service: options.service }),
        ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      });
      const what = made.kind === 'read' ? `read-only token ${made.id}` : `join token ${made.id} for ${made.namespace ?? ''}/${made.service ?? ''}`;
      const use = made.kind === 'read'
        ? 'Send it as "Authorization: Bearer <token>", or in TRELLIS_TOKEN for the CLI.'
        : 'Give it to the sidecar in TRELLIS_TOKEN or a file (--token-file), never as a flag.';
      print(options, made, () => `${made.token}\n\n# ${what}, valid for ${formatDuration(parseDuration(options.ttl) ?? 0)} (until ${made.expiresAt}).\n# It is shown only now. ${use}`);
    });

  withClientOptions(token.command('list').description('join and read-only tokens (ids, kinds, services, expiry; never the tokens)'))
    .action(async (options: GlobalOptions) => {
      const { tokens } = await clientFrom(options).listTokens();
      print(options, { tokens }, () => (tokens.length === 0 ? 'no tokens' : formatTable(['ID', 'KIND', 'NAMESPACE', 'SERVICE', 'EXPIRES'],
        tokens.map((t) => [t.id, t.kind, t.namespace ?? '-', t.service ?? '-', t.expiresAt]))));
    });

  withClientOptions(token.command('revoke').argument('<id>', 'token id (see `trellis token list`)').description('revoke a join token'))
    .action(async (id: string, options: GlobalOptions) => {
      const result = await clientFrom(options).revokeToken(id);
      print(options, result, () => `revoked token ${result.revoked}`);
    });
}
