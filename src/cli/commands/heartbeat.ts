import type { Command } from 'commander';
import { parseDuration } from '../../util/duration.js';
import { clientFrom, durationArg, withClientOptions, type GlobalOptions } from '../options.js';
import { print, printError } from '../output.js';
import { withKnownInstance } from '../known-service.js';

export function heartbeatCommand(program: Command): void {
  withClientOptions(program.command('heartbeat').argument('<service>').argument('<id>', 'instance id')
    .description('send a TTL heartbeat for an instance (once, or repeatedly with --every)')
    .option('--every <duration>', 'keep sending a heartbeat at this interval until interrupted', durationArg('--every')))
    .action(async (service: string, id: string, options: GlobalOptions & { every?: string }) => {
      const client = clientFrom(options);
      const beat = async (): Promise<void> => {
        const result = await withKnownInstance(client, service, id, () => client.heartbeat(service, id));
        print(options, result, () => `heartbeat ${service}/${id}: ${result.status} (ttl ${result.ttlMs} ms)`);
      };
      await beat();
      if (options.every === undefined) return;
      const everyMs = parseDuration(options.every) ?? 0;
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => { beat().catch((err: unknown) => printError(err, options)); }, everyMs);
        const stop = (): void => { clearInterval(timer); resolve(); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
