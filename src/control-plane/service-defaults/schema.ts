/**
 * Validation of service defaults: a map of upstream-policy fields (the same schema a
 * sidecar's upstream entry uses, src/proxy/policy.ts), with an optional `service` that must
 * match the one it is stored for. Errors are TrellisError VALIDATION naming the field
 * (`retry.maxAttempts`, `serviceDefaults.1.timeout`).
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { parseUpstreamPolicy } from '../../proxy/policy.js';
import { serviceNameSchema } from '../../registry/schema.js';
import { joinPath, parseOrThrow } from '../../util/validation.js';

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The policy fields of one entry, checked; `service` is the service it is for (from the URL),
 * or undefined when the entry must name it (`{ service, ...policy }`, as in an apply).
 * @returns the service and the policy fields as written.
 */
export function parseServiceDefaults(body: unknown, service: string | undefined, field = ''): { service: string; policy: Readonly<Record<string, unknown>> } {
  if (!isMap(body)) {
    throw new TrellisError(ErrorCodes.VALIDATION, 'service defaults must be a map of policy fields such as {"timeout":"2s","retry":{"maxAttempts":2}}', field === '' ? {} : { field });
  }
  const { service: named, ...policy } = body;
  if (named === undefined && service === undefined) {
    throw new TrellisError(ErrorCodes.VALIDATION, 'service is required: the service these defaults are for', { field: joinPath(field, 'service') });
  }
  const name = named === undefined ? service : parseOrThrow(serviceNameSchema, named, joinPath(field, 'service'));
  if (service !== undefined && name !== service) {
    throw new TrellisError(ErrorCodes.VALIDATION, `the body names service ${JSON.stringify(name)} but the URL names ${JSON.stringify(service)}: make them the same (or leave service out)`, { field: joinPath(field, 'service') });
  }
  parseUpstreamPolicy(policy, field);
  return { service: name ?? '', policy: Object.freeze(policy) };
}
