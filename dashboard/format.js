// Number formatting shared by the graph and the tables.
export function percent(rate) {
  return rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(rate === 1 ? 0 : 1)}%`;
}
export function rps(value) {
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} rps`;
}
export function ms(value) {
  return value === null || value === undefined ? '—' : `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;
}
/** Health of a service from its instances: passing, degraded (some down), critical (none up), idle (none). */
export function serviceHealth(instances) {
  if (instances.length === 0) return 'idle';
  const down = instances.filter((i) => i.health === 'critical' || i.health === 'gone').length;
  if (down === 0) return 'passing';
  return down === instances.length ? 'critical' : 'degraded';
}
/** Time left before an expiry, e.g. "expires in 23 h", "expires in 4 min"; "expired" when past. */
export function timeLeft(msLeft) {
  if (msLeft <= 0) return 'expired';
  if (msLeft >= 2 * 3_600_000) return `expires in ${Math.round(msLeft / 3_600_000)} h`;
  if (msLeft >= 2 * 60_000) return `expires in ${Math.round(msLeft / 60_000)} min`;
  return `expires in ${Math.max(1, Math.round(msLeft / 1_000))} s`;
}
/** A span of time for labels: "15 min", "10 s". */
export function duration(msSpan) {
  return msSpan >= 60_000 && msSpan % 60_000 === 0 ? `${msSpan / 60_000} min` : `${msSpan / 1_000} s`;
}
