/**
 * The registration schema: every field a client may send, validated once, with
 * messages that name the field and say how to fix it. Durations are accepted as
 * milliseconds or strings with a unit ("10s") and come out as milliseconds.
 */
import { z } from 'zod';
import { addressField, durationField as duration, integerField as integer, parseOrThrow as parseWith } from '../util/validation.js';
import { Limits } from './limits.js';

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const METADATA_KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;

function dnsLabel(what: string) {
  return z
    .string({ required_error: `${what} is required`, invalid_type_error: `${what} must be a string` })
    .refine((s) => DNS_LABEL.test(s), (s) => ({
      message: `${what} must be a DNS label: 1–${Limits.nameMaxLength} lowercase letters, digits or '-', starting and ending with a letter or digit (got ${JSON.stringify(s).slice(0, 80)})`,
    }));
}

export const serviceNameSchema = dnsLabel('service name');
export const instanceIdSchema = dnsLabel('instance id');

const portSchema = integer('port', 1, 65_535);

const addressSchema = addressField('address', 'the IP address or hostname the instance listens on');

const metadataSchema = z
  .record(
    z.string().refine((k) => k.length <= Limits.metadataKeyMaxLength && METADATA_KEY.test(k), (k) => ({
      message: `metadata key ${JSON.stringify(k).slice(0, 80)} must be 1–${Limits.metadataKeyMaxLength} letters, digits, '.', '_', '/' or '-'`,
    })),
    z.string({ invalid_type_error: 'metadata values must be strings (quote numbers: "3")' })
      .max(Limits.metadataValueMaxLength, `metadata values must be at most ${Limits.metadataValueMaxLength} characters`),
    { invalid_type_error: 'metadata must be an object of string labels, e.g. {"version":"v2","zone":"a"}' },
  )
  .superRefine((m, ctx) => {
    if (Object.keys(m).length > Limits.metadataMaxKeys) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `metadata may have at most ${Limits.metadataMaxKeys} keys` });
    } else if (Buffer.byteLength(JSON.stringify(m)) > Limits.metadataMaxBytes) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `metadata must be at most ${Limits.metadataMaxBytes} bytes as JSON` });
    }
  });

const healthStatusSchema = z.enum(['passing', 'warning', 'critical'], {
  errorMap: () => ({ message: 'initialStatus must be "passing", "warning" or "critical"' }),
});

const checkCommon = {
  name: dnsLabel('check name').optional(),
  interval: duration('interval', Limits.checkIntervalMinMs, Limits.checkIntervalMaxMs).optional(),
  timeout: duration('timeout', Limits.checkTimeoutMinMs, Limits.checkIntervalMaxMs).optional(),
  failuresBeforeCritical: integer('failuresBeforeCritical', 1, Limits.thresholdMax).optional(),
  successesBeforePassing: integer('successesBeforePassing', 1, Limits.thresholdMax).optional(),
  initialStatus: healthStatusSchema.optional(),
  port: portSchema.optional(),
};

const httpCheckSchema = z.object({
  type: z.literal('http'),
  path: z.string({ required_error: 'path is required for an http check, e.g. "/healthz"' })
    .regex(/^\/[\x21-\x7e]*$/, 'path must start with "/" and contain only visible ASCII characters')
    .max(1024, 'path must be at most 1024 characters'),
  method: z.enum(['GET', 'HEAD'], { errorMap: () => ({ message: 'method must be "GET" or "HEAD"' }) }).optional(),
  tls: z.boolean({ invalid_type_error: 'tls must be true or false' }).optional(),
  ...checkCommon,
}).strict();

const tcpCheckSchema = z.object({ type: z.literal('tcp'), ...checkCommon }).strict();

const checkSchema = z.discriminatedUnion('type', [httpCheckSchema, tcpCheckSchema], {
  errorMap: (issue, ctx) =>
    issue.code === z.ZodIssueCode.invalid_union_discriminator
      ? { message: 'type must be "http" or "tcp" (heartbeats use the top-level "ttl")' }
      : { message: ctx.defaultError },
});

/** Body of PUT /v1/services/:service/instances/:id (service and id come from the path). */
export const registrationBodySchema = z.object({
  address: addressSchema,
  port: portSchema,
  weight: integer('weight', 0, Limits.weightMax).optional(),
  metadata: metadataSchema.optional(),
  ttl: duration('ttl', Limits.ttlMinMs, Limits.ttlMaxMs).optional(),
  deregisterCriticalAfter: duration('deregisterCriticalAfter', Limits.deregisterMinMs, Limits.deregisterMaxMs).optional(),
  checks: z.array(checkSchema, { invalid_type_error: 'checks must be a list of {"type":"http"|"tcp", ...}' })
    .max(Limits.checksMax, `at most ${Limits.checksMax} checks per instance`).optional(),
}, { invalid_type_error: 'the request body must be a JSON object' }).strict();

export type RegistrationBody = z.input<typeof registrationBodySchema>;

/** Parse registry input or throw TrellisError VALIDATION naming the field. */
export function parseOrThrow<S extends z.ZodTypeAny>(schema: S, input: unknown, field = ''): z.output<S> {
  return parseWith(schema, input, field, (key) => `unknown field ${JSON.stringify(key)}: remove it (see docs/api.md for the accepted fields)`);
}

