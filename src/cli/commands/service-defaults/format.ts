/** How service defaults read in a terminal (the verbs share it). */
import type { ServiceDefaults } from '../../../core/service-defaults.js';
import { formatTable } from '../../output.js';

/** `timeout=2s retry={"maxAttempts":2}`: the fields as written. */
export function describePolicy(policy: Readonly<Record<string, unknown>>): string {
  const fields = Object.entries(policy).map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return fields.length === 0 ? '(all built-in defaults)' : fields.join(' ');
}

export function serviceDefaultsTable(entries: readonly ServiceDefaults[]): string {
  return formatTable(['SERVICE', 'POLICY', 'REVISION'], entries.map((d) => [d.service, describePolicy(d.policy), d.revision]));
}
