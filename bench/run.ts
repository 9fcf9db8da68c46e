/** `make bench`: every benchmark, each against its reference in the same run. */
import { cpus } from 'node:os';
import { balancerBench } from './balancer.js';
import { dataplaneBench } from './dataplane.js';
import { observabilityBench } from './observability.js';
import { registryBench } from './registry.js';

process.stdout.write(`Trellis benchmarks — ${new Date().toISOString()} — node ${process.version} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}\n\n`);
process.stdout.write('## Registry (issue 2)\n');
await registryBench();
process.stdout.write('\n## Data plane (issue 3)\n');
await dataplaneBench();
process.stdout.write('\n## Observability (issue 5)\n');
await observabilityBench();
process.stdout.write('\n## Load-balancer picks (issue 3)\n');
balancerBench();
