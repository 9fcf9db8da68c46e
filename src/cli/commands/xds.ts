/**
 * `trellis xds bootstrap --service NAME` — the bootstrap file for a proxyless gRPC client
 * (GRPC_XDS_BOOTSTRAP=FILE, then `xds:///<service>` targets). The xDS server's address comes
 * from --xds-server, else from the control plane's /v1/status (it runs with `trellis server
 * --xds`). The node's token comes from --token-file or TRELLIS_TOKEN and is written into the
 * file, so the file is made readable by its owner only.
 */
import type { Command } from 'commander';
import { chmodSync, writeFileSync } from 'node:fs';
import { bootstrapFor } from '../../control-plane/xds/bootstrap.js';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { formatHostPort, parseHostPort } from '../../util/host-port.js';
import { CERT_FILES } from '../../security/identity/files.js';
import { parseDuration } from '../../util/duration.js';
import { clientFrom, durationArg, readToken, withClientOptions, type GlobalOptions } from '../options.js';

interface BootstrapFlags extends GlobalOptions {
  service: string;
  xdsServer?: string;
  tokenFile?: string;
  nodeId?: string;
  out?: string;
  certDir?: string;
  certRefresh?: string;
}

async function xdsAddress(options: BootstrapFlags): Promise<string> {
  if (options.xdsServer !== undefined) return formatHostPort(parseHostPort(options.xdsServer, '--xds-server'));
  const status = await clientFrom(options).status();
  const address = status.xds?.address;
  if (address === undefined) {
    throw new TrellisError(ErrorCodes.BAD_FLAG, `the control plane at ${options.controlPlane} serves no xDS: start it with \`trellis server --xds HOST:PORT\`, or name the xDS server with --xds-server`, { field: 'xds-server' });
  }
  // A server listening on every address is reached at the control plane's own host.
  const parsed = parseHostPort(address, 'xds');
  const host = parsed.host === '0.0.0.0' || parsed.host === '::' ? new URL(options.controlPlane.split(',')[0] ?? '').hostname : parsed.host;
  return formatHostPort({ host, port: parsed.port });
}

export function xdsCommand(program: Command): void {
  const xds = program.command('xds').description('proxyless gRPC: the xDS server of the control plane (docs/proxyless.md)');
  withClientOptions(xds.command('bootstrap').description('write the bootstrap file of a proxyless gRPC client (GRPC_XDS_BOOTSTRAP)'))
    .requiredOption('--service <name>', 'the service the client runs as (its node cluster)')
    .option('--xds-server <host:port>', "the xDS server (default: the control plane's, from /v1/status)")
    .option('--token-file <file>', 'the node\'s token (default env TRELLIS_TOKEN): a join token (`trellis token create --service NAME`) or a read-only token')
    .option('--node-id <id>', 'the node id (default trellis~<service>~<host>)')
    .option('--cert-dir <dir>', 'mTLS (gRFC A29): the file-watcher provider reads cert.pem, key.pem and ca.pem from this directory')
    .option('--cert-refresh <duration>', 'how often the file-watcher provider re-reads the files; well under the certificate lifetime (default 10s)', durationArg('--cert-refresh', { minMs: 1_000, maxMs: 86_400_000, words: '1s to 24h' }))
    .option('--out <file>', 'write the file here (mode 0600) instead of printing it')
    .action(async (options: BootstrapFlags) => {
      const token = readToken(options.tokenFile);
      if (token === undefined) {
        throw new TrellisError(ErrorCodes.BAD_FLAG, 'the bootstrap needs the node\'s token: put it in TRELLIS_TOKEN or a file (--token-file); make one with `trellis token create --service NAME`', { field: 'token-file' });
      }
      const dir = options.certDir?.replace(/\/+$/, '');
      const bootstrap = bootstrapFor({
        server: await xdsAddress(options),
        service: options.service,
        token,
        ...(options.nodeId === undefined ? {} : { nodeId: options.nodeId }),
        ...(dir === undefined ? {} : {
          certificates: {
            certificateFile: `${dir}/${CERT_FILES.certificate}`, privateKeyFile: `${dir}/${CERT_FILES.key}`, caCertificateFile: `${dir}/${CERT_FILES.bundle}`,
            ...(options.certRefresh === undefined ? {} : { refreshSeconds: Math.round((parseDuration(options.certRefresh) ?? 10_000) / 1000) }),
          },
        }),
      });
      const text = `${JSON.stringify(bootstrap, null, 2)}\n`;
      if (options.out === undefined) {
        process.stdout.write(text);
        return;
      }
      writeFileSync(options.out, text, { mode: 0o600 });
      chmodSync(options.out, 0o600);
      process.stderr.write(`trellis: wrote ${options.out} (mode 0600: it holds the token); run the client with GRPC_XDS_BOOTSTRAP=${options.out} and target xds:///<service>\n`);
    });
}
