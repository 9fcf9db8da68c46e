/**
 * The policy document, validated once (zod) wherever it enters: the API, the CLI's file
 * reader, the store's reader. Errors are TrellisError VALIDATION naming the field
 * (`rules.1.methods.0`) and saying what is allowed; the file reader adds the line.
 *
 *     name: backend-callers        # unique in the mesh (a DNS label)
 *     service: backend             # the destination, or "*" for every service
 *     default: deny                # optional: what no rule matches gets, for this scope
 *     rules:
 *       - name: no-plaintext       # optional label, shown in explanations
 *         action: deny
 *         from: [unauthenticated]
 *       - action: allow
 *         from: [frontend, "spiffe://trellis.local/ns/default/svc/admin"]
 *         methods: [GET, HEAD]
 *         paths: [/api, /healthz]
 */
import { z } from 'zod';
import { validationError } from '../../util/validation.js';
import { parseSpiffeId } from '../spiffe.js';
import { ANY_AUTHENTICATED, SPIFFE_PREFIX, UNAUTHENTICATED } from './sources.js';
import { MESH_WIDE, type Policy, type PolicyRule } from './types.js';

export const POLICY_LIMITS = { rules: 256, entries: 64, pathLength: 1024 } as const;

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const METHOD = /^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,31}$/;
const SPIFFE_PATTERN = /^spiffe:\/\/[a-z0-9._-]{1,255}(\/[A-Za-z0-9._-]+)*(\/\*|\*)?$/;

function label(what: string, example: string) {
  return z.string({ required_error: `${what} is required, such as ${example}`, invalid_type_error: `${what} must be a string such as ${example}` })
    .refine((s) => DNS_LABEL.test(s), (s) => ({
      message: `${what} must be a DNS label: 1–63 lowercase letters, digits or '-', starting and ending with a letter or digit (got ${JSON.stringify(s).slice(0, 80)})`,
    }));
}

export const policyNameSchema = label('name', 'backend-callers');

const actionSchema = (what: string) => z.enum(['allow', 'deny'], {
  errorMap: () => ({ message: `${what} must be "allow" or "deny"` }),
});

function list<T extends z.ZodTypeAny>(what: string, example: string, item: T) {
  return z.array(item, { invalid_type_error: `${what} must be a list such as ${example}` })
    .min(1, `${what} must not be empty: leave it out to match every ${what === 'from' ? 'caller' : what === 'methods' ? 'method' : 'path'}`)
    .max(POLICY_LIMITS.entries, `${what} may have at most ${POLICY_LIMITS.entries} entries`);
}

const sourceSchema = z.string({ invalid_type_error: 'each entry of from must be a string: *, unauthenticated, a service name or a spiffe:// ID' })
  .superRefine((s, ctx) => {
    if (s === ANY_AUTHENTICATED || s === UNAUTHENTICATED) return;
    if (s.startsWith(SPIFFE_PREFIX)) {
      if (!SPIFFE_PATTERN.test(s) || (!s.endsWith('*') && parseSpiffeId(s) === undefined)) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `from entry ${JSON.stringify(s).slice(0, 120)} is not a SPIFFE ID of the form spiffe://<trust-domain>/ns/<namespace>/svc/<service> (a trailing * matches a prefix)` });
      }
      return;
    }
    if (!DNS_LABEL.test(s)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `from entry ${JSON.stringify(s).slice(0, 80)} must be *, unauthenticated, a service name (a DNS label) or a spiffe:// ID` });
    }
  });

const methodSchema = z.string({ invalid_type_error: 'each method must be a string such as GET' })
  .regex(METHOD, 'each method must be an HTTP method such as GET or POST')
  .transform((m) => m.toUpperCase());

const pathSchema = z.string({ invalid_type_error: 'each path must be a string such as /api' })
  .max(POLICY_LIMITS.pathLength, `each path must be at most ${POLICY_LIMITS.pathLength} characters`)
  .regex(/^\/[\x21-\x7e]*$/, 'each path must be a prefix starting with "/", such as /api (no spaces)')
  .refine((p) => !/[?#*]/.test(p), 'each path is a prefix: leave out "?", "#" and "*" (/api matches /api/anything)');

const ruleShape = {
  name: label('rule name', 'allow-frontend').optional(),
  action: actionSchema('action'),
  from: list('from', '[frontend, unauthenticated]', sourceSchema).optional(),
  methods: list('methods', '[GET, POST]', methodSchema).optional(),
  paths: list('paths', '[/api, /healthz]', pathSchema).optional(),
};

const ruleSchema = z.object(ruleShape, { invalid_type_error: 'each rule must be a map such as { action: allow, from: [frontend] }' }).strict();

const policyShape = {
  name: policyNameSchema,
  service: z.string({
    required_error: 'service is required: the destination service\'s name, or "*" for every service',
    invalid_type_error: 'service must be the destination service\'s name, or "*" for every service',
  }).refine((s) => s === MESH_WIDE || DNS_LABEL.test(s), (s) => ({
    message: `service must be the destination service's name (a DNS label) or "*" for every service (got ${JSON.stringify(s).slice(0, 80)})`,
  })),
  default: actionSchema('default').optional(),
  rules: z.array(ruleSchema, { invalid_type_error: 'rules must be a list such as [{ action: allow, from: [frontend] }]' })
    .max(POLICY_LIMITS.rules, `a policy may have at most ${POLICY_LIMITS.rules} rules`).default([]),
};

const acceptedFields: Readonly<Record<string, readonly string[]>> = {
  policy: Object.keys(policyShape),
  rule: Object.keys(ruleShape),
};

export const policySchema = z.object(policyShape, {
  invalid_type_error: 'a policy must be a map such as { name: backend-callers, service: backend, rules: [...] }',
}).strict().superRefine((p, ctx) => {
  if (p.rules.length === 0 && p.default === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['rules'], message: 'rules is empty and there is no default: a policy needs at least one rule or a default' });
  }
  const names = new Map<string, number>();
  for (const [index, rule] of p.rules.entries()) {
    if (rule.name === undefined) continue;
    const other = names.get(rule.name);
    if (other !== undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['rules', index, 'name'], message: `rule name ${JSON.stringify(rule.name)} is already the name of rules.${other}: give each rule its own` });
    }
    names.set(rule.name, index);
  }
});

function freezeRule(rule: z.output<typeof ruleSchema>): PolicyRule {
  return Object.freeze({
    ...(rule.name === undefined ? {} : { name: rule.name }),
    action: rule.action,
    ...(rule.from === undefined ? {} : { from: Object.freeze([...new Set(rule.from)]) }),
    ...(rule.methods === undefined ? {} : { methods: Object.freeze([...new Set(rule.methods)]) }),
    ...(rule.paths === undefined ? {} : { paths: Object.freeze([...new Set(rule.paths)]) }),
  });
}

/**
 * Validate a policy document.
 * @param field where it sits in the caller's document (`policies.2`), for messages.
 * @throws TrellisError VALIDATION naming the field, e.g. `rules.0.action`.
 */
export function parsePolicy(raw: unknown, field = ''): Policy {
  const result = policySchema.safeParse(raw);
  if (!result.success) {
    const where = (result.error.issues[0]?.path.length ?? 0) > 0 ? 'rule' : 'policy';
    throw validationError(result.error, field, (key) =>
      `unknown field ${JSON.stringify(key)}: remove it or fix its spelling (accepted in a ${where}: ${(acceptedFields[where] ?? []).join(', ')})`);
  }
  const p = result.data;
  return Object.freeze({
    name: p.name,
    service: p.service,
    ...(p.default === undefined ? {} : { default: p.default }),
    rules: Object.freeze(p.rules.map(freezeRule)),
  });
}
