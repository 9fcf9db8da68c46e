/**
 * The names of the zone, Consul style:
 *
 *   <service>.service.<domain>        A, AAAA, SRV (and ANY) for a service
 *   <id>.<service>.instance.<domain>  A or AAAA of one instance (SRV targets)
 *
 * Names are case-insensitive and may carry a trailing dot.
 */
import { ErrorCodes, TrellisError } from '../errors.js';

export const DEFAULT_DOMAIN = 'trellis';

/** What a query name refers to. */
export type ParsedName =
  /** Not under the domain: this server is not authoritative for it. */
  | { kind: 'outside' }
  /** The domain itself. */
  | { kind: 'apex' }
  | { kind: 'service'; service: string }
  | { kind: 'instance'; service: string; id: string }
  /** Under the domain, but no such name can exist. */
  | { kind: 'nonexistent' };

/**
 * Labels the zone can contain. Service names and instance ids are DNS labels, so a
 * label with other characters is answered NXDOMAIN without asking the lookup.
 */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

const MAX_NAME_LENGTH = 253;

/** Lower-case, without the trailing dot: the form names are compared in. */
function canonical(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

/** Whether `name` (any case, trailing dot optional) is a dotted sequence of DNS labels. */
export function isDnsName(name: string): boolean {
  const fqdn = canonical(name);
  return fqdn !== '' && fqdn.length <= MAX_NAME_LENGTH && fqdn.split('.').every((label) => LABEL.test(label));
}

/**
 * The canonical form of a `domain` option ("Trellis." → "trellis"); throws a
 * validation error if it is not a dotted sequence of DNS labels.
 */
export function normalizeDomain(domain: string): string {
  if (!isDnsName(domain)) {
    throw new TrellisError(ErrorCodes.VALIDATION, `domain must be a DNS name such as "trellis" or "mesh.internal" (got ${JSON.stringify(domain)})`, { field: 'domain' });
  }
  return canonical(domain);
}

/** Classify a query name relative to `domain` (which must be normalized). */
export function parseName(name: string, domain: string): ParsedName {
  const fqdn = canonical(name);
  if (fqdn === domain) return { kind: 'apex' };
  if (!fqdn.endsWith(`.${domain}`)) return { kind: 'outside' };
  const labels = fqdn.slice(0, -(domain.length + 1)).split('.');
  if (!labels.every((label) => LABEL.test(label))) return { kind: 'nonexistent' };
  const [first, second, third] = labels;
  if (labels.length === 2 && second === 'service' && first !== undefined) {
    return { kind: 'service', service: first };
  }
  if (labels.length === 3 && third === 'instance' && first !== undefined && second !== undefined) {
    return { kind: 'instance', service: second, id: first };
  }
  return { kind: 'nonexistent' };
}

/** `<id>.<service>.instance.<domain>`: the SRV target of an instance with an IP address. */
export function instanceName(id: string, service: string, domain: string): string {
  return `${id.toLowerCase()}.${service}.instance.${domain}`;
}
