/** Test helper: one sample of a Prometheus text exposition, found by metric name and a subset of its labels. */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf('{');
    const close = line.lastIndexOf('}');
    const body = open === -1 ? '' : line.slice(open + 1, close);
    const found = new Map<string, string>();
    for (const match of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found.set(match[1], match[2]);
    const value = open === -1 ? line.slice(name.length) : line.slice(close + 1);
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) return Number(value.trim());
  }
  return undefined;
}
