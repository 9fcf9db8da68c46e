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
