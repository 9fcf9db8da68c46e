/**
 * `trellis identity --service NAME --dir DIR` — the small agent of a proxyless app (no sidecar):
 * it earns the service's workload certificate from the control plane's CA with the join token
 * (TRELLIS_TOKEN or --token-file), keeps `cert.pem`, `key.pem` and `ca.pem` fresh in DIR
 * (src/security/identity/files.ts) and renews them at 70% of their life (each renewal proves the
 * current certificate: no token needed after the first), until SIGINT/SIGTERM. `--once` writes
 * the first certificate and exits. What gRPC's file-watcher provider reads: `trellis xds
 * bootstrap --cert-dir DIR` names the files.
 */
import type { Command } from 'commander';
import { ControlPlaneClient } from '../../client/control-plane.js';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import { writeCertificateFiles } from '../../security/identity/files.js';
import { WorkloadIdentity } from '../../security/identity/workload.js';
import { DEFAULT_NAMESPACE } from '../../security/spiffe.js';
import { createLogger } from '../../telemetry/logger.js';
import { parseDuration } from '../../util/duration.js';
import { durationArg, readControlPlaneCa, readToken, withClientOptions, type GlobalOptions } from '../options.js';

interface IdentityFlags extends GlobalOptions {
  service: string;
  dir: string;
  namespace: string;
  lifetime: string;
  tokenFile?: string;
  once?: boolean;
}

/** How long the first certificate may take while the control plane is unreachable. */
const FIRST_WAIT_MS = 30_000;

export function identityCommand(program: Command): void {
  withClientOptions(program.command('identity')
    .description("keep a workload certificate, its key and the CA bundle fresh in a directory, for an app without a sidecar (proxyless gRPC's file-watcher provider; docs/proxyless.md)"))
    .requiredOption('--service <name>', 'the service the app runs as (its SPIFFE ID: spiffe://<trust-domain>/ns/<namespace>/svc/<service>)')
    .requiredOption('--dir <dir>', 'write cert.pem, key.pem (0600) and ca.pem here')
    .option('--namespace <ns>', 'the namespace of the identity', DEFAULT_NAMESPACE)
    .option('--lifetime <duration>', 'the certificate lifetime asked for (the CA caps it)', durationArg('--lifetime', { minMs: 1_000, maxMs: 365 * 86_400_000, words: '1s to 365d' }), '24h')
    .option('--token-file <file>', 'the join token (default env TRELLIS_TOKEN): `trellis token create --service NAME`')
    .option('--once', 'write the first certificate and exit (no renewals)')
    .action(async (options: IdentityFlags) => {
      const token = readToken(options.tokenFile);
      if (token === undefined || token === '') {
        throw new TrellisError(ErrorCodes.BAD_FLAG, `trellis identity needs the join token of ${options.service}: make one with \`trellis token create --service ${options.service}\` and put it in TRELLIS_TOKEN or a file (--token-file)`, { field: 'token-file' });
      }
      const logger = createLogger({ level: 'info', name: 'trellis-identity' });
      const ca = readControlPlaneCa(options.controlPlaneCa);
      const client = new ControlPlaneClient(options.controlPlane, token, ca === undefined ? undefined : { ca });
      const identity = await WorkloadIdentity.start({
        client, service: options.service, namespace: options.namespace, token,
        lifetimeMs: parseDuration(options.lifetime) ?? 86_400_000, logger,
      }, FIRST_WAIT_MS);
      const write = (certificate: NonNullable<ReturnType<WorkloadIdentity['current']>>): void => {
        try {
          writeCertificateFiles(options.dir, certificate);
          logger.info({ dir: options.dir, spiffeId: certificate.spiffeId, notAfter: certificate.notAfter.toISOString() }, 'workload certificate written');
        } catch (err) {
          // The process keeps renewing: the next write may succeed (a full disk freed, a permission fixed).
          logger.error({ err: messageOf(err) }, 'workload certificate not written');
        }
      };
      identity.onRenewed(write);
      const current = identity.current();
      if (current !== undefined) write(current);
      if (options.once === true) {
        identity.close();
        if (current === undefined) throw new TrellisError(ErrorCodes.IDENTITY_UNAVAILABLE, `no certificate within ${FIRST_WAIT_MS / 1000} s: the control plane at ${options.controlPlane} is unreachable`);
        return;
      }
      await new Promise<void>((resolve) => {
        // The identity's timers are unref'd: this one keeps the agent running until a signal.
        const alive = setInterval(() => undefined, 3_600_000);
        const stop = (): void => { clearInterval(alive); identity.close(); resolve(); };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
