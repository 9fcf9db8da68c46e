/**
 * prom-client's four classes, loaded from their own modules. `import 'prom-client'` runs its
 * index, which loads the default process metrics too — and with them @opentelemetry/api
 * (exemplars of the CPU metric): ≈ 5 MB of a sidecar's private memory that no Trellis process
 * uses (we never call collectDefaultMetrics). The classes are the very ones the index exports
 * (the index re-exports these modules), typed from prom-client's own declarations.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
export const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
export const Histogram = require('prom-client/lib/histogram') as typeof PromClient.Histogram;
export type Registry = PromClient.Registry;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
export type { MetricType } from 'prom-client';
