import type { ActiveCheckSpec } from '../core/health.js';
import type { HealthStatus } from '../core/health.js';
import type { LeaseId } from '../store/types.js';

export type CheckKind = 'ttl' | ActiveCheckSpec['type'];

/** The current state of one check of an instance. */
export interface CheckState {
  name: string;
  kind: CheckKind;
  status: HealthStatus;
  /** What the last status change was based on ("HTTP GET …: 500", "no heartbeat within 10s"). */
  output: string;
  updatedAt: string;
}

/** An active check as stored: the validated spec plus its unique name. */
export type NamedCheckSpec = ActiveCheckSpec & { name: string };

/** What is stored under /services/<service>/instances/<id>. */
export interface InstanceRecord {
  service: string;
  id: string;
  address: string;
  port: number;
  /** 0 = drained: listed, but load balancers and DNS send it nothing. */
  weight: number;
  metadata: Record<string, string>;
  /** Worst of the check states; `passing` with no checks. */
  status: HealthStatus;
  checks: CheckState[];
  /** Heartbeat TTL; null when the instance does not heartbeat. */
  ttlMs: number | null;
  deregisterCriticalAfterMs: number;
  activeChecks: NamedCheckSpec[];
  /** The heartbeat lease, when ttlMs is set. */
  lease: LeaseId | null;
  registeredAt: string;
  /** When the instance last became critical; null unless critical. */
  criticalSince: string | null;
}

/** An instance as read, with the store revision of its last change. */
export interface Instance extends InstanceRecord {
  revision: number;
}

export interface ServiceSummary {
  name: string;
  instances: number;
  passing: number;
  warning: number;
  critical: number;
}

export type RegistryEventType = 'registered' | 'updated' | 'deregistered';

/** One change in the registry, as watchers see it. */
export interface RegistryEvent {
  revision: number;
  type: RegistryEventType;
  service: string;
  id: string;
  /** The instance after the change; for `deregistered`, the last state it had. */
  instance: InstanceRecord;
  /** The status before the change, when the instance existed. */
  previousStatus: HealthStatus | null;
  statusChanged: boolean;
}

/** Healthy = may receive traffic: passing or warning (like Consul's DNS). */
export function isHealthy(instance: Pick<InstanceRecord, 'status'>): boolean {
  return instance.status !== 'critical';
}
