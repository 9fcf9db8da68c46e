import { basename, dirname, extname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { describeMeshEvent } from '../../mesh/progress.js';
import { formatSummary, summarize } from '../../mesh/summary.js';
import { stderrLogger } from '../../run/stderr-logger.js';
import { parseHostPort } from '../../util/host-port.js';

interface UpOptions {
  file?: string[];
  images?: string;
  explain?: boolean;
  anyPort?: boolean;
  dataDir?: string;
  listen?: string;
  dns?: string;
  logLevel: string;
  json?: boolean;
}

export function upCommand(program: Command): void {
  program.command('up').argument('[file]', 'mesh file (YAML), see docs/mesh-file.md')
    .description('run a whole mesh from one file (or Kubernetes manifests with -f): a control plane and every replica with its sidecar, until Ctrl-C')
    .option('-f, --file <files...>', 'Kubernetes manifests (apps/v1 Deployment, v1 Service; several documents per file; repeatable), see docs/kubernetes.md')
    .option('--images <file>', 'the image map: what each container image runs here (default: trellis-images.yaml next to the first manifest)')
    .option('--explain', 'print the mesh derived from the files (and the warnings), then exit without running anything')
    .option('--any-port', 'expose each service on a free port instead of its declared one (the summary says where)')
    .option('--data-dir <dir>', "the control plane's data (default: .trellis/<file name> next to the file)")
    .option('--listen <host:port>', "the control plane's API address (overrides controlPlane.listen; default 127.0.0.1:7700)")
    .option('--dns <host:port|off>', "the control plane's DNS address (overrides controlPlane.dns; default 127.0.0.1:7753)")
    .option('--log-level <level>', 'log level of the control plane and sidecars (JSON lines on stderr)', 'warn')
    .option('--json', 'print progress and the summary as JSON lines (replica output goes to stderr)')
    .action(async (positional: string | undefined, options: UpOptions) => {
      const { startMesh } = await import('../../mesh/mesh.js'); // loaded on use
      const { loadMeshSources } = await import('../../mesh/sources.js'); // yaml and the mesh schema: loaded on use, not by every command
      const files = [...(positional === undefined ? [] : [positional]), ...(options.file ?? [])];
      const source = loadMeshSources(files, options.images === undefined ? {} : { images: options.images });
      const { mesh } = source;
      const file = files[0] ?? '';
      const baseDir = resolve(source.baseDir);
      const say = (line: string): void => { process.stdout.write(`${line}\n`); };
      for (const warning of source.warnings) {
        if (options.json) say(JSON.stringify({ kind: 'warning', message: warning }));
        else process.stderr.write(`trellis up: warning: ${warning}\n`);
      }
      if (options.explain) {
        const { explainMesh } = await import('../../mesh/kubernetes/explain.js');
        say(options.json ? JSON.stringify({ kind: 'explain', mesh: source.derived ?? mesh }) : explainMesh(source));
        return;
      }
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      const starting = startMesh({
        mesh,
        file: source.label,
        baseDir,
        ...(options.anyPort === true ? { exposedPorts: 'free' as const } : {}),
        dataDir: options.dataDir ?? join(baseDir, '.trellis', basename(file, extname(file))),
        ...(options.listen === undefined ? {} : { listen: parseHostPort(options.listen, '--listen') }),
        ...(options.dns === undefined ? {} : { dns: options.dns === 'off' ? false : parseHostPort(options.dns, '--dns') }),
        logger: stderrLogger(options.logLevel, 'trellis-up'),
        // With --json, stdout carries only JSON lines: the replicas' output goes to stderr.
        replicaOutput: { stdout: options.json ? process.stderr : process.stdout, stderr: process.stderr },
        replicaLogLevel: options.logLevel,
        signal: stop.signal,
        onEvent: (event) => {
          if (options.json) say(JSON.stringify(event));
          else say(describeMeshEvent(event));
        },
      });
      const running = await starting.catch((err: unknown) => {
        if (!stop.signal.aborted) throw err;
        return undefined; // Ctrl-C while starting: what had started is stopped already
      });
      if (running === undefined) {
        say(options.json ? JSON.stringify({ kind: 'stopped' }) : 'stopped');
        process.exit(0);
      }
      const summary = summarize(running);
      say(options.json ? JSON.stringify({ kind: 'summary', ...summary }) : `\n${formatSummary(summary)}\nPress Ctrl-C to stop.`);
      if (!stop.signal.aborted) await new Promise((done) => stop.signal.addEventListener('abort', done, { once: true }));
      await running.stop();
      say(options.json ? JSON.stringify({ kind: 'stopped' }) : 'stopped');
      process.exit(0);
    });
}
