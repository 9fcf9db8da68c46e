/** `trellis policy apply|list|delete|check`: authorization policies, one module per verb. */
import type { Command } from 'commander';
import { policyApplyCommand } from './apply.js';
import { policyCheckCommand } from './check.js';
import { policyDeleteCommand } from './delete.js';
import { policyListCommand } from './list.js';

export function policyCommand(program: Command): void {
  const policy = program.command('policy').description('authorization policies: who may call whom (see docs/security.md)');
  for (const add of [policyApplyCommand, policyListCommand, policyDeleteCommand, policyCheckCommand]) add(policy);
  for (const command of policy.commands) command.exitOverride();
}
