/**
 * Check kinds by name. Each kind lives in its own module and registers its probe
 * factory here; adding a spec type without a factory is a compile error.
 */
import type { Clock } from '../../core/clock.js';
import { httpProbe } from './http.js';
import { tcpProbe } from './tcp.js';
import type { ActiveCheckSpec, Probe } from './types.js';

/** Each active check kind's spec, by kind name. */
type SpecByType = { [S in ActiveCheckSpec as S['type']]: S };

/** The names of the active check kinds (`http`, `tcp`). */
export type ActiveCheckType = keyof SpecByType;

/** The spec of the check kind named `T`. */
export type CheckSpecOf<T extends ActiveCheckType> = SpecByType[T];

/** Builds the probe for one check of a kind; its deadline runs on `clock` (default: the real one). */
export type ProbeFactory<T extends ActiveCheckType> = (spec: CheckSpecOf<T>, clock?: Clock) => Probe;

const probeFactories: { readonly [T in ActiveCheckType]: ProbeFactory<T> } = {
  http: httpProbe,
  tcp: tcpProbe,
};

/** The probe for a check spec, built by its kind's factory. */
export function probeFor<T extends ActiveCheckType>(spec: CheckSpecOf<T> & { type: T }, clock?: Clock): Probe {
  return probeFactories[spec.type](spec, clock);
}
