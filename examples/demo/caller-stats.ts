/** The caller's report (examples/hello/caller.ts, GET /stats) and the difference between two reports. */

export interface CallerStats {
  sent: number;
  ok: number;
  failed: number;
  byInstance: Record<string, number>;
  failures: Array<{ at: string; reason: string }>;
  /** With callerStats(url, since): answers per instance to the requests sent at or after `since`. */
  sentAfter?: Record<string, number>;
}

export async function callerStats(url: string, since?: number): Promise<CallerStats> {
  const response = await fetch(since === undefined ? url : `${url}?sentAfter=${since}`, { signal: AbortSignal.timeout(2_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return await response.json() as CallerStats;
}

/** What happened between two reports (the caller keeps its last 20 failures). */
export function delta(before: CallerStats, after: CallerStats): CallerStats {
  const failed = after.failed - before.failed;
  const ids = new Set([...Object.keys(before.byInstance), ...Object.keys(after.byInstance)]);
  return {
    sent: after.sent - before.sent,
    ok: after.ok - before.ok,
    failed,
    byInstance: Object.fromEntries([...ids].map((id) => [id, (after.byInstance[id] ?? 0) - (before.byInstance[id] ?? 0)])),
    failures: failed === 0 ? [] : after.failures.slice(-Math.min(failed, after.failures.length)),
  };
}
