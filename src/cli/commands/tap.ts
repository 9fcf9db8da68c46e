/**
 * `trellis tap SERVICE [--path PREFIX] [--method M] [--max N] [--json]` — a live, sampled stream
 * of the service's requests as its sidecars see them (Linkerd's `viz tap`): one line per request
 * with direction, method, path, status, latency, caller and its identity, the instance that
 * answered and retries. Never bodies, query strings or header values (docs/observability.md).
 */
import type { Command } from 'commander';
import type { TapMessage } from '../../client/control-plane.js';
import { clientFrom, intArg, withClientOptions, type GlobalOptions } from '../options.js';

interface TapOptions extends GlobalOptions { path?: string; method?: string; max?: number }

function line(m: Extract<TapMessage, { type: 'request' }>): string {
  const time = new Date(m.at).toISOString().slice(11, 23);
  const caller = m.caller === '' ? '-' : m.caller;
  const identity = m.clientId === '' ? '' : ` (${m.clientId})`;
  const error = m.errorCode === '' ? '' : ` error=${m.errorCode}`;
  return `${time} ${m.direction === 'inbound' ? 'in ' : 'out'} ${m.method} ${m.path} ${m.status} ${m.latencyMs.toFixed(1)}ms `
    + `src=${caller}${identity} dst=${m.service} sidecar=${m.instance} endpoint=${m.endpoint ?? '-'} retries=${m.retries}${error}`;
}

export function tapCommand(program: Command): void {
  withClientOptions(program.command('tap')
    .argument('<service>', 'the service whose requests to watch (both what it serves and what it calls)')
    .description('a live, sampled stream of a service\'s requests: method, path, status, latency, caller, endpoint, retries (never bodies or secrets)')
    .option('--path <prefix>', 'only requests whose path starts with this')
    .option('--method <method>', 'only requests with this method (GET, POST…)')
    .option('--max <n>', 'stop after this many requests', intArg('--max', 1, 1_000_000)))
    .action(async (service: string, options: TapOptions) => {
      const controller = new AbortController();
      process.once('SIGINT', () => controller.abort());
      process.once('SIGTERM', () => controller.abort());
      let seen = 0;
      await clientFrom(options).tap({
        service,
        ...(options.path === undefined ? {} : { path: options.path }),
        ...(options.method === undefined ? {} : { method: options.method }),
        signal: controller.signal,
      }, (message) => {
        if (message.type === 'armed') {
          if (options.json) process.stdout.write(`${JSON.stringify(message)}\n`);
          else process.stderr.write(`tapping ${service}: ${message.sidecars} sidecar(s)\n`);
          return;
        }
        process.stdout.write(options.json ? `${JSON.stringify(message)}\n` : `${line(message)}\n`);
        seen += 1;
        if (options.max !== undefined && seen >= options.max) controller.abort();
      });
    });
}
