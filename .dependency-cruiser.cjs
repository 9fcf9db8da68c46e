/**
 * The import boundaries of src/ (run by `make lint`, and so by `make test`). The layers,
 * lowest first, and why each sits where it does, are in docs/architecture.md ("Layers").
 *
 * A folder may import from folders of a lower layer only: never from its own layer's other
 * folders (peers stay independent) nor from a higher one. So there can be no cycle between
 * the folders of src/, and nothing but the CLI imports src/cli. Type-only imports count
 * (tsPreCompilationDeps): a type is as much a dependency as a value.
 *
 * A new folder under src/ must be given a layer here, or its first import fails the check.
 */
'use strict';

/** Lowest first. Each entry: a layer's units, as folder names (or root files, `errors.ts`). */
const LAYERS = [
  ['core', 'errors.ts', 'version.ts', 'config'], // shared types and the clock; errors; env (read in one place)
  ['util'], // small helpers: durations, host:port, validation, YAML files, follow, throttled log, tables
  ['store'], // the KvStore interface and its backends
  ['registry'], // services and instances on the store
  ['health', 'dns'], // readers of the registry: health checks and TTLs, the DNS server
  ['balancer', 'security', 'telemetry'], // strategies; CA, tokens, authz, mTLS; metrics and reports
  ['client'], // the control plane's HTTP client (wire types from the layers below)
  ['proxy'], // the data plane: listeners, protocols, the pipeline of layers
  ['agent'], // the sidecar's control-plane side (client, registration, snapshots)
  ['run', 'control-plane', 'library'], // an app with its sidecar; the control plane's composition; the mesh in an app's process (trellis-mesh/client)
  ['mesh', 'gateway'], // `trellis up`: a control plane and every replica; `trellis gateway`: the edge
  ['cli'], // the commands
];

const unitPath = (unit) => (unit.endsWith('.ts') ? `src/${unit.replace('.', '\\.')}$` : `src/${unit}/`);
const anyOf = (units) => `^(${units.map(unitPath).join('|')})`;
const allUnits = LAYERS.flat();

const layerRules = LAYERS.flatMap((layer, rank) => layer.flatMap((unit) => {
  const notBelow = LAYERS.slice(rank).flat().filter((other) => other !== unit);
  return notBelow.length === 0 ? [] : [{
    name: `layer-${unit.replace('.ts', '')}`,
    comment: `${unit} (layer ${rank}) may import only from the layers below it: ${LAYERS.slice(0, rank).flat().join(', ') || 'nothing'} (see docs/architecture.md, "Layers")`,
    severity: 'error',
    from: { path: `^${unitPath(unit)}` },
    to: { path: anyOf(notBelow) },
  }];
}));

module.exports = {
  forbidden: [
    {
      name: 'no-import-of-cli',
      comment: 'Only src/cli may import src/cli: the CLI is the top of the tree (the control-plane client is src/client)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-folder-cycle',
      comment: 'No cycle between the folders of src/ (e.g. proxy → security → proxy): move the shared part down, to src/core or src/util',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/[^/]+$' },
      to: { circular: true, path: '^src/[^/]+$' },
    },
    {
      name: 'layer-unknown-folder',
      comment: 'Every folder of src/ has a layer: add a new one to LAYERS in .dependency-cruiser.cjs and to docs/architecture.md',
      severity: 'error',
      from: { path: '^src/', pathNot: anyOf(allUnits) },
      to: {},
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
    cache: false,
  },
};
