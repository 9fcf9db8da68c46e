import type { Command } from 'commander';
import { requireKnownService } from '../known-service.js';
import { clientFrom, withClientOptions, type GlobalOptions } from '../options.js';
import { formatTable, print } from '../output.js';
import { formatHostPort } from '../../util/host-port.js';

export function instancesCommand(program: Command): void {
  withClientOptions(program.command('instances').argument('<service>', 'service name')
    .description("list a service's instances")
    .option('--healthy', 'only instances that may receive traffic (passing or warning)'))
    .action(async (service: string, options: GlobalOptions & { healthy?: boolean }) => {
      const client = clientFrom(options);
      const result = await client.instances(service, options.healthy === true);
      if (result.instances.length === 0) await requireKnownService(client, service);
      print(options, result, () => result.instances.length === 0
        ? `no ${options.healthy ? 'healthy ' : ''}instances of ${service}`
        : formatTable(['ID', 'ADDRESS', 'WEIGHT', 'STATUS', 'CHECKS', 'METADATA'],
          result.instances.map((i) => [
            i.id,
            formatHostPort({ host: i.address, port: i.port }),
            i.weight === 0 ? '0 (drained)' : i.weight,
            i.status,
            i.checks.map((c) => `${c.name}:${c.status}`).join(' ') || '-',
            Object.entries(i.metadata).map(([k, v]) => `${k}=${v}`).join(',') || '-',
          ])));
    });
}
