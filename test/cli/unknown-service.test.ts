/** An unknown service gets the same answer from instances, routes and stat: exit 1, and the close name. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { killAll, runCli, startServer, tempDir, type ServerProcess } from '../helpers/processes.js';

const dir = tempDir('unknown-service');
let server: ServerProcess;
before(async () => {
  server = await startServer(join(dir.path, 'data'), ['--dns', 'off']);
  const registered = await runCli(['register', 'my-service', '--id', 'my-service-1', '--port', '9100', '--control-plane', server.url]);
  assert.equal(registered.code, 0, registered.stderr);
});
after(() => { killAll(); dir.remove(); });

it('instances, routes and stat answer an unknown service alike, with "did you mean"', async () => {
  const expected = 'trellis: no service "my-servce": no instance is registered and no sidecar reports it: did you mean "my-service"? (see `trellis services`) [TRELLIS_ERR_SERVICE_NOT_FOUND field=service]\n';
  for (const command of [['instances', 'my-servce'], ['routes', 'my-servce'], ['stat', 'my-servce']]) {
    const result = await runCli([...command, '--control-plane', server.url]);
    assert.equal(result.code, 1, `${command.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.equal(result.stderr, expected, command.join(' '));
  }
  // A known service with nothing to show is not an error.
  const known = await runCli(['routes', 'my-service', '--control-plane', server.url]);
  assert.equal(known.code, 0, known.stderr);
  const far = await runCli(['instances', 'payments', '--control-plane', server.url]);
  assert.equal(far.stderr, 'trellis: no service "payments": no instance is registered and no sidecar reports it (see `trellis services`) [TRELLIS_ERR_SERVICE_NOT_FOUND field=service]\n');
});

it('deregister and heartbeat: an unknown service gets the same answer, an unknown id the closest one', async () => {
  const expected = 'trellis: no service "my-servce": no instance is registered and no sidecar reports it: did you mean "my-service"? (see `trellis services`) [TRELLIS_ERR_SERVICE_NOT_FOUND field=service]\n';
  for (const command of [['deregister', 'my-servce', 'my-service-1'], ['heartbeat', 'my-servce', 'my-service-1']]) {
    const result = await runCli([...command, '--control-plane', server.url]);
    assert.equal(result.code, 1, command.join(' '));
    assert.equal(result.stderr, expected, command.join(' '));
  }
  for (const command of [['deregister', 'my-service', 'my-servce-1'], ['heartbeat', 'my-service', 'my-servce-1']]) {
    const result = await runCli([...command, '--control-plane', server.url]);
    assert.equal(result.code, 1, command.join(' '));
    assert.equal(result.stderr, 'trellis: service "my-service" has no instance "my-servce-1": did you mean "my-service-1"? (see `trellis instances my-service`; an instance critical for too long is deregistered) [TRELLIS_ERR_INSTANCE_NOT_FOUND field=id]\n', command.join(' '));
  }
  const gone = await runCli(['deregister', 'my-service', 'my-service-1', '--control-plane', server.url]);
  assert.equal(gone.code, 0, gone.stderr);
});
