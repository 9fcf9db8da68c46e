/** Mesh file errors name the field and the line; good files come out with their defaults. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseMeshFile } from '../../src/mesh/load.js';
import { planReplicas } from '../../src/mesh/plan.js';
import { isTrellisError } from '../../src/errors.js';
import { killAll, runCli, tempDir } from '../helpers/processes.js';

const dir = tempDir('mesh-file');
after(() => { killAll(); dir.remove(); });

const ok = `services:
  my-service:
    replicas: 3
    command: ["node", "server.js"]
    health: { http: /healthz, interval: 1s }
    loadBalancer: round-robin
  caller:
    command: [node, caller.js]
    upstreams: [my-service]
`;

/** [what, file text, expected message (after "mesh.yaml:")]. */
const bad: Array<[string, string, string]> = [
  ['replicas not whole', 'services:\n  my-service:\n    command: [x]\n    replicas: 2.5\n',
    '4: services.my-service.replicas must be a whole number between 1 and 100'],
  ['replicas too many', 'services:\n  my-service:\n    command: [x]\n    replicas: 101\n',
    '4: services.my-service.replicas must be a whole number between 1 and 100'],
  ['replicas a string', 'services:\n  my-service:\n    command: [x]\n    replicas: three\n',
    '4: services.my-service.replicas must be a number'],
  ['unknown field', 'services:\n  my-service:\n    command: [x]\n    replica: 3\n',
    '4: services.my-service.replica: unknown field "replica"'],
  ['command missing', 'services:\n  my-service:\n    replicas: 3\n',
    '2: services.my-service.command is required'],
  ['command empty', 'services:\n  my-service:\n    command: []\n',
    '3: services.my-service.command must name a program'],
  ['undeclared upstream', `${ok}    # more\n  other:\n    command: [x]\n    upstreams:\n      - my-service\n      - payments\n`,
    '15: services.other.upstreams.1: upstream "payments" is not a service declared in this file'],
  ['upstream port not a number', 'services:\n  a:\n    command: [x]\n    upstreams:\n      - service: a\n        port: http\n',
    '6: services.a.upstreams.0.port must be a number'],
  ['fixed upstream port with replicas', 'services:\n  a:\n    command: [x]\n  b:\n    replicas: 2\n    command: [x]\n    upstreams: [{ service: a, port: 9191 }]\n',
    '7: services.b.upstreams.0.port: a fixed local port cannot be shared by 2 replicas'],
  ['bad upstream protocol', 'services:\n  a:\n    command: [x]\n    upstreams:\n      - service: a\n        protocol: udp\n',
    '6: services.a.upstreams.0.protocol must be "http", "http2", "grpc" or "tcp"'],
  ['bad upstream policy', 'services:\n  a:\n    command: [x]\n    upstreams:\n      - service: a\n        retry: { maxAttempts: 0 }\n',
    '6: services.a.upstreams.0.retry.maxAttempts must be a whole number between 1 and 10'],
  ['unknown upstream field', 'services:\n  a:\n    command: [x]\n    upstreams:\n      - service: a\n        retries: 3\n',
    '6: services.a.upstreams.0.retries: unknown field "retries"'],
  ['unknown balancer', 'services:\n  a:\n    command: [x]\n    loadBalancer: fastest\n',
    '4: services.a.loadBalancer.strategy: unknown load-balancing strategy "fastest"'],
  ['bad balancer config', 'services:\n  a:\n    command: [x]\n    loadBalancer:\n      strategy: least-request\n      config: { choiceCount: 1 }\n',
    '6: services.a.loadBalancer.config.choiceCount must be a whole number'],
  ['bad health path', 'services:\n  a:\n    command: [x]\n    health:\n      http: healthz\n',
    '5: services.a.health.http must be a path starting with "/"'],
  ['bad interval', 'services:\n  a:\n    command: [x]\n    health: { http: /healthz, interval: often }\n',
    '4: services.a.health.interval must be a duration'],
  ['bad service name', 'services:\n  a:\n    command: [x]\n  My_Service:\n    command: [x]\n',
    "4: services.My_Service: service name must be a DNS label"],
  ['exposed port twice', 'services:\n  a:\n    command: [x]\n    port: 8080\n  b:\n    command: [x]\n    port: 8080\n',
    '7: services.b.port: 8080 is already the port of a'],
  ['exposed port out of range', 'services:\n  a:\n    command: [x]\n    port: 70000\n',
    '4: services.a.port must be a whole number between 1 and 65535'],
  ['metadata not a string', 'services:\n  a:\n    command: [x]\n    metadata:\n      zone: a\n      rack: 3\n',
    '6: services.a.metadata.rack: values must be strings'],
  ['bad control plane address', 'controlPlane:\n  listen: localhost\nservices:\n  a:\n    command: [x]\n',
    '2: controlPlane.listen must be HOST:PORT'],
  ['route without a path', 'services:\n  a:\n    command: [x]\n    routes:\n      - { name: get-order, method: GET }\n',
    '5: services.a.routes.0.path is required'],
  ['route named twice', 'services:\n  a:\n    command: [x]\n    routes:\n      - { name: orders, path: /orders }\n      - { name: orders, path: /o/ }\n',
    '6: services.a.routes.1.name: route "orders" is declared twice'],
  ['no services', 'controlPlane: {}\n', '1: services is required'],
  ['empty services', 'services: {}\n', '1: services must declare at least one service'],
  ['empty file', '', '1: the mesh file is empty'],
  ['not a map', '- a\n- b\n', '1: a mesh file must be a map'],
  ['YAML syntax', 'services:\n  a:\n    command: [x\n', '3: YAML syntax error'],
  ['duplicate key', 'services:\n  a:\n    command: [x]\n  a:\n    command: [y]\n', '4: YAML syntax error: Map keys must be unique'],
];

describe('mesh file errors name the field and the line', () => {
  for (const [what, text, expected] of bad) {
    it(what, () => {
      assert.throws(() => parseMeshFile(text, 'mesh.yaml'), (err: unknown) => {
        assert.ok(isTrellisError(err), String(err));
        assert.equal(err.code, 'TRELLIS_ERR_CONFIG');
        assert.ok(err.message.startsWith(`mesh.yaml:${expected}`), `expected "mesh.yaml:${expected}…", got "${err.message}"`);
        return true;
      });
    });
  }
});

it('a good file gets defaults and a start order with upstreams first', () => {
  const mesh = parseMeshFile(ok, 'mesh.yaml');
  assert.equal(mesh.services['caller']?.replicas, 1);
  const plans = planReplicas(mesh, { baseDir: '/srv', controlPlane: 'http://127.0.0.1:1' });
  assert.deepEqual(plans.map((p) => p.spec.id), ['my-service-1', 'my-service-2', 'my-service-3', 'caller-1']);
  const caller = plans[3]?.spec;
  assert.deepEqual(caller?.upstreams, [{ service: 'my-service', policy: { loadBalancer: 'round-robin' } }]);
  assert.equal(caller?.cwd, '/srv');
  assert.equal(plans[0]?.spec.healthPath, '/healthz');
  assert.equal(plans[0]?.spec.healthIntervalMs, 1000);
});

it('a service\'s routes reach its replicas (inbound) and its callers\' upstream entry (outbound)', () => {
  const routed = ok.replace('    loadBalancer: round-robin\n', '    loadBalancer: round-robin\n    routes: [{ name: hello, method: GET, path: / }]\n');
  const plans = planReplicas(parseMeshFile(routed, 'mesh.yaml'), { baseDir: '/srv', controlPlane: 'http://127.0.0.1:1' });
  const hello = [{ name: 'hello', method: 'GET', path: '/' }];
  assert.deepEqual(plans[0]?.spec.routes, hello);
  assert.deepEqual(plans[3]?.spec.upstreams, [{ service: 'my-service', policy: { loadBalancer: 'round-robin', routes: hello } }]);
  assert.equal(plans[3]?.spec.routes, undefined);
});

it('trellis up prints the error with file and line and exits 1', async () => {
  const file = join(dir.path, 'mesh.yaml');
  writeFileSync(file, 'services:\n  my-service:\n    command: [x]\n    replicas: 0\n');
  const result = await runCli(['up', file]);
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, /mesh\.yaml:4: services\.my-service\.replicas must be a whole number between 1 and 100 \[TRELLIS_ERR_CONFIG field=services\.my-service\.replicas\]/);
});

it('a misspelt upstream is reported with a wrong-typed field, not on the next run', () => {
  const text = 'services:\n  web:\n    command: node\n    upstreams: [apii, { service: ap }]\n  api:\n    command: [x]\n';
  assert.throws(() => parseMeshFile(text, 'mesh.yaml'), (err: unknown) => {
    assert.ok(isTrellisError(err), String(err));
    assert.equal(err.message, [
      'mesh.yaml:3: services.web.command must be a list such as ["node", "server.js"]',
      'mesh.yaml:4: services.web.upstreams.0: upstream "apii" is not a service declared in this file (declared: web, api): did you mean "api"?',
      'mesh.yaml:4: services.web.upstreams.1: upstream "ap" is not a service declared in this file (declared: web, api): did you mean "api"?',
    ].join('\n'));
    return true;
  });
});

it('every mesh-file error at once, in line order, with the closest field or service suggested', () => {
  const text = 'services:\n  web:\n    command: [x]\n    upstreams: [api]\n    replica: 3\n  apii:\n    command: [x]\n    helth: { http: /healthz }\n    port: 70000\n';
  assert.throws(() => parseMeshFile(text, 'mesh.yaml'), (err: unknown) => {
    assert.ok(isTrellisError(err), String(err));
    assert.equal(err.message, [
      'mesh.yaml:4: services.web.upstreams.0: upstream "api" is not a service declared in this file (declared: web, apii): did you mean "apii"?',
      'mesh.yaml:5: services.web.replica: unknown field "replica": did you mean "replicas"? (see docs/mesh-file.md)',
      'mesh.yaml:8: services.apii.helth: unknown field "helth": did you mean "health"? (see docs/mesh-file.md)',
      'mesh.yaml:9: services.apii.port must be a whole number between 1 and 65535',
    ].join('\n'));
    return true;
  });
});
