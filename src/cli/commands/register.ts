import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { clientFrom, collectLabel, durationArg, intArg, withClientOptions, type GlobalOptions } from '../options.js';
import { print } from '../output.js';

interface RegisterOptions extends GlobalOptions {
  id?: string;
  address: string;
  port: number;
  weight?: number;
  meta?: Record<string, string>;
  ttl?: string;
  deregisterAfter?: string;
  httpCheck?: string;
  tcpCheck?: boolean;
  checkInterval?: string;
  checkTimeout?: string;
  failuresBeforeCritical?: number;
  successesBeforePassing?: number;
}

export function registerCommand(program: Command): void {
  withClientOptions(program.command('register').argument('<service>', 'service name (a DNS label)')
    .description('register (or re-register) an instance of a service')
    .option('--id <id>', 'instance id (default: <service>-<random>)')
    .option('--address <address>', 'IP address or hostname the instance listens on', '127.0.0.1')
    .requiredOption('--port <port>', 'port the instance listens on', intArg('--port', 1, 65535))
    .option('--weight <weight>', 'load-balancing weight, 0 = drained (default 1)', intArg('--weight', 0, 65535))
    .option('--meta <key=value>', 'a metadata label, repeatable (version=v2, zone=a)', collectLabel)
    .option('--ttl <duration>', 'heartbeat TTL: critical when no heartbeat arrives within it', durationArg('--ttl'))
    .option('--deregister-after <duration>', 'deregister after being critical this long (default 1m)', durationArg('--deregister-after'))
    .option('--http-check <path>', 'an active HTTP check on this path (2xx passing, 429 warning)')
    .option('--tcp-check', 'an active TCP connect check')
    .option('--check-interval <duration>', 'interval of the active checks (default 10s)', durationArg('--check-interval'))
    .option('--check-timeout <duration>', 'timeout of the active checks (default 5s)', durationArg('--check-timeout'))
    .option('--failures-before-critical <n>', 'consecutive failures before critical', intArg('--failures-before-critical', 1, 100))
    .option('--successes-before-passing <n>', 'consecutive successes before passing', intArg('--successes-before-passing', 1, 100)))
    .action(async (service: string, options: RegisterOptions) => {
      const id = options.id ?? `${service}-${randomBytes(3).toString('hex')}`;
      const common = {
        ...(options.checkInterval === undefined ? {} : { interval: options.checkInterval }),
        ...(options.checkTimeout === undefined ? {} : { timeout: options.checkTimeout }),
        ...(options.failuresBeforeCritical === undefined ? {} : { failuresBeforeCritical: options.failuresBeforeCritical }),
        ...(options.successesBeforePassing === undefined ? {} : { successesBeforePassing: options.successesBeforePassing }),
      };
      const checks = [
        ...(options.httpCheck === undefined ? [] : [{ type: 'http', path: options.httpCheck, ...common }]),
        ...(options.tcpCheck ? [{ type: 'tcp', ...common }] : []),
      ];
      const body = {
        address: options.address,
        port: options.port,
        ...(options.weight === undefined ? {} : { weight: options.weight }),
        ...(options.meta === undefined ? {} : { metadata: options.meta }),
        ...(options.ttl === undefined ? {} : { ttl: options.ttl }),
        ...(options.deregisterAfter === undefined ? {} : { deregisterCriticalAfter: options.deregisterAfter }),
        ...(checks.length === 0 ? {} : { checks }),
      };
      const result = await clientFrom(options).register(service, id, body);
      print(options, result, () => `registered ${service}/${result.instance.id} at ${result.instance.address}:${result.instance.port} — ${result.instance.status} (revision ${result.revision})`);
    });
}
