/**
 * OTLP/HTTP protobuf export of the sidecar's spans (one per sampled hop), with the official
 * OpenTelemetry packages: the OTLPTraceExporter (@opentelemetry/exporter-trace-otlp-proto)
 * encodes and posts batches to `telemetry.otlp.endpoint`.
 *
 * Cheap on the request path: recording a hop is one push of a flat record (its ids, times and
 * the few strings the attributes are made of) onto a bounded queue. Everything else happens in
 * batches, on a timer (every `batchDelayMs`, or at once when 512 are queued), 128 spans per
 * event-loop turn: making the SDK's `ReadableSpan` objects and their attributes, and the
 * exporter's encoding and post.
 * Records beyond the queue's bound (8 192, the SDK's BatchSpanProcessor default) are dropped and
 * counted, as the SDK does. Which hops are recorded at all is the sampler's decision
 * (src/telemetry/trace-context.ts: ParentBased(TraceIdRatioBased(`sampleRatio`))).
 *
 * The packages are loaded only when a sidecar is configured to export (dynamic import on the
 * first span): a sidecar without `telemetry.otlp` never loads them (its idle memory stays as it
 * was). Spans that finish while they load wait in the same queue.
 *
 * Resource: `service.name` (the service), `service.instance.id`, `service.namespace` and, with
 * mTLS, `trellis.spiffe_id` — read when the packages load, so the first certificate is known.
 */
/**
 * The share of the traces a sidecar starts (a request without a valid traceparent) that are
 * sampled and exported: one in ten. Traces the caller started keep the caller's decision.
 * (Istio's default is 1%, OpenTelemetry SDKs' 100%: see docs/observability.md, "Sampling".)
 */
export const DEFAULT_SAMPLE_RATIO = 0.1;

/** `telemetry.otlp` of the sidecar config (validated in src/proxy/config.ts). */
export interface OtlpConfig {
  /** The traces URL, such as http://collector:4318/v1/traces. */
  readonly endpoint: string;
  /** Sent with every export (an API key…). */
  readonly headers: Readonly<Record<string, string>>;
  /** 0–1: the share of the traces this sidecar starts that are sampled (default {@link DEFAULT_SAMPLE_RATIO}). */
  readonly sampleRatio: number;
}

/** One sampled hop, as the sidecar recorded it; ids are lower-case hex (W3C trace context). */
export interface HopSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** The span that sent the request to this hop (the app's, or the previous sidecar's); undefined when this hop started the trace. */
  readonly parentSpanId: string | undefined;
  readonly direction: 'inbound' | 'outbound';
  /** Epoch ms (fractional). */
  readonly startMs: number;
  readonly durationMs: number;
  readonly error: boolean;
  /** The trellis-error code of an answer the proxy made, else ''. */
  readonly errorCode: string;
  readonly method: string;
  /** The request's path, with its query (dropped when the span is made). */
  readonly path: string;
  readonly status: number;
  /** The Host header, else the target service. */
  readonly authority: string;
  readonly service: string;
  /** The declared route, or [default]. */
  readonly route: string;
  readonly peer: string;
  readonly clientId: string;
  readonly requestId: string;
  readonly endpoint: { readonly id: string; readonly address: string; readonly port: number } | undefined;
}

export interface SpanExport {
  record(span: HopSpan): void;
  /** Records dropped because the queue was full. */
  dropped(): number;
  /** Export what is queued and stop. */
  close(): Promise<void>;
}

export interface ExportResource {
  readonly service: string;
  readonly instance: string;
  readonly namespace: string;
  spiffeId(): string | undefined;
}

/** Records kept before export (the SDK BatchSpanProcessor's maxQueueSize). */
const MAX_QUEUED = 8_192;
/** Queued records that make a batch go at once rather than at the timer (the SDK's maxExportBatchSize). */
const BATCH = 512;
/** Spans made and exported per event-loop turn (one export request each). */
const SLICE = 128;

function hrTime(ms: number): [number, number] {
  const seconds = Math.floor(ms / 1_000);
  return [seconds, Math.round((ms - seconds * 1_000) * 1e6)];
}

/** The span's attributes (OpenTelemetry's HTTP semantic conventions, and Trellis's own). */
function attributesOf(hop: HopSpan): Record<string, string | number> {
  const query = hop.path.indexOf('?');
  const attributes: Record<string, string | number> = {
    'http.request.method': hop.method,
    'url.path': query < 0 ? hop.path : hop.path.slice(0, query),
    'http.response.status_code': hop.status,
    'server.address': hop.authority,
    'trellis.direction': hop.direction,
    'trellis.service': hop.service,
    'trellis.route': hop.route,
    'trellis.peer': hop.peer,
    'trellis.request_id': hop.requestId,
  };
  if (hop.route !== '[default]') attributes['http.route'] = hop.route;
  if (hop.clientId !== '') attributes['trellis.client_id'] = hop.clientId;
  if (hop.errorCode !== '') attributes['trellis.error'] = hop.errorCode;
  if (hop.endpoint !== undefined) {
    attributes['trellis.endpoint'] = hop.endpoint.id;
    attributes['network.peer.address'] = hop.endpoint.address;
    attributes['network.peer.port'] = hop.endpoint.port;
  }
  return attributes;
}

interface Loaded { send(batch: readonly HopSpan[]): void; close(): Promise<void> }

async function load(config: OtlpConfig, resource: ExportResource, onError: (err: unknown) => void): Promise<Loaded> {
  const [api, resources, exporterModule] = await Promise.all([
    import('@opentelemetry/api'),
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
  const scope = { name: 'trellis-sidecar' };
  const toSpan = (hop: HopSpan): unknown => {
    const context = { traceId: hop.traceId, spanId: hop.spanId, traceFlags: api.TraceFlags.SAMPLED, isRemote: false };
    return {
      name: hop.route === '[default]' ? hop.method : `${hop.method} ${hop.route}`,
      kind: hop.direction === 'inbound' ? api.SpanKind.SERVER : api.SpanKind.CLIENT,
      spanContext: () => context,
      ...(hop.parentSpanId === undefined ? {} : { parentSpanContext: { traceId: hop.traceId, spanId: hop.parentSpanId, traceFlags: api.TraceFlags.SAMPLED, isRemote: true } }),
      startTime: hrTime(hop.startMs),
      endTime: hrTime(hop.startMs + hop.durationMs),
      duration: hrTime(hop.durationMs),
      status: hop.error ? { code: api.SpanStatusCode.ERROR, ...(hop.errorCode === '' ? {} : { message: hop.errorCode }) } : { code: api.SpanStatusCode.UNSET },
      attributes: attributesOf(hop),
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
  const pending = new Set<Promise<void>>();
  return {
    send(batch) {
      const done = new Promise<void>((resolve) => {
        exporter.export(batch.map(toSpan) as never, (result) => {
          if (result.code !== 0) onError(result.error ?? new Error(`OTLP export of ${batch.length} span(s) to ${config.endpoint} failed`));
          resolve();
        });
      });
      pending.add(done);
      void done.then(() => pending.delete(done));
    },
    async close() {
      await Promise.all(pending);
      await exporter.shutdown();
    },
  };
}

/**
 * `batchDelayMs`: the longest a span waits for its batch (the SDK's scheduledDelayMillis;
 * 1 s, as Linkerd's and most collectors' defaults are of that order).
 * `onError`: the packages could not be loaded (the export is then off; the proxy serves on),
 * or an export failed (those spans are lost, as with the SDK).
 */
export function startOtlpExport(config: OtlpConfig, resource: ExportResource, onError: (err: unknown) => void, batchDelayMs = 1_000): SpanExport {
  let loaded: Loaded | undefined;
  let failed = false;
  let loading: Promise<void> | undefined;
  let queue: HopSpan[] = [];
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;

  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    if (immediate !== undefined) clearImmediate(immediate);
    timer = undefined;
    immediate = undefined;
    if (loaded === undefined) return;
    // One slice per event-loop turn: making and encoding a thousand spans at once would hold
    // the sidecar's connections for tens of ms.
    const slice = queue.length <= SLICE ? queue : queue.slice(0, SLICE);
    queue = queue.length <= SLICE ? [] : queue.slice(SLICE);
    loaded.send(slice);
    if (queue.length > 0) immediate = setImmediate(flush);
  };
  const drain = (): void => {
    flush();
    if (immediate !== undefined) clearImmediate(immediate);
    immediate = undefined;
    while (loaded !== undefined && queue.length > 0) {
      const slice = queue.slice(0, SLICE);
      queue = queue.slice(SLICE);
      loaded.send(slice);
    }
  };
  const start = (): Promise<void> => {
    loading ??= load(config, resource, onError).then((ready) => {
      loaded = ready;
      if (queue.length > 0) timer ??= setTimeout(flush, batchDelayMs).unref();
    }, (err: unknown) => {
      failed = true;
      queue = [];
      onError(err);
    });
    return loading;
  };
  return {
    record(span) {
      if (failed) return;
      if (queue.length >= MAX_QUEUED) {
        dropped += 1;
        return;
      }
      queue.push(span);
      if (loaded === undefined) {
        void start();
        return;
      }
      // A full batch goes at the end of this turn; otherwise the timer takes what came within its delay.
      if (queue.length >= BATCH) immediate ??= setImmediate(flush);
      else timer ??= setTimeout(flush, batchDelayMs).unref();
    },
    dropped: () => dropped,
    async close() {
      if (loading !== undefined) await loading;
      drain();
      await loaded?.close();
    },
  };
}
