/**
 * Tokens, sessions and certificates on a controlled clock: the control plane's security
 * (CA, join tokens, sessions, the issuer) runs on a real SQLite store with a ManualClock, so
 * each expiry is asserted at its exact boundary — valid 1 ms before, refused at it — without
 * waiting for a real one. The process-level tests (ca.test.ts, mtls.test.ts,
 * sidecar-session.test.ts: a real control plane and sidecars on the wall clock) are the e2e tier.
 *
 * The sidecar's workload identity talks to that same issuer in process (its CertificateApi is
 * the issuer's own issue(), as the API's /v1/ca/sign route calls it), so its renewal schedule
 * runs on the clock too.
 */
import assert from 'node:assert/strict';
import { createSign, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startSecurity, type Security } from '../../src/security/control-plane.js';
import { WorkloadIdentity, type CertificateApi } from '../../src/security/identity/workload.js';
import { SIGNING_ALGORITHM, generateKeyPair, privateKeyPem, x509 } from '../../src/security/crypto.js';
import { parseToken, type ParsedToken } from '../../src/security/tokens/secret.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { KvStore } from '../../src/store/types.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { waitFor } from '../helpers/wait.js';

const MINUTE = 60_000;
const SPIFFE = 'spiffe://trellis.local/ns/default/svc/orders';

function parsed(token: string): ParsedToken {
  const result = parseToken(token);
  assert.ok(result !== undefined, 'a well-formed token');
  return result;
}

async function csr(): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateKeyPair();
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=orders', keys, signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: SPIFFE }])],
  });
  return { csrPem: request.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

describe('token, session and certificate expiry on an injected clock', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-expiry-'));
  // On a whole second: X.509 validity has a resolution of one second.
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  let store: KvStore & { close(): Promise<void> | void };
  let security: Security;

  before(async () => {
    store = await openSqliteStore({ dataDir: join(dir, 'store'), now: () => clock.monotonic() });
    security = await startSecurity({ store, dataDir: dir, logger: pino({ level: 'silent' }), clock, maxCertLifetimeMs: 60 * MINUTE });
  });

  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a join token is valid until 1 ms before its expiry and TOKEN_EXPIRED at it', async () => {
    const made = await security.tokens.create({ service: 'orders', ttl: '10m' });
    assert.equal(made.createdAt, new Date(clock.now()).toISOString());
    assert.equal(made.expiresAt, new Date(clock.now() + 10 * MINUTE).toISOString());
    await clock.advance(10 * MINUTE - 1);
    assert.equal((await security.tokens.verify(parsed(made.token))).service, 'orders');
    await clock.advance(1);
    await assert.rejects(security.tokens.verify(parsed(made.token)), { code: 'TRELLIS_ERR_TOKEN_EXPIRED' });
  });

  it('a session is valid until 1 ms before its expiry and TOKEN_EXPIRED at it', async () => {
    const expiresAt = new Date(clock.now() + 5 * MINUTE);
    const session = await security.sessions.issue({ service: 'orders', namespace: 'default' }, expiresAt);
    assert.equal(session.expiresAt, expiresAt.toISOString());
    await clock.advance(5 * MINUTE - 1);
    assert.equal((await security.sessions.verify(parsed(session.token))).service, 'orders');
    await clock.advance(1);
    await assert.rejects(security.sessions.verify(parsed(session.token)), { code: 'TRELLIS_ERR_TOKEN_EXPIRED' });
  });

  it('a certificate lasts exactly its lifetime (capped by the CA), and renews with its proof until 1 ms before it expires', async () => {
    const join = await security.tokens.create({ service: 'orders', ttl: '1h' });
    const first = await csr();
    const issuedAt = clock.now();
    const issued = await security.issuer.issue({ csr: first.csrPem, lifetime: '2h' }, join.token);
    assert.equal(issued.notAfter, new Date(issuedAt + 60 * MINUTE).toISOString(), 'capped at the CA\'s 60-minute maximum');
    const certificate = new X509Certificate(issued.certificate);
    assert.equal(Date.parse(certificate.validTo), issuedAt + 60 * MINUTE, 'in the certificate itself');
    assert.equal(Date.parse(certificate.validFrom), issuedAt - 1_000, 'back-dated by 1 s for clock skew');
    assert.equal(issued.session.expiresAt, issued.notAfter, 'the session that comes with it ends with it');

    const renewal = async (): Promise<unknown> => {
      const next = await csr();
      const signer = createSign('sha256');
      signer.update(next.csrPem);
      return security.issuer.issue({ csr: next.csrPem, lifetime: '10m', renew: { certificate: issued.certificate, signature: signer.sign(first.keyPem, 'base64') } }, undefined);
    };
    await clock.advance(60 * MINUTE - 1);
    const renewed = await renewal() as { notAfter: string };
    // X.509 validity has whole seconds: the requested end (…:59.999) is cut to the second.
    assert.equal(renewed.notAfter, new Date(Math.floor((clock.now() + 10 * MINUTE) / 1_000) * 1_000).toISOString());
    await clock.advance(1);
    await assert.rejects(renewal(), (err: { code?: string; message?: string }) =>
      err.code === 'TRELLIS_ERR_TOKEN_INVALID' && /the current certificate expired at/.test(err.message ?? ''));
  });

  it('a workload identity renews at exactly 70% of its certificate\'s life', async () => {
    const join = await security.tokens.create({ service: 'orders', ttl: '1h' });
    const api: CertificateApi = {
      caBundle: () => Promise.resolve({ trustDomain: security.ca.trustDomain }),
      signCertificate: (body, token) => security.issuer.issue(body, token),
    };
    await clock.advance(1_000 - (clock.now() % 1_000)); // on a whole second, as X.509 validity is
    const identity = await WorkloadIdentity.start({ client: api, service: 'orders', namespace: 'default', token: join.token, lifetimeMs: 10 * MINUTE, logger: pino({ level: 'silent' }), clock }, 5_000);
    try {
      assert.equal(identity.status().notAfter, new Date(clock.now() + 10 * MINUTE).toISOString());
      assert.deepEqual(clock.pending(), [4 * MINUTE, 7 * MINUTE], 'two timers: the next CSR made at 40% of 10 minutes, the renewal at 70%');
      await clock.advance(7 * MINUTE - 1);
      assert.equal(identity.status().renewals, 0);
      await clock.advance(1);
      await waitFor('the renewal', () => identity.status().renewals === 1);
      assert.equal(identity.status().notAfter, new Date(clock.now() + 10 * MINUTE).toISOString(), 'a new certificate of the whole lifetime');
      assert.deepEqual(clock.pending(), [4 * MINUTE, 7 * MINUTE], 'the next CSR and the next renewal, 40% and 70% into the new certificate');
    } finally {
      identity.close();
    }
  });
});
