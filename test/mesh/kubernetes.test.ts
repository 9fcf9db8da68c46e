/**
 * `trellis up -f`: Kubernetes manifests — the seed's own Deployment and Service, unchanged —
 * become a mesh through the image map; every problem is reported at once in line order, every
 * field without a meaning here is warned about once, and the YAML library never speaks to the user.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isTrellisError } from '../../src/errors.js';
import { parseMeshFile } from '../../src/mesh/load.js';
import { planReplicas } from '../../src/mesh/plan.js';
import { loadMeshSources } from '../../src/mesh/sources.js';
import { appEnvironment } from '../../src/run/app-env.js';
import { CLI, killAll, runCli, tempDir } from '../helpers/processes.js';

const seed = resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples/hello-go');
const dir = tempDir('kubernetes');
const hasSetpriv = ((): boolean => { try { execFileSync('setpriv', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
/** Whether nobody can read the built CLI and the seed's files (not in a checkout under a private directory, such as mktemp -d's). */
const nobodyCanRead = (files: readonly string[]): boolean => {
  try { execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', 'for f; do test -r "$f" || exit 1; done', 'sh', ...files], { stdio: 'ignore' }); return true; } catch { return false; }
};
const children: Array<ReturnType<typeof spawn>> = [];
after(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); killAll(); dir.remove(); });

/** A directory holding the seed's two manifests, unchanged (and the image map when asked). */
function seedCopy(name: string, withImages: boolean): string {
  const at = join(dir.path, name);
  mkdirSync(at);
  for (const file of ['deployment.yaml', 'service.yaml', ...(withImages ? ['trellis-images.yaml'] : [])]) copyFileSync(join(seed, file), join(at, file));
  return at;
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isTrellisError(err), String(err));
    return err.message;
  }
  assert.fail('expected an error');
}

describe('Kubernetes manifests', () => {
  it("translates the seed's Deployment + Service, unchanged, into 3 replicas behind port 80 on the app's port 8080", () => {
    const at = seedCopy('seed', true);
    const source = loadMeshSources([join(at, 'deployment.yaml'), join(at, 'service.yaml')]);
    assert.equal(source.kind, 'kubernetes');
    assert.deepEqual(source.warnings, []);
    assert.deepEqual(source.derived, {
      services: {
        'my-service': {
          replicas: 3, command: ['./my-app'], build: ['go', 'build', '-o', 'my-app', 'main.go'], targetPort: 8080, port: 80, metadata: { app: 'my-app' },
        },
      },
    });
    const service = source.mesh.services['my-service'];
    assert.equal(service?.restart, 'always');
    const plans = planReplicas(source.mesh, { baseDir: at, controlPlane: 'http://127.0.0.1:1', namespaceUnavailable: undefined });
    assert.deepEqual(plans.map((p) => [p.spec.id, p.spec.port, p.network]), [
      ['my-service-1', 8080, 'namespace'], ['my-service-2', 8080, 'namespace'], ['my-service-3', 8080, 'namespace'],
    ]);
  });

  it('without root, three replicas on one fixed port fail with what to do', () => {
    const source = loadMeshSources([join(seed, 'deployment.yaml'), join(seed, 'service.yaml')]);
    assert.equal(messageOf(() => planReplicas(source.mesh, { baseDir: seed, controlPlane: 'http://127.0.0.1:1', namespaceUnavailable: 'creating a network namespace needs root' })),
      '3 replicas of my-service listen on the same fixed port 8080, so each needs a network namespace of its own, and creating a network namespace needs root: run trellis up as root (sudo trellis up …), or let the app take its port from $PORT and remove targetPort (containerPort / the Service\'s targetPort in Kubernetes manifests), or run one replica');
  });

  it('run as a user without root, trellis up says what to do before it starts anything',
    { skip: process.getuid?.() !== 0 || !hasSetpriv ? 'needs root and setpriv (to become nobody)'
      : !nobodyCanRead([CLI, join(seed, 'deployment.yaml'), join(seed, 'service.yaml')]) ? 'nobody cannot read this checkout (it lies under a private directory)' : false }, async () => {
      const result = await new Promise<{ code: number | null; stderr: string }>((done) => {
        const child = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'up', '-f', join(seed, 'deployment.yaml'), '-f', join(seed, 'service.yaml'), '--data-dir', join(dir.path, 'nobody')],
          { stdio: ['ignore', 'ignore', 'pipe'] });
        children.push(child);
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        child.on('close', (code) => done({ code, stderr }));
      });
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr, "trellis: 3 replicas of my-service listen on the same fixed port 8080, so each needs a network namespace of its own, and creating a network namespace needs root: run trellis up as root (sudo trellis up …), or let the app take its port from $PORT and remove targetPort (containerPort / the Service's targetPort in Kubernetes manifests), or run one replica [TRELLIS_ERR_CONFIG field=services.my-service.network]\n");
    });

  it('a missing image mapping names the image and shows the lines to add', async () => {
    const at = seedCopy('no-images', false);
    const result = await runCli(['up', '-f', join(at, 'deployment.yaml'), '-f', join(at, 'service.yaml'), '--explain']);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, `trellis: ${join(at, 'deployment.yaml')}:17: Deployment my-app: no local command for image "my-app-image" — trellis up runs each container as a local command; create ${join(at, 'trellis-images.yaml')} with:
  images:
    "my-app-image": { command: ["./my-app"] }
(or annotate the pod template with trellis.dev/command: "./my-app") [TRELLIS_ERR_CONFIG]
`);
  });

  it('one file with both documents, unsupported fields warned once each, --explain prints the derived mesh', async () => {
    const at = join(dir.path, 'one-file');
    mkdirSync(at);
    const file = join(at, 'app.yaml');
    writeFileSync(file, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    trellis.dev/command: '["${process.execPath}", "server.js"]'
spec:
  replicas: 2
  strategy: { type: RollingUpdate }
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web, tier: front } }
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: web
          image: web:1.0
          resources: { limits: { cpu: "1" } }
          env:
            - { name: GREETING, value: hi }
            - name: SECRET
              valueFrom: { secretKeyRef: { name: s, key: k } }
          readinessProbe:
            httpGet: { path: /healthz, port: 8080 }
            periodSeconds: 2
            failureThreshold: 3
          livenessProbe:
            httpGet: { path: /live, port: 8080 }
            periodSeconds: 5
            failureThreshold: 4
---
apiVersion: v1
kind: Service
metadata: { name: web-svc }
spec:
  selector: { app: web }
  ports:
    - { name: http, port: 8081, targetPort: 8080 }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings }
`);
    const result = await runCli(['up', '-f', file, '--explain']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, [
      `trellis up: warning: ${file}:9: spec.strategy: not supported by trellis up: ignored`,
      `trellis up: warning: ${file}:18: spec.template.spec.containers[0].resources: not supported by trellis up: ignored`,
      `trellis up: warning: ${file}:22: spec.template.spec.containers[0].env[1].valueFrom: SECRET: valueFrom is not supported by trellis up: the variable is left out`,
      `trellis up: warning: ${file}:26: spec.template.spec.containers[0].readinessProbe.failureThreshold: not supported by trellis up: ignored`,
      `trellis up: warning: ${file}:41: kind: v1 ConfigMap is not supported by trellis up (only apps/v1 Deployment and v1 Service): ignored`,
      '',
    ].join('\n'));
    assert.equal(result.stdout, `# The mesh trellis up derived from ${file} (docs/kubernetes.md); 5 warning(s) above
services:
  web-svc:
    replicas: 2
    command: [ ${process.execPath}, server.js ]
    targetPort: 8080
    port: 8081
    health: { interval: 2s, http: /healthz }
    liveness: { interval: 5s, failureThreshold: 4, http: /live }
    env: { GREETING: hi }
    stopGrace: 5s
    metadata: { app: web, tier: front }
# How it runs here:
${process.getuid?.() === 0
    ? `#   web-svc: 2 replica(s) of \`${process.execPath} server.js\`, each in its own network namespace, the app on :8080; exposed at 127.0.0.1:8081; restart: always`
    : '# cannot run here: 2 replicas of web-svc listen on the same fixed port 8080, so each needs a network namespace of its own, and creating a network namespace needs root: run trellis up as root (sudo trellis up …), or let the app take its port from $PORT and remove targetPort (containerPort / the Service\'s targetPort in Kubernetes manifests), or run one replica'}
`);
  });

  it('every problem at once, in file and line order', () => {
    const at = join(dir.path, 'problems');
    mkdirSync(at);
    const deployment = join(at, 'd.yaml');
    const service = join(at, 's.yaml');
    writeFileSync(deployment, `apiVersion: apps/v1
kind: Deployment
metadata: { name: api }
spec:
  selector: { matchLabels: { app: api } }
  template:
    metadata: { labels: { app: apii } }
    spec:
      containers:
        - name: api
          image: api-image
`);
    writeFileSync(service, `apiVersion: v1
kind: Service
metadata: { name: api }
spec:
  selector: { app: nothing }
  ports: [{ port: 80, protocol: UDP }]
`);
    assert.equal(messageOf(() => loadMeshSources([deployment, service])), `4 problems:
  ${deployment}:5: Deployment api: spec.selector.matchLabels app=api does not match the pod template's labels app=apii (Kubernetes refuses it too): make them the same
  ${deployment}:11: Deployment api: no local command for image "api-image" — trellis up runs each container as a local command; create ${join(at, 'trellis-images.yaml')} with:
  images:
    "api-image": { command: ["./api"] }
(or annotate the pod template with trellis.dev/command: "./api")
  ${service}:5: Service api selects app=nothing, but no Deployment's pod template has these labels (Deployments: api (app=apii))
  ${service}:6: Service api: protocol UDP is not supported (TCP only)`);
  });

  it('a Service with several ports: each port a service of its own, <service>-<port name>; a container not run is named once, with what to do', () => {
    const at = join(dir.path, 'multi');
    mkdirSync(at);
    const file = join(at, 'app.yaml');
    const manifests = (secondTarget: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata:
      labels: { app: web }
      annotations: { trellis.dev/command: ./web }
    spec:
      containers:
        - name: web
          image: web:1
          ports: [{ name: http, containerPort: 8080 }, { name: admin, containerPort: 8081 }]
        - name: exporter
          image: exporter:2
          ports: [{ name: metrics, containerPort: 9100 }]
---
apiVersion: v1
kind: Service
metadata: { name: web }
spec:
  selector: { app: web }
  ports:
    - { name: http, port: 80, targetPort: http }
    - { name: admin, port: 81, targetPort: admin }
    - { name: metrics, port: 9100, targetPort: ${secondTarget} }
`;
    writeFileSync(file, manifests('8082').replace('{ name: admin, containerPort: 8081 }]', '{ name: admin, containerPort: 8081 }, { name: debug, containerPort: 8082 }]'));
    const source = loadMeshSources([file]);
    assert.deepEqual(source.warnings, [
      `${file}:15: spec.template.spec.containers[1]: container exporter (image exporter:2, ports: metrics (9100)) is not started: trellis up runs one process per replica, the pod's first container (web); run exporter as a Deployment of its own`,
    ], 'no port is left out any more');
    assert.deepEqual(Object.keys(source.mesh.services), ['web-http'], 'the first port names the service: web-http');
    const web = source.mesh.services['web-http'];
    assert.equal(web?.port, 80);
    assert.equal(web?.targetPort, 8080);
    assert.deepEqual(web?.ports, [
      { service: 'web-admin', targetPort: 8081, port: 81, health: undefined, protocol: undefined }, // the mesh schema's optional fields
      { service: 'web-metrics', targetPort: 8082, port: 9100, health: undefined, protocol: undefined },
    ].map((p) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined))), 'every other port registered as <service>-<port name>, named or numbered targetPort');
    // Every replica registers each port: one instance per port per replica.
    const plans = planReplicas(source.mesh, { baseDir: at, controlPlane: 'http://127.0.0.1:1', namespaceUnavailable: undefined });
    assert.deepEqual(plans.map((p) => [p.spec.id, p.spec.port, (p.spec.ports ?? []).map((x) => `${x.id}:${x.port}`)]), [['web-http-1', 8080, ['web-admin-1:8081', 'web-metrics-1:8082']]]);
    // Kubernetes requires a name on each port of a multi-port Service; so does trellis up (it makes the service names).
    writeFileSync(file, manifests('8082').replace('- { name: admin, port: 81', '- { port: 81'));
    assert.equal(messageOf(() => loadMeshSources([file])),
      `${file}:26: Service web has 3 ports, and each needs a name (Kubernetes requires it too): trellis up registers each as service web-<name>, e.g. name: http`);
    // A port of the container that does not run cannot be a targetPort, by number or by name; a name no container has is a typo.
    writeFileSync(file, manifests('9100'));
    assert.equal(messageOf(() => loadMeshSources([file])),
      `${file}:27: Service web: targetPort 9100 is a port of container exporter, which trellis up does not start (it runs the pod's first container, web): put that container first, or give it a Deployment and Service of its own`);
    writeFileSync(file, manifests('metrics'));
    assert.equal(messageOf(() => loadMeshSources([file])),
      `${file}:27: Service web: targetPort "metrics" is a port of container exporter, which trellis up does not start (it runs the pod's first container, web): put that container first, or give it a Deployment and Service of its own`);
    // Without a Service the app's port is the first containerPort, and the others are named.
    writeFileSync(file, manifests('9100').split('---')[0] ?? '');
    const alone = loadMeshSources([file]);
    assert.equal(alone.mesh.services['web']?.targetPort, 8080);
    assert.ok(alone.warnings.includes(`${file}:14: spec.template.spec.containers[0].ports[1]: no Service selects Deployment web: its app port is the first containerPort (8080); 8081 is not reachable from outside a replica`), alone.warnings.join('\n'));
    writeFileSync(file, manifests('metrix'));
    assert.equal(messageOf(() => loadMeshSources([file])),
      `${file}:27: Service web: targetPort "metrix" names no port of Deployment web's container web (ports: http (8080), admin (8081))`);
  });

  it('a Deployment alone is a service named after it, not exposed', () => {
    const at = seedCopy('alone', true);
    const source = loadMeshSources([join(at, 'deployment.yaml')]);
    assert.deepEqual(Object.keys(source.mesh.services), ['my-app']);
    assert.equal(source.mesh.services['my-app']?.port, undefined);
    assert.equal(source.mesh.services['my-app']?.targetPort, 8080);
  });

  it("a mesh file with two documents says so, without the YAML library's hint", () => {
    const message = messageOf(() => parseMeshFile('services:\n  a:\n    command: [x]\n---\nservices: {}\n', 'mesh.yaml'));
    assert.equal(message, 'mesh.yaml:4: YAML syntax error: Source contains multiple documents: a mesh file is one document; Kubernetes manifests go to trellis up -f FILE…');
    assert.doesNotMatch(message, /parseAllDocuments/);
  });
});

describe('fixed ports in a mesh file', () => {
  it("a user's env.PORT is the app's port, never overridden; a conflicting targetPort is an error", () => {
    const mesh = parseMeshFile('services:\n  a:\n    command: [x]\n    env: { PORT: "9090" }\n', 'mesh.yaml');
    const [plan] = planReplicas(mesh, { baseDir: '/', controlPlane: 'http://127.0.0.1:1', namespaceUnavailable: 'creating a network namespace needs root' });
    assert.equal(plan?.spec.port, 9090);
    assert.equal(plan?.network, 'host');
    assert.equal(messageOf(() => parseMeshFile('services:\n  a:\n    command: [x]\n    targetPort: 8080\n    env: { PORT: "9090" }\n', 'mesh.yaml')),
      'mesh.yaml:5: services.a.env.PORT is 9090 but targetPort is 8080: the app gets one port; keep one of them');
  });

  it('the app environment refuses to replace a PORT the user set', () => {
    const mesh = { service: 'a', id: 'a-1', appPort: 41000, controlPlane: 'http://127.0.0.1:1', outboundPort: 41001, upstreamPorts: new Map<string, number>() };
    assert.equal(appEnvironment({}, { PORT: '41000' }, mesh)['PORT'], '41000');
    assert.equal(messageOf(() => appEnvironment({}, { PORT: '8080' }, mesh)),
      "a-1: env.PORT is 8080 but the app's port is 41000: Trellis never overrides PORT silently — declare targetPort: 8080 (or --port 8080) so the sidecar forwards there, or remove env.PORT");
  });
});
