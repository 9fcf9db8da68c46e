#!/usr/bin/env node
/** `trellis` — one module per verb under ./commands. */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { deregisterCommand } from './commands/deregister.js';
import { heartbeatCommand } from './commands/heartbeat.js';
import { instancesCommand } from './commands/instances.js';
import { policyCommand } from './commands/policy/index.js';
import { serviceDefaultsCommand } from './commands/service-defaults/index.js';
import { routeCommand } from './commands/route/index.js';
import { proxyCommand } from './commands/proxy.js';
import { registerCommand } from './commands/register.js';
import { runCommand } from './commands/run.js';
import { serverCommand } from './commands/server.js';
import { servicesCommand } from './commands/services.js';
import { upCommand } from './commands/up.js';
import { watchCommand } from './commands/watch.js';
import { tokenCommand } from './commands/token.js';
import { caCommand } from './commands/ca.js';
import { checkCommand } from './commands/check.js';
import { dashboardCommand } from './commands/dashboard.js';
import { edgesCommand } from './commands/edges.js';
import { statCommand } from './commands/stat.js';
import { routesCommand } from './commands/routes.js';
import { topCommand } from './commands/top.js';
import { xdsCommand } from './commands/xds.js';
import { identityCommand } from './commands/identity.js';
import { tapCommand } from './commands/tap.js';
import { gatewayCommand } from './commands/gateway.js';
import { printError } from './output.js';
import { withTokenHelp } from './options.js';

const program = new Command('trellis')
  .description('Trellis service mesh: discovery on a key-value store, health, load balancing, failover')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

for (const add of [serverCommand, registerCommand, deregisterCommand, heartbeatCommand, servicesCommand, instancesCommand, watchCommand, runCommand, upCommand, proxyCommand,
  policyCommand, serviceDefaultsCommand, routeCommand, tokenCommand, caCommand, checkCommand, statCommand, routesCommand, topCommand, tapCommand, gatewayCommand, edgesCommand, dashboardCommand, xdsCommand, identityCommand]) {
  add(program);
}
for (const command of program.commands) command.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed the message and usage hint.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    printError(withTokenHelp(err), { json: process.argv.includes('--json') });
  }
}
