/**
 * TLS termination at the gateway: the certificates of one HTTPS listener, read from their
 * files, the one presented chosen by SNI (an exact name of the certificate's subjectAltName,
 * then a `*.` wildcard one, else the first certificate), and read again when a file changes
 * (fs.watch on their folders, so an atomic rename counts): new handshakes get the new
 * certificate, connections already open carry on. A file that does not read or a key that
 * does not fit keeps the last good certificates in force and is logged.
 */
import { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import { createSecureContext, createServer as createTlsServer, type SecureContext, type Server as TlsServer } from 'node:tls';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError, messageOf } from '../errors.js';
import type { Front } from '../proxy/listeners/listener.js';

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

interface Loaded {
  readonly names: readonly string[];
  readonly options: { readonly cert: string; readonly key: string };
  readonly context: SecureContext;
  readonly notAfter: string;
}

/** The DNS names a certificate is for: its subjectAltName DNS entries, else its subject CN. */
function namesOf(certificate: X509Certificate): string[] {
  const sans = (certificate.subjectAltName ?? '').split(',').map((s) => s.trim()).filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4).toLowerCase());
  if (sans.length > 0) return sans;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(certificate.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

async function load(files: CertificateFiles): Promise<Loaded> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
  } catch (err) {
    throw new TrellisError(ErrorCodes.CONFIG, `cannot read the certificate ${files.cert} or its key ${files.key}: ${messageOf(err)}`, { field: 'certificates', cause: err });
  }
  try {
    const x509 = new X509Certificate(cert);
    // createSecureContext checks that the key is the certificate's.
    const context = createSecureContext({ cert, key });
    return { names: namesOf(x509), options: { cert, key }, context, notAfter: x509.validTo };
  } catch (err) {
    throw new TrellisError(ErrorCodes.CONFIG, `the certificate ${files.cert} with key ${files.key} is not usable: ${messageOf(err)} (a PEM certificate and its own private key)`, { field: 'certificates', cause: err });
  }
}

/** The certificate for an SNI name among `loaded` (the first when none fits). */
export function pick<T extends { readonly names: readonly string[] }>(loaded: readonly T[], servername: string | undefined): T | undefined {
  if (servername !== undefined && servername !== '') {
    const name = servername.toLowerCase();
    const exact = loaded.find((l) => l.names.includes(name));
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wildcard = `*${name.slice(dot)}`;
      const found = loaded.find((l) => l.names.includes(wildcard));
      if (found !== undefined) return found;
    }
  }
  return loaded[0];
}

export class CertificateSet {
  readonly #files: readonly CertificateFiles[];
  readonly #logger: Logger;
  #loaded: readonly Loaded[] = [];
  readonly #servers = new Set<TlsServer>();
  readonly #watchers: FSWatcher[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Reloads done (for status and tests). */
  reloads = 0;

  private constructor(files: readonly CertificateFiles[], logger: Logger) {
    this.#files = files;
    this.#logger = logger;
  }

  /** Read every certificate (a bad one fails the start, naming it) and watch their files. */
  static async open(files: readonly CertificateFiles[], logger: Logger): Promise<CertificateSet> {
    const set = new CertificateSet(files, logger);
    set.#loaded = await Promise.all(files.map(load));
    set.#watch();
    return set;
  }

  /** The names of each certificate and when it expires. */
  describe(): Array<{ names: readonly string[]; notAfter: string }> {
    return this.#loaded.map((l) => ({ names: l.names, notAfter: l.notAfter }));
  }

  #watch(): void {
    const folders = new Map<string, Set<string>>();
    for (const f of this.#files) {
      for (const path of [f.cert, f.key]) {
        const names = folders.get(dirname(path)) ?? new Set<string>();
        names.add(basename(path));
        folders.set(dirname(path), names);
      }
    }
    for (const [folder, names] of folders) {
      try {
        const watcher = watch(folder, { persistent: false }, (_event, file) => {
          if (file === null || names.has(file.toString())) this.#schedule();
        });
        watcher.on('error', (err) => this.#logger.warn({ folder, err: messageOf(err) }, 'gateway: cannot watch the certificates\' folder any more'));
        this.#watchers.push(watcher);
      } catch (err) {
        this.#logger.warn({ folder, err: messageOf(err) }, 'gateway: cannot watch the certificates\' folder: changes are not picked up');
      }
    }
  }

  /** A cert and its key are usually written one after the other: read them once both have settled. */
  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reload();
    }, 100);
    this.#timer.unref();
  }

  /** Read the files again; on any failure the certificates in force stay. */
  async reload(): Promise<boolean> {
    try {
      const loaded = await Promise.all(this.#files.map(load));
      this.#loaded = loaded;
      const first = loaded[0];
      if (first !== undefined) for (const server of this.#servers) server.setSecureContext(first.options);
      this.reloads += 1;
      this.#logger.info({ certificates: this.describe() }, 'gateway: certificates reloaded (new handshakes get them; open connections carry on)');
      return true;
    } catch (err) {
      this.#logger.error({ err: messageOf(err), code: err instanceof TrellisError ? err.code : undefined }, 'gateway: the changed certificates are not usable: keeping the ones in force');
      return false;
    }
  }

  /** A TLS front for a listener: SNI picks the certificate of each handshake. */
  front(): Front {
    return (deliver: (socket: Duplex) => void) => {
      const pending = new Set<Socket>();
      const first = this.#loaded[0];
      const server = createTlsServer({
        ...(first === undefined ? {} : first.options),
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
        SNICallback: (servername, callback) => callback(null, pick(this.#loaded, servername)?.context),
        handshakeTimeout: 10_000,
      }, (socket) => deliver(socket));
      server.on('connection', (socket: Socket) => {
        pending.add(socket);
        socket.once('close', () => pending.delete(socket));
      });
      server.on('tlsClientError', (err, socket) => {
        this.#logger.debug({ err: messageOf(err) }, 'gateway: TLS handshake failed');
        socket.destroy();
      });
      this.#servers.add(server);
      server.once('close', () => this.#servers.delete(server));
      return { server, destroyPending: () => { for (const s of pending) s.destroy(); } };
    };
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const w of this.#watchers.splice(0)) w.close();
  }
}
