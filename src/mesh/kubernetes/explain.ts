/**
 * `trellis up --explain`: the mesh `up` would run, as a mesh file (so it can be saved and
 * edited), followed by one line per service saying how its replicas run here.
 */
import { Document, isScalar, visit } from 'yaml';
import { fixedPortOf, planReplicas } from '../plan.js';
import type { MeshSource } from '../sources.js';

function networkLine(source: MeshSource): string[] {
  let plans;
  try {
    plans = planReplicas(source.mesh, { baseDir: source.baseDir, controlPlane: 'http://127.0.0.1:7700' });
  } catch (err) {
    return [`# cannot run here: ${err instanceof Error ? err.message : String(err)}`];
  }
  return Object.entries(source.mesh.services).map(([name, service]) => {
    const plan = plans.find((p) => p.service === name);
    const port = fixedPortOf(service);
    const where = plan?.network === 'namespace'
      ? `each in its own network namespace, the app on :${port ?? '$PORT'}`
      : `on the host, the app on ${port === undefined ? 'a free port in $PORT' : `127.0.0.1:${port}`}`;
    const exposed = service.port === undefined ? 'not exposed' : `exposed at 127.0.0.1:${service.port}`;
    return `#   ${name}: ${service.replicas} replica(s) of \`${service.command.join(' ')}\`, ${where}; ${exposed}; restart: ${service.restart}`;
  });
}

/** YAML with lists on one line (`command: [./my-app]`), as mesh files are written. */
function toYaml(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Seq(_key, node) { node.flow = true; },
    // Small maps inside a service (health, env, metadata) on one line too.
    Map(_key, node, path) { if (path.length > 4 && node.items.every((pair) => isScalar(pair.value))) node.flow = true; },
  });
  return doc.toString();
}

export function explainMesh(source: MeshSource): string {
  const header = source.kind === 'kubernetes'
    ? `# The mesh trellis up derived from ${source.label} (docs/kubernetes.md)${source.warnings.length === 0 ? '' : `; ${source.warnings.length} warning(s) above`}`
    : `# The mesh in ${source.label}, with its defaults`;
  return [header, toYaml(source.derived ?? source.mesh).trimEnd(), '# How it runs here:', ...networkLine(source)].join('\n');
}
