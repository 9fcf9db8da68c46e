/**
 * A policy file for `trellis policy apply -f FILE`: one policy, or several under
 * `policies:`. Read with positions kept (the sidecar config's reader, which uses the mesh
 * file's line lookup), validated whole before anything is sent, so that an error names the
 * file, the line and the field — `policy.yaml:9: policies.1.rules.0.action must be "allow"
 * or "deny"` — and nothing is applied.
 *
 *     policies:
 *       - name: backend-callers
 *         service: backend
 *         default: deny
 *         rules:
 *           - { action: allow, from: [frontend], methods: [GET], paths: [/api] }
 */
import { readFile } from 'node:fs/promises';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';
import { parseConfigText } from '../../proxy/config-file.js';
import { parsePolicy } from './schema.js';
import type { Policy } from './types.js';

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parse policy-file text; `file` is the name used in messages. @throws TrellisError CONFIG. */
export function parsePolicyFile(text: string, file: string): Policy[] {
  const doc = parseConfigText(text, file);
  const value = doc.value;
  const fail = (message: string, field?: string): never => {
    if (field === undefined) throw new TrellisError(ErrorCodes.CONFIG, `${file}:1: ${message}`, { details: { file, line: 1 } });
    throw doc.locate(new TrellisError(ErrorCodes.VALIDATION, message, { field }));
  };
  try {
    if (!isMap(value)) {
      return fail('a policy file must be a map: one policy ({ name, service, rules }) or { policies: [...] }');
    }
    if ('policies' in value) {
      const extra = Object.keys(value).find((key) => key !== 'policies');
      if (extra !== undefined) fail(`unknown field ${JSON.stringify(extra)}: a file with "policies" holds nothing else`, extra);
      const list = value['policies'];
      if (!Array.isArray(list) || list.length === 0) return fail('policies must be a non-empty list of policies', 'policies');
      const policies = list.map((item, index) => parsePolicy(item, `policies.${index}`));
      const seen = new Map<string, number>();
      for (const [index, policy] of policies.entries()) {
        const other = seen.get(policy.name);
        if (other !== undefined) fail(`policy name ${JSON.stringify(policy.name)} appears twice (also policies.${other}): give each policy its own name`, `policies.${index}.name`);
        seen.set(policy.name, index);
      }
      return policies;
    }
    return [parsePolicy(value)];
  } catch (err) {
    throw doc.locate(err);
  }
}

export async function loadPolicyFile(file: string): Promise<Policy[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new TrellisError(ErrorCodes.CONFIG, `cannot read the policy file ${file}: ${messageOf(err)}`, { cause: err });
  }
  return parsePolicyFile(text, file);
}
