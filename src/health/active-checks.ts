/**
 * Runs the active checks (HTTP, TCP) of every registered instance: one CheckRunner per
 * (instance, check), created and stopped as the registry watch says instances come, change
 * and go. A runner's status change is written to the registry (an event for every watcher).
 *
 * `owns` decides which instances this control plane checks; with one control plane it owns
 * all of them. With several replicas on a shared store, ownership follows the live replica set
 * (src/control-plane/replicas.ts) and `rebalance()` re-applies it when the set changes.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Registry } from '../registry/registry.js';
import type { InstanceRecord, NamedCheckSpec } from '../registry/types.js';
import { follow } from '../util/follow.js';
import { CheckRunner } from './check-runner.js';

export interface ActiveChecksOptions {
  minIntervalMs?: number;
  owns?: (instance: Pick<InstanceRecord, 'service' | 'id'>) => boolean;
  /** The checks' clock (default: the real one). */
  clock?: Clock;
}

export interface ActiveChecks {
  /** How many checks are running. */
  readonly running: number;
  /** Ownership changed (a replica came or went): start and stop runners to match. */
  rebalance(): void;
  close(): void;
}

interface Running {
  runner: CheckRunner;
  fingerprint: string;
}

function instanceRef(instance: Pick<InstanceRecord, 'service' | 'id'>): string {
  return `${instance.service}/${instance.id}`;
}

function fingerprint(instance: InstanceRecord, spec: NamedCheckSpec): string {
  return JSON.stringify([instance.address, instance.port, spec]);
}

export async function startActiveChecks(registry: Registry, logger: Logger, options: ActiveChecksOptions = {}): Promise<ActiveChecks> {
  const owns = options.owns ?? (() => true);
  /** instance ref → check name → runner */
  const byInstance = new Map<string, Map<string, Running>>();
  /** Every instance with active checks, owned or not, for rebalancing. */
  const known = new Map<string, InstanceRecord>();

  const stopInstance = (ref: string): void => {
    for (const { runner } of byInstance.get(ref)?.values() ?? []) runner.stop();
    byInstance.delete(ref);
  };

  const sync = (instance: InstanceRecord): void => {
    const ref = instanceRef(instance);
    if (instance.activeChecks.length === 0) known.delete(ref); else known.set(ref, instance);
    if (!owns(instance) || instance.activeChecks.length === 0) { stopInstance(ref); return; }
    const current = byInstance.get(ref) ?? new Map<string, Running>();
    const wanted = new Set(instance.activeChecks.map((c) => c.name));
    for (const [name, { runner }] of current) {
      if (!wanted.has(name)) { runner.stop(); current.delete(name); }
    }
    for (const spec of instance.activeChecks) {
      const print = fingerprint(instance, spec);
      const existing = current.get(spec.name);
      if (existing?.fingerprint === print) continue;
      existing?.runner.stop();
      // Start from the status on record, so thresholds count from where the check is.
      const recorded = instance.checks.find((c) => c.name === spec.name)?.status ?? spec.initialStatus;
      const runner = new CheckRunner({
        spec: { ...spec, initialStatus: recorded },
        target: { address: instance.address, port: instance.port },
        ...(options.minIntervalMs === undefined ? {} : { minIntervalMs: options.minIntervalMs }),
        ...(options.clock === undefined ? {} : { clock: options.clock }),
        onChange: (status, result) => {
          registry.setCheckStatus(instance.service, instance.id, spec.name, status, result.output).then((updated) => {
            if (updated !== undefined) logger.info({ service: instance.service, id: instance.id, check: spec.name, status, output: result.output }, 'check status changed');
          }, (err: unknown) => logger.error({ err, ref, check: spec.name }, 'could not record a check result'));
        },
      });
      current.set(spec.name, { runner, fingerprint: print });
      runner.start();
    }
    byInstance.set(ref, current);
  };

  const follower = await follow('active-checks', logger, async (fail) => {
    const { instances, revision } = await registry.listAll();
    const present = new Set(instances.map(instanceRef));
    for (const ref of [...byInstance.keys()]) if (!present.has(ref)) stopInstance(ref);
    for (const ref of [...known.keys()]) if (!present.has(ref)) known.delete(ref);
    for (const instance of instances) sync(instance);
    return registry.watch({ afterRevision: revision }, {
      onEvent: (event) => {
        if (event.type === 'deregistered') {
          known.delete(instanceRef(event.instance));
          stopInstance(instanceRef(event.instance));
        } else {
          sync(event.instance);
        }
      },
      onError: fail,
    });
  });

  return {
    get running() {
      let n = 0;
      for (const checks of byInstance.values()) n += checks.size;
      return n;
    },
    rebalance() {
      for (const instance of [...known.values()]) sync(instance);
    },
    close() {
      follower.close();
      for (const ref of [...byInstance.keys()]) stopInstance(ref);
    },
  };
}
