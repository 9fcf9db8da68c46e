/**
 * A hypothetical request for `policy check` (POST /v1/policies/check): who calls, which
 * service, and for HTTP the method and path. `from` is a service name (taken in the mesh's
 * trust domain and the default namespace), a SPIFFE ID, or `unauthenticated`.
 */
import { z } from 'zod';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { serviceNameSchema } from '../../registry/schema.js';
import { parseOrThrow } from '../../util/validation.js';
import { parseSpiffeId, serviceIdentity } from '../spiffe.js';
import { SPIFFE_PREFIX, UNAUTHENTICATED } from './sources.js';
import type { PeerIdentity } from '../../core/identity.js';
import type { AccessRequest } from './types.js';

const checkSchema = z.object({
  from: z.string({ invalid_type_error: 'from must be a service name, a spiffe:// ID or "unauthenticated"' }).default(UNAUTHENTICATED),
  to: serviceNameSchema,
  protocol: z.enum(['http', 'tcp'], { errorMap: () => ({ message: 'protocol must be "http" or "tcp"' }) }).default('http'),
  method: z.string({ invalid_type_error: 'method must be an HTTP method such as GET' })
    .regex(/^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,31}$/, 'method must be an HTTP method such as GET').transform((m) => m.toUpperCase()).default('GET'),
  path: z.string({ invalid_type_error: 'path must be a path such as /api/orders' })
    .max(8192, 'path must be at most 8192 characters').regex(/^\/[\x21-\x7e]*$/, 'path must start with "/", such as /api/orders').default('/'),
}, { invalid_type_error: 'the check must be a JSON object such as {"from":"frontend","to":"backend","method":"GET","path":"/"}' })
  .strict();

/** @throws TrellisError VALIDATION naming the field. */
export function parseCheckRequest(raw: unknown, trustDomain: string): AccessRequest {
  const c = parseOrThrow(checkSchema, raw ?? {});
  let peer: PeerIdentity | undefined;
  if (c.from === UNAUTHENTICATED) {
    peer = undefined;
  } else if (c.from.startsWith(SPIFFE_PREFIX)) {
    peer = parseSpiffeId(c.from);
    if (peer === undefined) {
      throw new TrellisError(ErrorCodes.VALIDATION, `from ${JSON.stringify(c.from).slice(0, 120)} is not a SPIFFE ID of the form spiffe://<trust-domain>/ns/<namespace>/svc/<service>`, { field: 'from' });
    }
  } else {
    peer = serviceIdentity(parseOrThrow(serviceNameSchema, c.from, 'from'), trustDomain);
  }
  return Object.freeze(c.protocol === 'tcp'
    ? { service: c.to, peer, protocol: 'tcp' as const }
    : { service: c.to, peer, protocol: 'http' as const, method: c.method, path: c.path });
}
