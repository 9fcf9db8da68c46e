import type { Command } from 'commander';
import { clientFrom, intArg, withClientOptions, type GlobalOptions } from '../options.js';

export function watchCommand(program: Command): void {
  withClientOptions(program.command('watch')
    .description('stream registry changes (registrations, health changes, deregistrations)')
    .option('--service <service>', 'only this service')
    .option('--after <revision>', 'replay every change after this revision first', intArg('--after', 0, Number.MAX_SAFE_INTEGER)))
    .action(async (options: GlobalOptions & { service?: string; after?: number }) => {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      process.once('SIGTERM', () => controller.abort());
      await clientFrom(options).watch({
        ...(options.service === undefined ? {} : { service: options.service }),
        ...(options.after === undefined ? {} : { after: options.after }),
        signal: controller.signal,
      }, (event) => {
        if (options.json) {
          process.stdout.write(`${JSON.stringify(event)}\n`);
        } else {
          const status = event.statusChanged ? ` ${event.previousStatus} → ${event.instance.status}` : ` ${event.instance.status}`;
          process.stdout.write(`${event.revision}\t${event.type}\t${event.service}/${event.id}${status}\n`);
        }
      });
    });
}
