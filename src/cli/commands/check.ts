/**
 * `trellis check`: one line per check, like `linkerd check`; exit 1 when any fails. The CLI
 * checks that the control plane answers and that its own clock agrees; the control plane
 * checks its store and every sidecar (/v1/check).
 */
import type { Command } from 'commander';
import { messageOf } from '../../errors.js';
import type { CheckResult } from '../../telemetry/aggregate.js';
import { clientFrom, withClientOptions, withTokenHelp, type GlobalOptions } from '../options.js';

const MAX_CLI_SKEW_MS = 5_000;

/** `ok   name: message` or `FAIL name: message`: plain ASCII, readable on any terminal and in a log. */
function line(result: CheckResult): string {
  return `${result.ok ? 'ok  ' : 'FAIL'} ${result.name}: ${result.message}`;
}

/** The last line: how many checks passed, or which failed. */
export function verdict(results: readonly CheckResult[]): string {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return `all ${results.length} checks passed`;
  return `${failed.length} of ${results.length} checks failed: ${failed.map((r) => r.name).join(', ')}`;
}

export function checkCommand(program: Command): void {
  withClientOptions(program.command('check')
    .description('check the mesh: control plane reachable, store writable, sidecars connected and in sync, clock skew, certificates'))
    .action(async (options: GlobalOptions) => {
      const client = clientFrom(options);
      const results: CheckResult[] = [];
      const started = Date.now();
      try {
        const status = await client.status();
        results.push({ name: 'control plane reachable', ok: true, message: `${client.baseUrl} answered in ${Date.now() - started} ms (trellis ${status.version}, store at revision ${status.revision})` });
        const remote = await client.check();
        results.push(...remote.checks);
        const skew = Math.abs(remote.time - Date.now());
        results.push(skew <= MAX_CLI_SKEW_MS
          ? { name: 'clock skew (this machine)', ok: true, message: `within ${skew} ms of the control plane` }
          : { name: 'clock skew (this machine)', ok: false, message: `this machine's clock is ${Math.round(skew / 1000)} s off the control plane's: sync it with NTP` });
      } catch (err) {
        results.push({ name: 'control plane reachable', ok: false, message: messageOf(withTokenHelp(err)) });
      }
      const ok = results.every((r) => r.ok);
      if (options.json) process.stdout.write(`${JSON.stringify({ ok, checks: results }, null, 2)}\n`);
      else process.stdout.write(`${results.map(line).join('\n')}\n\n${verdict(results)}\n`);
      process.exitCode = ok ? 0 : 1;
    });
}
