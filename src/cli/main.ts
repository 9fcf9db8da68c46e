#!/usr/bin/env node
/**
 * `trellis` — one module per verb under ./commands, each loaded only when it runs: a
 * sidecar (`trellis proxy`, `trellis run`) imports its own command and nothing of the other
 * verbs (their clients, schemas and formatters: ≈ 5 MB of a sidecar's memory, BENCHMARKS.md).
 * Help, an unknown verb or an option before the verb load them all, in this order.
 */
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { printError } from './output.js';
import { withTokenHelp } from './options.js';

type AddCommand = (program: Command) => void;

/** verb → its module's `add` function, in the order `trellis --help` lists them. */
const VERBS: Readonly<Record<string, () => Promise<AddCommand>>> = {
  server: async () => (await import('./commands/server.js')).serverCommand,
  register: async () => (await import('./commands/register.js')).registerCommand,
  deregister: async () => (await import('./commands/deregister.js')).deregisterCommand,
  heartbeat: async () => (await import('./commands/heartbeat.js')).heartbeatCommand,
  services: async () => (await import('./commands/services.js')).servicesCommand,
  instances: async () => (await import('./commands/instances.js')).instancesCommand,
  watch: async () => (await import('./commands/watch.js')).watchCommand,
  run: async () => (await import('./commands/run.js')).runCommand,
  up: async () => (await import('./commands/up.js')).upCommand,
  proxy: async () => (await import('./commands/proxy.js')).proxyCommand,
  policy: async () => (await import('./commands/policy/index.js')).policyCommand,
  'service-defaults': async () => (await import('./commands/service-defaults/index.js')).serviceDefaultsCommand,
  route: async () => (await import('./commands/route/index.js')).routeCommand,
  token: async () => (await import('./commands/token.js')).tokenCommand,
  ca: async () => (await import('./commands/ca.js')).caCommand,
  check: async () => (await import('./commands/check.js')).checkCommand,
  stat: async () => (await import('./commands/stat.js')).statCommand,
  routes: async () => (await import('./commands/routes.js')).routesCommand,
  top: async () => (await import('./commands/top.js')).topCommand,
  tap: async () => (await import('./commands/tap.js')).tapCommand,
  gateway: async () => (await import('./commands/gateway.js')).gatewayCommand,
  edges: async () => (await import('./commands/edges.js')).edgesCommand,
  dashboard: async () => (await import('./commands/dashboard.js')).dashboardCommand,
  xds: async () => (await import('./commands/xds.js')).xdsCommand,
  identity: async () => (await import('./commands/identity.js')).identityCommand,
};

/** The verbs to load: the one named first on the command line, or every one. */
function verbsFor(argv: readonly string[]): ReadonlyArray<() => Promise<AddCommand>> {
  const verb = argv[2];
  return verb !== undefined && Object.hasOwn(VERBS, verb) ? [VERBS[verb]] : Object.values(VERBS);
}

const program = new Command('trellis')
  .description('Trellis service mesh: discovery on a key-value store, health, load balancing, failover')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

try {
  for (const add of await Promise.all(verbsFor(process.argv).map((load) => load()))) add(program);
  for (const command of program.commands) command.exitOverride();
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed the message and usage hint.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    printError(withTokenHelp(err), { json: process.argv.includes('--json') });
  }
}
