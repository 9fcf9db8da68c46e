/** How `stat`, `top` and `edges` print golden metrics: one formatting for all three. */
import type { Golden } from '../telemetry/aggregate.js';

export const GOLDEN_HEADERS = ['SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99'];

function ms(value: number | null): string {
  return value === null ? '-' : `${value < 10 ? value.toFixed(1) : Math.round(value)}ms`;
}

export function goldenCells(g: Golden): string[] {
  return [
    g.successRate === null ? '-' : `${(g.successRate * 100).toFixed(2)}%`,
    `${g.rps.toFixed(1)}rps`,
    ms(g.latencyMs.p50),
    ms(g.latencyMs.p95),
    ms(g.latencyMs.p99),
  ];
}
