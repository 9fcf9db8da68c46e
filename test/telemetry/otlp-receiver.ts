/**
 * A local OTLP/HTTP receiver for the tests: it decodes every export with the official OTLP
 * protos (the generated protobuf code OpenTelemetry publishes in @opentelemetry/otlp-transformer
 * 0.52, installed as otlp-proto-decode) and keeps each span with its resource.
 */
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

interface DecodedValue { stringValue?: string }
interface DecodedSpan { traceId: Uint8Array; spanId: Uint8Array; parentSpanId: Uint8Array; name: string; kind: number; attributes: Array<{ key: string; value: DecodedValue }> }
interface DecodedRequest {
  resourceSpans: Array<{ resource?: { attributes: Array<{ key: string; value: DecodedValue }> }; scopeSpans: Array<{ spans: DecodedSpan[] }> }>;
}
interface ProtoType { decode(bytes: Uint8Array): unknown }

const require = createRequire(import.meta.url);
const root = require('otlp-proto-decode/build/src/generated/root.js') as { opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: ProtoType } } } } } };
const ExportTraceServiceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

export interface Received { traceId: string; spanId: string; parentSpanId: string; name: string; kind: number; service: string; instance: string; attributes: Record<string, string> }

export interface OtlpReceiver {
  /** The traces URL to export to. */
  readonly endpoint: string;
  readonly received: Received[];
  readonly contentTypes: Set<string>;
  close(): Promise<void>;
}

const hex = (bytes: Uint8Array | undefined): string => Buffer.from(bytes ?? new Uint8Array()).toString('hex');
const strings = (list: Array<{ key: string; value: DecodedValue }> | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).filter((a) => a.value.stringValue !== undefined).map((a) => [a.key, a.value.stringValue as string]));

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: Received[] = [];
  const contentTypes = new Set<string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      contentTypes.add(req.headers['content-type'] ?? '');
      const decoded = ExportTraceServiceRequest.decode(Buffer.concat(chunks)) as DecodedRequest;
      for (const rs of decoded.resourceSpans) {
        const resource = strings(rs.resource?.attributes);
        for (const ss of rs.scopeSpans) {
          for (const s of ss.spans) {
            received.push({
              traceId: hex(s.traceId), spanId: hex(s.spanId), parentSpanId: hex(s.parentSpanId), name: s.name, kind: s.kind,
              service: resource['service.name'] ?? '', instance: resource['service.instance.id'] ?? '', attributes: strings(s.attributes),
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    received,
    contentTypes,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
