/** `trellis ca status|rotate` — the mesh's certificate authority. */
import type { Command } from 'commander';
import type { CaStatus } from '../../security/ca/authority.js';
import { formatDuration } from '../../util/duration.js';
import { clientFrom, withClientOptions, type GlobalOptions } from '../options.js';
import { formatTable, print } from '../output.js';

function rootsTable(status: CaStatus): string {
  return `trust domain ${status.trustDomain}, certificates live at most ${formatDuration(status.maxLifetimeMs)}\n${formatTable(['ROOT', 'STATE', 'SIGNS FROM', 'RETIRES', 'FINGERPRINT (SHA-256)'],
    status.roots.map((r) => [r.id, r.state, r.signingFrom, r.retireAt ?? '-', r.fingerprint.slice(0, 16)]))}`;
}

export function caCommand(program: Command): void {
  const ca = program.command('ca').description("the mesh's certificate authority: roots and rotation");

  withClientOptions(ca.command('status').description('roots (active, pending, retiring), certificates issued and requests refused'))
    .action(async (options: GlobalOptions) => {
      const status = await clientFrom(options).caStatus();
      const refused = Object.entries(status.refused).map(([code, n]) => `${code}=${n}`).join(' ') || 'none';
      print(options, status, () => `${rootsTable(status)}\nissued ${status.issued}, renewed ${status.renewed}, refused: ${refused}`);
    });

  withClientOptions(ca.command('rotate').description('add a new root: trusted now, signing after one certificate lifetime, the old root retired one lifetime later'))
    .action(async (options: GlobalOptions) => {
      const status = await clientFrom(options).rotateCa();
      print(options, status, () => `rotation started\n${rootsTable(status)}`);
    });
}
