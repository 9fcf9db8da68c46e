/**
 * The gateway's config (`trellis gateway --config gateway.yaml`), validated with zod; every
 * error names the field (and, from a file, the line):
 *
 *     name: edge                      # routes attach to it: parentRefs: [{ kind: Gateway, name: edge }]
 *     controlPlane: http://127.0.0.1:7700
 *     upstreams: [orders, users]      # the mesh services its routes may send to
 *     listeners:
 *       - { name: web, protocol: HTTP, address: 127.0.0.1:8080 }
 *       - name: websecure
 *         protocol: HTTPS
 *         address: 0.0.0.0:8443
 *         certificates:               # SNI picks the one whose names fit; the first is the default
 *           - { cert: /etc/trellis/api.pem, key: /etc/trellis/api.key }
 *     authentication:
 *       jwt: { jwks: { file: jwks.json }, issuer: https://id.example.com, audience: api, clockSkew: 30s,
 *              claimsToHeaders: { sub: x-user-id } }
 *       apiKeys: { header: x-api-key, keys: [{ name: ci, sha256: <hex of the key> }] }
 *     cors: { allowOrigins: [https://app.example.com], allowMethods: [GET, POST], allowHeaders: [authorization], maxAge: 10m }
 *     limits: { maxBodyBytes: 1048576, maxHeaderSize: 16384 }
 */
import { z } from 'zod';
import { ErrorCodes, TrellisError } from '../errors.js';
import { serviceNameSchema } from '../registry/schema.js';
import { durationField, hostPortField, integerField, parseOrThrow } from '../util/validation.js';
import type { HostPort } from '../util/host-port.js';

const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'a header name is a token such as x-user-id').transform((h) => h.toLowerCase());

const listenerSchema = z.object({
  name: z.string().regex(/^[a-z0-9-]{1,63}$/, 'a listener name is a DNS label such as websecure'),
  protocol: z.enum(['HTTP', 'HTTPS'], { errorMap: () => ({ message: 'protocol must be HTTP or HTTPS' }) }),
  address: hostPortField('address'),
  certificates: z.array(z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict()).max(64).default([]),
}).strict().superRefine((l, ctx) => {
  if (l.protocol === 'HTTPS' && l.certificates.length === 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['certificates'], message: 'an HTTPS listener needs certificates: [{ cert: FILE.pem, key: FILE.key }]' });
  if (l.protocol === 'HTTP' && l.certificates.length > 0) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['certificates'], message: 'certificates are for HTTPS listeners: set protocol: HTTPS' });
});

const jwtSchema = z.object({
  jwks: z.union([z.object({ file: z.string().min(1) }).strict(), z.object({ url: z.string().url('jwks.url must be an http(s) URL') }).strict()],
    { errorMap: () => ({ message: 'jwks is { file: PATH } or { url: https://… }' }) }),
  issuer: z.string().min(1).optional(),
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  clockSkew: durationField('clockSkew', 0, 600_000).default(30_000),
  /** Requests without a token are refused (default); false lets them through unauthenticated. */
  required: z.boolean().default(true),
  claimsToHeaders: z.record(z.string().min(1), headerName).default({}),
  algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])).min(1).optional(),
}).strict();

const apiKeysSchema = z.object({
  header: headerName.default('x-api-key'),
  keys: z.array(z.object({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'an API key name is 1–64 letters, digits, ".", "_" or "-"'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 is the hex SHA-256 of the key (`printf %s KEY | sha256sum`): keys are never stored in clear'),
  }).strict()).min(1).max(10_000),
}).strict();

const corsSchema = z.object({
  allowOrigins: z.array(z.string().min(1)).min(1),
  allowMethods: z.array(z.string().regex(/^[A-Z]+$/, 'methods are upper case: GET, POST')).default(['GET', 'HEAD', 'POST']),
  allowHeaders: z.array(headerName).default([]),
  exposeHeaders: z.array(headerName).default([]),
  allowCredentials: z.boolean().default(false),
  maxAge: durationField('cors.maxAge', 0, 86_400_000).default(600_000),
}).strict();

const gatewaySchema = z.object({
  name: serviceNameSchema,
  controlPlane: z.string().min(1, 'controlPlane is the control plane URL, such as http://127.0.0.1:7700'),
  controlPlaneCa: z.string().optional(),
  upstreams: z.array(serviceNameSchema).min(1, 'upstreams names the mesh services the gateway\'s routes send to').max(1_000),
  mtls: z.enum(['strict', 'off']).default('strict'),
  listeners: z.array(listenerSchema).min(1, 'listeners needs at least one { name, protocol, address }').max(16),
  authentication: z.object({ jwt: jwtSchema.optional(), apiKeys: apiKeysSchema.optional() }).strict().default({}),
  cors: corsSchema.optional(),
  limits: z.object({
    maxBodyBytes: integerField('limits.maxBodyBytes', 0, 1 << 30).default(10 * 1024 * 1024),
    maxHeaderSize: integerField('limits.maxHeaderSize', 1_024, 1_048_576).default(16_384),
  }).strict().default({}),
}).strict();

export type GatewayConfig = Omit<z.output<typeof gatewaySchema>, 'listeners'> & { readonly listeners: readonly GatewayListenerConfig[] };
export type GatewayListenerConfig = Omit<z.output<typeof listenerSchema>, 'address'> & { readonly address: HostPort };
export type JwtConfig = z.output<typeof jwtSchema>;
export type ApiKeysConfig = z.output<typeof apiKeysSchema>;
export type CorsConfig = z.output<typeof corsSchema>;

/** @throws TrellisError VALIDATION naming the field. */
export function parseGatewayConfig(input: unknown): GatewayConfig {
  const config = parseOrThrow(gatewaySchema, input);
  const names = new Set<string>();
  config.listeners.forEach((l, index) => {
    if (names.has(l.name)) throw new TrellisError(ErrorCodes.VALIDATION, `listener ${l.name} appears twice: give each its own name`, { field: `listeners.${index}.name` });
    names.add(l.name);
  });
  return config;
}
