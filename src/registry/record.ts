/** Building and updating instance records: pure functions, no I/O. */
import type { ActiveCheckSpec } from '../core/health.js';
import { worstStatus, type HealthStatus } from '../core/health.js';
import { Defaults } from './limits.js';
import type { z } from 'zod';
import type { registrationBodySchema } from './schema.js';
import type { CheckState, InstanceRecord, NamedCheckSpec } from './types.js';

export const TTL_CHECK_NAME = 'ttl';

type ValidBody = z.output<typeof registrationBodySchema>;

function namedChecks(body: ValidBody): NamedCheckSpec[] {
  const seen = new Map<string, number>();
  return (body.checks ?? []).map((c) => {
    const intervalMs = c.interval ?? Defaults.checkIntervalMs;
    const common = {
      intervalMs,
      timeoutMs: Math.min(c.timeout ?? Defaults.checkTimeoutMs, intervalMs),
      failuresBeforeCritical: c.failuresBeforeCritical ?? Defaults.failuresBeforeCritical,
      successesBeforePassing: c.successesBeforePassing ?? Defaults.successesBeforePassing,
      initialStatus: c.initialStatus ?? 'critical',
      ...(c.port === undefined ? {} : { port: c.port }),
    };
    const spec: ActiveCheckSpec = c.type === 'http'
      ? { type: 'http', path: c.path, method: c.method ?? 'GET', ...(c.tls === undefined ? {} : { tls: c.tls }), ...common }
      : { type: 'tcp', ...common };
    const base = c.name ?? c.type;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return { ...spec, name: n === 1 ? base : `${base}-${n}` };
  });
}

/** A fresh record for a (re-)registration. Registration counts as the first heartbeat. */
export function newRecord(service: string, id: string, body: ValidBody, lease: string | null, now: Date): InstanceRecord {
  const at = now.toISOString();
  const activeChecks = namedChecks(body);
  const checks: CheckState[] = [];
  if (body.ttl !== undefined) {
    checks.push({ name: TTL_CHECK_NAME, kind: 'ttl', status: 'passing', output: 'registered', updatedAt: at });
  }
  for (const c of activeChecks) {
    checks.push({ name: c.name, kind: c.type, status: c.initialStatus, output: 'not yet run', updatedAt: at });
  }
  const record: InstanceRecord = {
    service,
    id,
    address: body.address,
    port: body.port,
    weight: body.weight ?? Defaults.weight,
    metadata: body.metadata ?? {},
    status: 'passing',
    checks,
    ttlMs: body.ttl ?? null,
    deregisterCriticalAfterMs: body.deregisterCriticalAfter ?? Defaults.deregisterCriticalAfterMs,
    activeChecks,
    lease,
    registeredAt: at,
    criticalSince: null,
  };
  return withStatus(record, record, now);
}

/** Recompute the aggregate status and criticalSince after the checks changed. */
export function withStatus(record: InstanceRecord, previous: InstanceRecord, now: Date): InstanceRecord {
  const status = worstStatus(record.checks.map((c) => c.status));
  const criticalSince = status !== 'critical'
    ? null
    : previous.status === 'critical' && previous.criticalSince !== null ? previous.criticalSince : now.toISOString();
  return { ...record, status, criticalSince };
}

/**
 * Set one check's status. Returns undefined when nothing changes (so callers write nothing:
 * repeated results must not flood watchers with events).
 */
export function withCheckStatus(
  record: InstanceRecord,
  checkName: string,
  status: HealthStatus,
  output: string,
  now: Date,
): InstanceRecord | undefined {
  const index = record.checks.findIndex((c) => c.name === checkName);
  const current = record.checks[index];
  if (current === undefined || current.status === status) return undefined;
  const checks = record.checks.slice();
  checks[index] = { ...current, status, output: output.slice(0, 4096), updatedAt: now.toISOString() };
  return withStatus({ ...record, checks }, record, now);
}
