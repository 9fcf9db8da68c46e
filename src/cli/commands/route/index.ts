/** `trellis route apply|list|delete|check`: traffic routes (docs/traffic-policy.md), one module per verb. */
import type { Command } from 'commander';
import { routeApplyCommand } from './apply.js';
import { routeCheckCommand } from './check.js';
import { routeDeleteCommand } from './delete.js';
import { routeListCommand } from './list.js';

export function routeCommand(program: Command): void {
  const command = program.command('route')
    .description("traffic routes (HTTPRoute-shaped): splits by instance labels, header routing, faults, mirrors, rate limits, per-route timeouts and retries, applied by every caller's sidecar (see docs/traffic-policy.md)");
  for (const add of [routeApplyCommand, routeListCommand, routeDeleteCommand, routeCheckCommand]) add(command);
  for (const verb of command.commands) verb.exitOverride();
}
