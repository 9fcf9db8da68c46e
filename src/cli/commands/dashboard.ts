import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { clientFrom, withClientOptions, type GlobalOptions } from '../options.js';
import { print } from '../output.js';

export function dashboardCommand(program: Command): void {
  withClientOptions(program.command('dashboard')
    .description("print the web dashboard's URL (served by the control plane); --open starts a browser on it"))
    .option('--open', 'open it with xdg-open / open')
    .action(async (options: GlobalOptions & { open?: boolean }) => {
      const client = clientFrom(options);
      await client.status(); // fails with a clear line when the control plane is not there
      const url = `${client.baseUrl}/dashboard/`;
      print(options, { url }, () => url);
      if (options.open) {
        const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
        spawn(opener, [url], { stdio: 'ignore', detached: true }).on('error', () => process.stderr.write(`trellis: could not run ${opener}; open ${url} yourself\n`)).unref();
      }
    });
}
