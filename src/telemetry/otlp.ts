/**
 * OTLP/HTTP protobuf export of the sidecar's spans (one per hop), with the official
 * OpenTelemetry packages: each finished hop becomes a `ReadableSpan` handed to the SDK's
 * BatchSpanProcessor, whose OTLPTraceExporter (@opentelemetry/exporter-trace-otlp-proto)
 * encodes and posts batches to `telemetry.otlp.endpoint` — off the request path, on its own
 * timer, with the SDK's queue bound (spans beyond it are dropped, as the SDK does).
 *
 * The packages are loaded only when a sidecar is configured to export (dynamic import on the
 * first span): a sidecar without `telemetry.otlp` never loads them (its idle memory stays as it
 * was). Spans that finish while they load wait in a small queue.
 *
 * Resource: `service.name` (the service), `service.instance.id`, `service.namespace` and, with
 * mTLS, `trellis.spiffe_id` — read when the packages load, so the first certificate is known.
 */
/** `telemetry.otlp` of the sidecar config (validated in src/proxy/config.ts). */
export interface OtlpConfig {
  /** The traces URL, such as http://collector:4318/v1/traces. */
  readonly endpoint: string;
  /** Sent with every export (an API key…). */
  readonly headers: Readonly<Record<string, string>>;
}

/** One hop, as the sidecar knows it; ids are lower-case hex (W3C trace context). */
export interface HopSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** The span that sent the request to this hop (the app's, or the previous sidecar's); undefined when this hop started the trace. */
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** server: a sidecar's inbound hop; client: its outbound one. */
  readonly kind: 'server' | 'client';
  /** Epoch ms (fractional). */
  readonly startMs: number;
  readonly durationMs: number;
  readonly error: boolean;
  /** The trellis-error code of an answer the proxy made, else ''. */
  readonly errorCode: string;
  readonly attributes: Readonly<Record<string, string | number>>;
}

export interface SpanExport {
  record(span: HopSpan): void;
  /** Export what is queued and stop. */
  close(): Promise<void>;
}

export interface ExportResource {
  readonly service: string;
  readonly instance: string;
  readonly namespace: string;
  spiffeId(): string | undefined;
}

/** Spans kept while the packages load. */
const MAX_WAITING = 2_048;

type Processor = { onEnd(span: never): void; forceFlush(): Promise<void>; shutdown(): Promise<void> };

function hrTime(ms: number): [number, number] {
  const seconds = Math.floor(ms / 1_000);
  return [seconds, Math.round((ms - seconds * 1_000) * 1e6)];
}

interface Loaded { send(span: HopSpan): void; close(): Promise<void> }

async function load(config: OtlpConfig, resource: ExportResource, batchDelayMs: number): Promise<Loaded> {
  const [api, sdk, resources, exporterModule] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/exporter-trace-otlp-proto'),
  ]);
  const spiffeId = resource.spiffeId();
  const attributes: Record<string, string> = {
    'service.name': resource.service,
    'service.instance.id': resource.instance,
    'service.namespace': resource.namespace,
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.language': 'nodejs',
  };
  if (spiffeId !== undefined) attributes['trellis.spiffe_id'] = spiffeId;
  const exportedResource = resources.resourceFromAttributes(attributes);
  const exporter = new exporterModule.OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers } });
  const processor: Processor = new sdk.BatchSpanProcessor(exporter, { scheduledDelayMillis: batchDelayMs, maxQueueSize: 8_192, maxExportBatchSize: 512 });
  const scope = { name: 'trellis-sidecar' };
  const toSpan = (hop: HopSpan): unknown => {
    const context = { traceId: hop.traceId, spanId: hop.spanId, traceFlags: api.TraceFlags.SAMPLED, isRemote: false };
    return {
      name: hop.name,
      kind: hop.kind === 'server' ? api.SpanKind.SERVER : api.SpanKind.CLIENT,
      spanContext: () => context,
      ...(hop.parentSpanId === undefined ? {} : { parentSpanContext: { traceId: hop.traceId, spanId: hop.parentSpanId, traceFlags: api.TraceFlags.SAMPLED, isRemote: true } }),
      startTime: hrTime(hop.startMs),
      endTime: hrTime(hop.startMs + hop.durationMs),
      duration: hrTime(hop.durationMs),
      status: hop.error ? { code: api.SpanStatusCode.ERROR, ...(hop.errorCode === '' ? {} : { message: hop.errorCode }) } : { code: api.SpanStatusCode.UNSET },
      attributes: hop.attributes,
      links: [],
      events: [],
      ended: true,
      resource: exportedResource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  };
  return { send: (hop) => processor.onEnd(toSpan(hop) as never), close: () => processor.shutdown() };
}

/**
 * `batchDelayMs`: the longest a span waits for its batch (the SDK's scheduledDelayMillis;
 * 1 s, as Linkerd's and most collectors' defaults are of that order).
 * `onError`: the packages could not be loaded (the export is then off; the proxy serves on).
 */
export function startOtlpExport(config: OtlpConfig, resource: ExportResource, onError: (err: unknown) => void, batchDelayMs = 1_000): SpanExport {
  let loaded: Loaded | undefined;
  let waiting: HopSpan[] = [];
  let loading: Promise<void> | undefined;
  const start = (): Promise<void> => {
    loading ??= load(config, resource, batchDelayMs).then((ready) => {
      loaded = ready;
      for (const span of waiting) ready.send(span);
      waiting = [];
    }, (err: unknown) => {
      waiting = [];
      onError(err);
    });
    return loading;
  };
  return {
    record(span) {
      if (loaded !== undefined) {
        loaded.send(span);
        return;
      }
      if (waiting.length < MAX_WAITING) waiting.push(span);
      void start();
    },
    async close() {
      if (loading !== undefined) await loading;
      await loaded?.close();
    },
  };
}
