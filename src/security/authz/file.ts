/**
 * A policy file for `trellis policy apply -f FILE`: one policy, several under `policies:`,
 * or several YAML documents separated by `---` (as with kubectl). Read with positions kept
 * (the project's one YAML reader, src/util/yaml-file.ts), validated whole
 * before anything is sent, so that an error names the file, the line and the field —
 * `policy.yaml:9: policies.1.rules.0.action must be "allow" or "deny"` — and nothing is
 * applied.
 *
 *     policies:
 *       - name: backend-callers
 *         service: backend
 *         default: deny
 *         rules:
 *           - { action: allow, from: [frontend], methods: [GET], paths: [/api] }
 */
import { ErrorCodes, TrellisError } from '../../errors.js';
import { parseYamlDocuments, readTextFile, type YamlFile } from '../../util/yaml-file.js';
import { parsePolicy } from './schema.js';
import type { Policy } from './types.js';

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The policies of one document, each with the field it sits at (for duplicate-name errors). */
function policiesOf(doc: YamlFile, file: string): Array<{ policy: Policy; field: string }> {
  const value = doc.value;
  const fail = (message: string, field?: string): never => {
    if (field === undefined) throw new TrellisError(ErrorCodes.CONFIG, `${file}:1: ${message}`, { details: { file, line: 1 } });
    throw doc.locate(new TrellisError(ErrorCodes.VALIDATION, message, { field }));
  };
  try {
    if (!isMap(value)) return fail('a policy file must hold maps: one policy ({ name, service, rules }) or { policies: [...] } per document');
    if (!('policies' in value)) return [{ policy: parsePolicy(value), field: 'name' }];
    const extra = Object.keys(value).find((key) => key !== 'policies');
    if (extra !== undefined) fail(`unknown field ${JSON.stringify(extra)}: a document with "policies" holds nothing else`, extra);
    const list = value['policies'];
    if (!Array.isArray(list) || list.length === 0) return fail('policies must be a non-empty list of policies', 'policies');
    return list.map((item, index) => ({ policy: parsePolicy(item, `policies.${index}`), field: `policies.${index}.name` }));
  } catch (err) {
    throw doc.locate(err);
  }
}

/** Parse policy-file text; `file` is the name used in messages. @throws TrellisError CONFIG. */
export function parsePolicyFile(text: string, file: string): Policy[] {
  const docs = parseYamlDocuments(text, file).filter((doc) => doc.value !== undefined);
  if (docs.length === 0) throw new TrellisError(ErrorCodes.CONFIG, `${file}:1: the policy file is empty: write a policy ({ name, service, rules })`, { details: { file, line: 1 } });
  const seen = new Set<string>();
  const policies: Policy[] = [];
  for (const doc of docs) {
    for (const { policy, field } of policiesOf(doc, file)) {
      if (seen.has(policy.name)) {
        throw doc.locate(new TrellisError(ErrorCodes.VALIDATION, `policy name ${JSON.stringify(policy.name)} appears twice in the file: give each policy its own name`, { field }));
      }
      seen.add(policy.name);
      policies.push(policy);
    }
  }
  return policies;
}

export async function loadPolicyFile(file: string): Promise<Policy[]> {
  return parsePolicyFile(await readTextFile(file, 'the policy file'), file);
}
