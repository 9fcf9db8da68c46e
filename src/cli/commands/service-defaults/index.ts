/** `trellis service-defaults apply|list|get|delete`: per-service resilience defaults, one module per verb. */
import type { Command } from 'commander';
import { serviceDefaultsApplyCommand } from './apply.js';
import { serviceDefaultsDeleteCommand } from './delete.js';
import { serviceDefaultsGetCommand } from './get.js';
import { serviceDefaultsListCommand } from './list.js';

export function serviceDefaultsCommand(program: Command): void {
  const command = program.command('service-defaults')
    .description("per-service timeouts, retries, circuit breaker, outlier detection and load balancer, for every caller's sidecar (see docs/proxy.md)");
  for (const add of [serviceDefaultsApplyCommand, serviceDefaultsListCommand, serviceDefaultsGetCommand, serviceDefaultsDeleteCommand]) add(command);
  for (const verb of command.commands) verb.exitOverride();
}
