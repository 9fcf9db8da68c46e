/** `make bench`: every benchmark, each against its reference in the same run. */
import { cpus } from 'node:os';
import { authzBench } from './authz.js';
import { balancerBench } from './balancer.js';
import { dataplaneBench } from './dataplane.js';
import { observabilityBench } from './observability.js';
import { pipelineBench } from './pipeline.js';
import { registryBench } from './registry.js';
import { securityBench } from './security.js';
import { registryEtcdBench } from './registry-etcd.js';

process.stdout.write(`Trellis benchmarks — ${new Date().toISOString()} — node ${process.version} — ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}\n\n`);
process.stdout.write('## Registry (issue 2)\n');
await registryBench();
process.stdout.write('\n## Registry on etcd vs embedded (issue 6)\n');
await registryEtcdBench();
process.stdout.write('\n## Data plane (issue 3)\n');
await dataplaneBench();
process.stdout.write('\n## Data plane: Trellis\'s own per-request cost, no sockets (issue 3)\n');
await pipelineBench();
process.stdout.write('\n## Observability (issue 5)\n');
await observabilityBench();
process.stdout.write('\n## Load-balancer picks (issue 3)\n');
balancerBench();
process.stdout.write('\n## Authorization decisions (issue 4)\n');
authzBench();
process.stdout.write('\n## Security: the cost of mutual TLS (issue 4)\n');
await securityBench();
