/** How policies and decisions read in a terminal (the policy verbs share it). */
import type { CheckResult } from '../../../security/authz/store.js';
import type { Decision, PolicyRule, StoredPolicy } from '../../../security/authz/types.js';
import { formatTable } from '../../output.js';

export function describeRule(rule: PolicyRule): string {
  const parts = [rule.name === undefined ? rule.action : `${rule.name}: ${rule.action}`];
  parts.push(rule.from === undefined ? 'from anyone' : `from ${rule.from.join(',')}`);
  if (rule.methods !== undefined) parts.push(rule.methods.join(','));
  if (rule.paths !== undefined) parts.push(rule.paths.join(','));
  return parts.join(' ');
}

export function policyTable(policies: readonly StoredPolicy[]): string {
  return formatTable(['NAME', 'SERVICE', 'DEFAULT', 'RULES', 'REVISION'], policies.map((p) => [
    p.name,
    p.service,
    p.default ?? '-',
    p.rules.length === 0 ? '-' : p.rules.map(describeRule).join('; '),
    p.revision,
  ]));
}

function decidedBy(decision: Decision): string {
  const by = decision.by;
  if (by.kind === 'rule') return `policy ${by.policy}, ${by.ruleName === undefined ? `rules.${by.rule}` : `rule ${by.ruleName} (rules.${by.rule})`}`;
  if (by.kind === 'trust-domain') return `the caller's trust domain ${by.trustDomain} (not this mesh's, not federated)`;
  return by.scope === 'built-in' ? 'the built-in default' : `the ${by.scope} default set by policy ${by.policy ?? '?'}`;
}

export function checkReport(result: CheckResult): string {
  const { request, decision } = result;
  const what = request.protocol === 'tcp' ? 'TCP connection' : `${request.method ?? 'GET'} ${request.path ?? '/'}`;
  return [
    `${decision.allowed ? 'ALLOWED' : 'DENIED'}  ${decision.caller} → ${request.service}  ${what}`,
    `decided by:  ${decidedBy(decision)}`,
    `why:         ${decision.explanation}`,
    `policies:    ${result.policies.length === 0 ? 'none apply' : result.policies.join(', ')} (revision ${result.revision})`,
  ].join('\n');
}
