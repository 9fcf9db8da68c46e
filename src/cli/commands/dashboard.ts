/**
 * `trellis dashboard`: mints a short-lived read-only token with the admin token and prints the
 * dashboard's URL with it in the fragment (`#token=…`: never sent to a server, never logged).
 * The page exchanges it for an HttpOnly cookie and removes it from the address bar.
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { clientFrom, durationArg, withClientOptions, type GlobalOptions } from '../options.js';
import { print } from '../output.js';

export function dashboardCommand(program: Command): void {
  withClientOptions(program.command('dashboard')
    .description("print the web dashboard's URL with a new read-only token in it (needs the admin token); --open starts a browser on it"))
    .option('--ttl <duration>', 'how long the URL (its read-only token) lets a browser in', durationArg('--ttl'), '8h')
    .option('--open', 'open the dashboard with xdg-open / open, without the token (argument lists are visible to every user): paste the URL into its token field')
    .action(async (options: GlobalOptions & { open?: boolean; ttl: string }) => {
      const client = clientFrom(options);
      const made = await client.createToken({ readOnly: true, ttl: options.ttl });
      const url = `${client.baseUrl}/dashboard/#token=${made.token}`;
      print(options, { url, tokenId: made.id, expiresAt: made.expiresAt }, () => url);
      if (options.open) {
        const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
        const page = `${client.baseUrl}/dashboard/`;
        spawn(opener, [page], { stdio: 'ignore', detached: true }).on('error', () => process.stderr.write(`trellis: could not run ${opener}; open the URL above yourself\n`)).unref();
      }
    });
}
