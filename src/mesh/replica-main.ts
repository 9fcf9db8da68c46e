/**
 * One replica of `trellis up`, in its own process: the `trellis run` logic (app + sidecar)
 * driven over IPC. It stops (drain, then the app) on SIGTERM/SIGINT or when `up` goes away,
 * and exits with the app's exit code.
 */
import { messageOf } from '../errors.js';
import { startInstance } from '../run/run-instance.js';
import { stderrLogger } from '../run/stderr-logger.js';
import { isToReplica, type FromReplica } from './replica-protocol.js';

const stop = new AbortController();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
process.once('disconnect', () => stop.abort());
// With `up` gone, writes to its pipes fail (EPIPE): that must not end this process before
// it has stopped its app.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

/** Resolves once the message is handed to the channel (or at once when `up` is gone). */
function send(message: FromReplica): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || process.send === undefined) { resolve(); return; }
    process.send(message, undefined, {}, () => resolve());
  });
}

process.once('message', (message: unknown) => {
  if (!isToReplica(message)) {
    void send({ type: 'failed', message: 'replica: unexpected first message' }).then(() => process.exit(2));
    return;
  }
  const { spec, logLevel } = message;
  startInstance(spec, {
    inheritedEnv: process.env,
    output: { stdout: process.stdout, stderr: process.stderr, prefix: `[${spec.id}] ` },
    logger: stderrLogger(logLevel, `trellis-run:${spec.id}`),
    signal: stop.signal,
  }).then(async (instance) => {
    if (!instance.ready) {
      await send({ type: 'failed', message: instance.message });
      process.exit(instance.exitCode);
    }
    await send({ type: 'ready', info: instance.info });
    process.exit(await instance.finished);
  }, async (err: unknown) => {
    await send({ type: 'failed', message: messageOf(err) });
    process.exit(1);
  });
});
