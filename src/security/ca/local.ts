/**
 * The local CA: roots made here (or given with --ca-cert/--ca-key), their keys in
 * `<data-dir>/ca/<id>.key` (mode 0600), their certificates and rotation schedule in the
 * store under /ca/roots. Each key is also kept in the store (/ca/keys/<id>), wrapped with the
 * key-encryption key (./key-encryption.ts; never in plaintext), so that every control-plane
 * replica on a shared store (etcd) can sign: a replica without a root's key file unwraps the
 * store's copy (as Consul keeps its built-in CA's key in its Raft state). A key an older
 * Trellis stored in plaintext is wrapped at the first start, and the store's history of it is
 * erased (compaction, then the embedded store's file rewritten). A replica re-reads the roots
 * when they changed, so a rotation started on one replica reaches the others. Workload
 * certificates are ECDSA P-256 leaves signed directly by the active root, with the SPIFFE ID
 * as their only SAN (an X.509-SVID).
 *
 * Rotation (no connection breaks):
 *   t0               new root added: trusted by every workload at its next renewal
 *   t0 + L           new root signs (every workload renewed at least once since t0: all trust it)
 *   t0 + 2L          old root retired (every certificate it signed has expired)
 * where L is the maximum certificate lifetime; workloads renew at 70% of their lifetime.
 */
import { X509Certificate as NodeX509, createPrivateKey, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { NOT_PRIVATE_BITS } from '../../util/private-modes.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../core/clock.js';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import type { KvStore } from '../../store/types.js';
import { SIGNING_ALGORITHM, generateKeyPair, importPrivateKeyPem, privateKeyPem, x509 } from '../crypto.js';
import type { CaStatus, CertificateAuthority, RootInfo, SignRequest, SignedCertificate } from './authority.js';
import { KeyEncryptionKey, isWrapped, type KekSource } from './key-encryption.js';
import { readKeyFile, writeKeyFile } from './key-file.js';

export const ROOTS_KEY = '/ca/roots';
const KEYS_PREFIX = '/ca/keys/';
const ROOT_LIFETIME_MS = 10 * 365 * 24 * 3_600_000;
/** Leaves start a little in the past, for clocks that lag. */
const BACKDATE_MS = 1_000;

interface StoredRoot {
  readonly id: string;
  readonly certificatePem: string;
  /** ms since the epoch. */
  readonly signingFrom: number;
  readonly retireAt: number | null;
}

interface LoadedRoot extends StoredRoot {
  readonly certificate: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly fingerprint: string;
}

export interface LocalCaOptions {
  readonly store: KvStore;
  readonly dataDir: string;
  readonly trustDomain: string;
  readonly maxLifetimeMs: number;
  readonly logger: Logger;
  /** A root to start with on first start (PEM files' contents). */
  readonly given?: { readonly certificatePem: string; readonly keyPem: string };
  /** Where the key-encryption key comes from (default: `<data-dir>/ca/kek`, made on first start). */
  readonly kek?: Omit<KekSource, 'dataDir'>;
  /** Validity periods, rotation and expiry are read on this clock (default: the real one). */
  readonly clock?: Clock;
}

function newRootId(): string {
  return `root-${randomBytes(4).toString('hex')}`;
}

function keyPath(dataDir: string, id: string): string {
  return join(dataDir, 'ca', `${id}.key`);
}

function parseRoots(value: string): StoredRoot[] {
  try {
    return JSON.parse(value) as StoredRoot[];
  } catch (err) {
    throw new TrellisError(ErrorCodes.DATA_CORRUPT, `the CA roots in the store (${ROOTS_KEY}) are not JSON: ${messageOf(err)}`, { cause: err });
  }
}

function fingerprintOf(pem: string): string {
  return new NodeX509(pem).fingerprint256.replaceAll(':', '').toLowerCase();
}

/** A self-signed root; its subject names its id, so that roots overlapping in a rotation never share a name. */
async function makeRoot(id: string, trustDomain: string, now: number): Promise<{ certificatePem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=Trellis root ${id}, O=${trustDomain}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + ROOT_LIFETIME_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
    ],
  });
  return { certificatePem: certificate.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

/** A given root must be a CA certificate whose public key matches the key. */
async function checkGivenRoot(certificatePem: string, keyPem: string): Promise<void> {
  let cert: NodeX509;
  try {
    cert = new NodeX509(certificatePem);
  } catch (err) {
    throw new TrellisError(ErrorCodes.CA, `--ca-cert is not a readable PEM certificate: ${messageOf(err)}`, { field: 'ca-cert' });
  }
  if (!cert.ca) throw new TrellisError(ErrorCodes.CA, '--ca-cert is not a CA certificate (basicConstraints CA:TRUE is missing)', { field: 'ca-cert' });
  try {
    await importPrivateKeyPem(keyPem);
  } catch (err) {
    throw new TrellisError(ErrorCodes.CA, `--ca-key: ${messageOf(err)}`, { field: 'ca-key' });
  }
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new TrellisError(ErrorCodes.CA, '--ca-key is not the private key of --ca-cert', { field: 'ca-key' });
  }
}

export class LocalCertificateAuthority implements CertificateAuthority {
  readonly trustDomain: string;
  readonly maxLifetimeMs: number;
  readonly #options: LocalCaOptions;
  readonly #now: () => number;
  #roots: LoadedRoot[] = [];
  /** modRevision of /ca/roots as last read or written (0 = none yet). */
  #rootsRevision = 0;
  #kek: KeyEncryptionKey | undefined;
  /** Root keys found in plaintext in the store (an older Trellis) and wrapped now. */
  #migrated: string[] = [];

  private constructor(options: LocalCaOptions) {
    this.#options = options;
    this.trustDomain = options.trustDomain;
    this.maxLifetimeMs = options.maxLifetimeMs;
    const clock = options.clock ?? systemClock;
    this.#now = () => clock.now();
  }

  /** Load the roots from the store and data dir, or make (or take) the first one. */
  static async open(options: LocalCaOptions): Promise<LocalCertificateAuthority> {
    const ca = new LocalCertificateAuthority(options);
    await ca.#load();
    await ca.#eraseMigratedHistory();
    return ca;
  }

  /** The KEK; made (data dir's file) only when no key in the store is wrapped yet. */
  #keyEncryptionKey(mayCreate: boolean): KeyEncryptionKey {
    if (this.#kek === undefined) {
      this.#kek = KeyEncryptionKey.open({ dataDir: this.#options.dataDir, ...this.#options.kek }, mayCreate);
      const file = this.#options.kek?.file;
      if (file !== undefined && (statSync(file).mode & NOT_PRIVATE_BITS) !== 0) {
        this.#options.logger.warn({ file, mode: (statSync(file).mode & 0o777).toString(8) }, `the key-encryption key file ${file} is readable by other users: \`chmod 600 ${file}\``);
      }
    }
    return this.#kek;
  }

  /**
   * After wrapping plaintext keys: drop the store's history (it still holds the old values) and,
   * on the embedded store, rewrite the database file so that no byte of them is left on disk.
   */
  async #eraseMigratedHistory(): Promise<void> {
    if (this.#migrated.length === 0) return;
    const { store, logger } = this.#options;
    const { revision } = await store.status();
    if (store.scrub === undefined) {
      logger.warn({ roots: this.#migrated, revision },
        `CA: root keys stored in plaintext by an older Trellis are now wrapped with the key-encryption key; the store's history still holds the old values: compact it (\`etcdctl compact ${revision}\`, then \`etcdctl defrag\` on every member)`);
      return;
    }
    await store.compact(revision);
    await store.scrub();
    logger.warn({ roots: this.#migrated, revision }, 'CA: root keys stored in plaintext by an older Trellis are now wrapped with the key-encryption key; the store was compacted and its file rewritten so that the old values are gone');
  }

  async #load(): Promise<void> {
    const { store, dataDir, logger, given } = this.#options;
    const { kv } = await store.get(ROOTS_KEY);
    if (kv === undefined) {
      const id = newRootId();
      const first = given ?? await makeRoot(id, this.trustDomain, this.#now());
      if (given !== undefined) await checkGivenRoot(given.certificatePem, given.keyPem);
      writeKeyFile(keyPath(dataDir, id), first.keyPem);
      await store.put(`${KEYS_PREFIX}${id}`, this.#keyEncryptionKey(true).wrap(id, first.keyPem));
      try {
        await this.#save([{ id, certificatePem: first.certificatePem, signingFrom: 0, retireAt: null }], 0);
      } catch (err) {
        // Another replica made the first root at the same moment: take theirs.
        if (!(err instanceof TrellisError) || err.code !== ErrorCodes.CONFLICT) throw err;
        await store.delete(`${KEYS_PREFIX}${id}`);
        await this.#refresh();
        return;
      }
      logger.info({ root: id, fingerprint: fingerprintOf(first.certificatePem), given: given !== undefined, trustDomain: this.trustDomain }, given === undefined ? 'CA: made a new root' : 'CA: took the given root');
      return;
    }
    const stored = parseRoots(kv.value);
    if (given !== undefined && !stored.some((r) => fingerprintOf(r.certificatePem) === fingerprintOf(given.certificatePem))) {
      throw new TrellisError(ErrorCodes.CA, 'this data dir already has a CA root and --ca-cert is not one of its roots: start without --ca-cert/--ca-key, or with an empty data dir', { field: 'ca-cert' });
    }
    await this.#adopt(stored, kv.modRevision);
  }

  /** Reload the roots if another replica changed them (a rotation, or the first root). */
  async #refresh(): Promise<void> {
    const { kv } = await this.#options.store.get(ROOTS_KEY);
    if (kv === undefined || kv.modRevision === this.#rootsRevision) return;
    await this.#adopt(parseRoots(kv.value), kv.modRevision);
  }

  /** Take `stored` as the roots at `revision`, keeping the keys of roots already loaded. */
  async #adopt(stored: readonly StoredRoot[], revision: number): Promise<void> {
    this.#roots = await Promise.all(stored.map((r) => {
      const loaded = this.#roots.find((l) => l.id === r.id);
      return loaded === undefined ? this.#loaded(r) : { ...loaded, ...r };
    }));
    this.#rootsRevision = revision;
  }

  /**
   * A root's key. The store's copy is unwrapped (which checks this control plane has the KEK it
   * was wrapped with) and kept in a local 0600 file if there is none; a copy in plaintext (an
   * older Trellis), or none (older still), is wrapped and stored now.
   */
  async #keyPem(id: string): Promise<string> {
    const path = keyPath(this.#options.dataDir, id);
    const { kv } = await this.#options.store.get(`${KEYS_PREFIX}${id}`);
    if (kv !== undefined && isWrapped(kv.value)) {
      const pem = this.#keyEncryptionKey(false).unwrap(id, kv.value);
      if (!existsSync(path)) writeKeyFile(path, pem);
      return pem;
    }
    let pem: string;
    if (existsSync(path) || kv === undefined) {
      pem = readKeyFile(path, this.#options.logger);
    } else {
      pem = kv.value;
      writeKeyFile(path, pem);
    }
    await this.#options.store.put(`${KEYS_PREFIX}${id}`, this.#keyEncryptionKey(true).wrap(id, pem));
    if (kv !== undefined) this.#migrated.push(id);
    return pem;
  }

  async #loaded(root: StoredRoot): Promise<LoadedRoot> {
    const pem = await this.#keyPem(root.id);
    let key: CryptoKey;
    try {
      key = await importPrivateKeyPem(pem);
    } catch (err) {
      throw new TrellisError(ErrorCodes.CA, `the CA key of ${root.id} cannot be read: ${messageOf(err)}`, { cause: err });
    }
    return { ...root, certificate: new x509.X509Certificate(root.certificatePem), key, fingerprint: fingerprintOf(root.certificatePem) };
  }

  /** Store the roots; `ifModRevision` guards against a concurrent change by another replica. */
  async #save(roots: StoredRoot[], ifModRevision = this.#rootsRevision): Promise<void> {
    const plain = roots.map(({ id, certificatePem, signingFrom, retireAt }) => ({ id, certificatePem, signingFrom, retireAt }));
    const put = await this.#options.store.put(ROOTS_KEY, JSON.stringify(plain), { ifModRevision });
    await this.#adopt(plain, put.revision);
  }

  /** The roots trusted now (not retired, not expired), newest first. */
  #trusted(now: number): LoadedRoot[] {
    return this.#roots
      .filter((r) => (r.retireAt === null || now < r.retireAt) && r.certificate.notAfter.getTime() > now)
      .sort((a, b) => b.signingFrom - a.signingFrom);
  }

  #signer(now: number): LoadedRoot {
    const signer = this.#trusted(now).find((r) => r.signingFrom <= now);
    if (signer === undefined) throw new TrellisError(ErrorCodes.CA, 'the CA has no usable root (all expired or retired): run `trellis ca rotate`');
    return signer;
  }

  async trustBundle(): Promise<readonly string[]> {
    await this.#refresh();
    return this.#bundle(this.#now());
  }

  #bundle(now: number): readonly string[] {
    return this.#trusted(now).map((r) => r.certificatePem);
  }

  async sign(request: SignRequest): Promise<SignedCertificate> {
    await this.#refresh();
    const now = this.#now();
    const signer = this.#signer(now);
    const csr = new x509.Pkcs10CertificateRequest(request.csrPem);
    const lifetime = Math.min(request.lifetimeMs, this.maxLifetimeMs);
    const notAfter = new Date(Math.min(now + lifetime, signer.certificate.notAfter.getTime()));
    const service = request.spiffeId.split('/').pop() ?? 'workload';
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
      subject: `CN=${service}, O=${this.trustDomain}`,
      issuer: signer.certificate.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      signingAlgorithm: SIGNING_ALGORITHM,
      publicKey: csr.publicKey,
      signingKey: signer.key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: request.spiffeId }], true),
        await x509.AuthorityKeyIdentifierExtension.create(signer.certificate.publicKey),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      ],
    });
    return {
      certificatePem: certificate.toString('pem'),
      spiffeId: request.spiffeId,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      trustBundle: this.#bundle(now),  // roots already refreshed at the start of sign()
    };
  }

  async rotate(): Promise<CaStatus> {
    await this.#refresh();
    const now = this.#now();
    const pending = this.#roots.find((r) => r.signingFrom > now);
    if (pending !== undefined) {
      throw new TrellisError(ErrorCodes.CONFLICT, `a rotation is under way: root ${pending.id} signs from ${new Date(pending.signingFrom).toISOString()}; rotate again after that`);
    }
    const current = this.#signer(now);
    const id = newRootId();
    const made = await makeRoot(id, this.trustDomain, now);
    writeKeyFile(keyPath(this.#options.dataDir, id), made.keyPem);
    await this.#options.store.put(`${KEYS_PREFIX}${id}`, this.#keyEncryptionKey(true).wrap(id, made.keyPem));
    const signingFrom = now + this.maxLifetimeMs;
    const kept = this.#trusted(now).map((r): StoredRoot => (r.id === current.id ? { ...r, retireAt: signingFrom + this.maxLifetimeMs } : r));
    await this.#save([...kept, { id, certificatePem: made.certificatePem, signingFrom, retireAt: null }]);
    this.#options.logger.info({ root: id, fingerprint: fingerprintOf(made.certificatePem), signingFrom: new Date(signingFrom).toISOString(), retiring: current.id },
      'CA: rotation started: the new root is trusted now and signs from signingFrom; the old one retires one lifetime later');
    return this.status();
  }

  async status(): Promise<CaStatus> {
    await this.#refresh();
    const now = this.#now();
    const signer = this.#signer(now);
    const roots: RootInfo[] = this.#trusted(now).map((r) => ({
      id: r.id,
      fingerprint: r.fingerprint,
      state: r.id === signer.id ? 'active' : r.signingFrom > now ? 'pending' : 'retiring',
      notAfter: r.certificate.notAfter.toISOString(),
      signingFrom: new Date(r.signingFrom).toISOString(),
      retireAt: r.retireAt === null ? null : new Date(r.retireAt).toISOString(),
    }));
    return { trustDomain: this.trustDomain, maxLifetimeMs: this.maxLifetimeMs, roots };
  }
}
