/**
 * The one crypto set-up for certificates: @peculiar/x509 on Node's WebCrypto, ECDSA P-256
 * with SHA-256 for every key (roots and workloads), and PEM conversions of keys.
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs a Reflect polyfill loaded
// first: without this import, loading @peculiar/x509 throws.
import 'reflect-metadata';
import { createPrivateKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };

export const KEY_ALGORITHM: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const SIGNING_ALGORITHM: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

/** A new key pair; the private key is extractable only so that node:tls can be given it as PEM. */
export function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** A signing key from PEM (PKCS#8 or SEC1); only ECDSA P-256 keys are taken. @throws Error saying what is wrong */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  const key = createPrivateKey(pem);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new Error(`the key is ${key.asymmetricKeyType ?? 'unknown'}${curve === undefined ? '' : ` ${curve}`}; the CA takes ECDSA P-256 keys (openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)`);
  }
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}
