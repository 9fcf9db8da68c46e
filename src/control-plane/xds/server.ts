/**
 * The xDS management server: Aggregated Discovery Service over gRPC (@grpc/grpc-js), state of
 * the world (stream.ts) and incremental (delta-stream.ts), for proxyless gRPC clients (grpc-js with @grpc/grpc-js-xds, grpc-go, grpc-java) and Envoy.
 *
 * Authenticated like every other API call: a token with discovery access (a sidecar's join token
 * or session, a read-only token, the admin token), in the call's `authorization: Bearer …`
 * metadata or in the bootstrap's node metadata (`TRELLIS_TOKEN`, what gRPC clients can send;
 * `trellis xds bootstrap` writes it). Contained: a stream count per token and in all, a
 * deadline for the first request, a cap on a request's size and on names per type, a client
 * that stops reading is cut off; every refusal is a gRPC status whose message carries a
 * TRELLIS_ERR_… code and says what to fix.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ErrorCodes, TrellisError, isTrellisError, messageOf, type ErrorCode } from '../../errors.js';
import type { Authenticator } from '../../security/access/authenticator.js';
import { allows, describePrincipal, type Principal } from '../../security/access/permissions.js';
import { formatHostPort, type HostPort } from '../../util/host-port.js';
import { adsService } from './protos.js';
import { DeltaAdsStream } from './delta-stream.js';
import { ResponseCache } from './responses.js';
import { AdsStream, type DiscoveryRequest, type XdsNode, type XdsStreamState } from './stream.js';
import type { XdsSnapshot } from './view.js';
import type { XdsView } from './view.js';

export interface XdsLimits {
  /** Streams in all (default 20,000). */
  readonly maxStreams?: number;
  /** Streams one token may hold open (default 2,000). */
  readonly maxStreamsPerToken?: number;
  /** How long a stream may take to send its first request (default 10 s). */
  readonly firstRequestMs?: number;
  /** Bytes queued to a client that does not read before its stream is cut (default 16 MiB). */
  readonly maxQueuedBytes?: number;
}

export interface XdsServerOptions {
  readonly listen: HostPort;
  readonly view: XdsView;
  readonly authenticator: Authenticator;
  readonly logger: Logger;
  readonly limits?: XdsLimits;
}

export interface XdsStats {
  streams: number;
  /** The last new version's fan-out to every stream: how many streams, in how many ms (the server's own share of a push). */
  lastFanOut: { streams: number; ms: number } | null;
  pushes: number;
  acks: number;
  nacks: number;
  refused: number;
}

export interface XdsServer {
  /** host:port the server listens on. */
  readonly address: string;
  stats(): XdsStats;
  close(): Promise<void>;
}

const grpcStatusByCode: Partial<Record<ErrorCode, grpc.status>> = {
  TRELLIS_ERR_TOKEN_MISSING: grpc.status.UNAUTHENTICATED,
  TRELLIS_ERR_TOKEN_INVALID: grpc.status.UNAUTHENTICATED,
  TRELLIS_ERR_TOKEN_EXPIRED: grpc.status.UNAUTHENTICATED,
  TRELLIS_ERR_PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  TRELLIS_ERR_XDS_TOO_MANY_STREAMS: grpc.status.RESOURCE_EXHAUSTED,
  TRELLIS_ERR_XDS_BAD_REQUEST: grpc.status.INVALID_ARGUMENT,
};

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const code = isTrellisError(err) ? err.code : ErrorCodes.INTERNAL;
  return { code: grpcStatusByCode[code] ?? grpc.status.UNAVAILABLE, details: `${messageOf(err)} [${code}]` };
}

/** The token a stream presents: call metadata first, else the node metadata of its first request. */
function tokenOf(metadata: grpc.Metadata, request: { node?: XdsNode }): string | undefined {
  const header = metadata.get('authorization')[0];
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match === null ? '' : match[1];
  }
  return request.node?.metadata?.fields?.['TRELLIS_TOKEN']?.stringValue;
}

const HOW = 'put a token with discovery access in the bootstrap\'s node.metadata.TRELLIS_TOKEN (`trellis xds bootstrap --service NAME` writes it) or in the call metadata as "authorization: Bearer <token>"';

export async function startXdsServer(options: XdsServerOptions): Promise<XdsServer> {
  const { view, authenticator, logger } = options;
  const maxStreams = options.limits?.maxStreams ?? 20_000;
  const perToken = options.limits?.maxStreamsPerToken ?? 2_000;
  const firstRequestMs = options.limits?.firstRequestMs ?? 10_000;
  const maxQueued = options.limits?.maxQueuedBytes ?? 16 * 1024 * 1024;
  const streams = new Set<XdsStreamState<never>>();
  const byToken = new Map<string, number>();
  const totals = { pushes: 0, acks: 0, nacks: 0, refused: 0 };
  let open = 0;

  let lastFanOut: XdsStats['lastFanOut'] = null;
  const unsubscribe = view.subscribe((snapshot) => {
    const started = performance.now();
    for (const s of streams) s.update(snapshot);
    lastFanOut = { streams: streams.size, ms: Math.round((performance.now() - started) * 100) / 100 };
  });

  type Create<Req, Res> = (snapshot: XdsSnapshot, send: (response: Res) => void, logger: Logger) => XdsStreamState<Req>;
  const serve = <Req extends { node?: XdsNode }, Res>(create: Create<Req, Res>): grpc.handleBidiStreamingCall<Req, Res> => (call) => {
    let ended = false;
    let principalKey: string | undefined;
    let ads: XdsStreamState<Req> | undefined;
    let chain: Promise<void> = Promise.resolve();
    const end = (err?: unknown): void => {
      if (ended) return;
      ended = true;
      first.cancel();
      if (ads !== undefined) {
        streams.delete(ads);
        totals.pushes += ads.counters.responses;
        totals.acks += ads.counters.acks;
        totals.nacks += ads.counters.nacks;
      }
      open -= 1;
      if (principalKey !== undefined) {
        const n = (byToken.get(principalKey) ?? 1) - 1;
        if (n === 0) byToken.delete(principalKey); else byToken.set(principalKey, n);
      }
      if (err !== undefined) {
        totals.refused += 1;
        call.emit('error', toStatus(err));
      } else {
        call.end();
      }
    };
    open += 1;
    const timer = setTimeout(() => end(new TrellisError(ErrorCodes.XDS_BAD_REQUEST, `no discovery request within ${firstRequestMs} ms of opening the stream`)), firstRequestMs);
    timer.unref();
    const first = { cancel: () => clearTimeout(timer) };
    if (open > maxStreams) {
      end(new TrellisError(ErrorCodes.XDS_TOO_MANY_STREAMS, `the xDS server holds its limit of ${maxStreams} streams: retry later, or raise --xds-max-streams`));
      return;
    }
    const send = (response: Res): void => {
      if (ended) return;
      call.write(response);
      if (call.writableLength > maxQueued) {
        end(new TrellisError(ErrorCodes.XDS_TOO_MANY_STREAMS, `the client read none of ${call.writableLength} queued bytes of updates: its stream is closed (it reconnects and gets the current state)`));
      }
    };
    const admit = async (request: Req): Promise<XdsStreamState<Req>> => {
      const token = tokenOf(call.metadata, request);
      if (token === undefined) throw new TrellisError(ErrorCodes.TOKEN_MISSING, `an xDS stream needs a token: ${HOW}`);
      if (token === '') throw new TrellisError(ErrorCodes.TOKEN_INVALID, `the authorization metadata is malformed: ${HOW}`);
      const principal: Principal = await authenticator.authenticate(token);
      if (!allows(principal, 'discovery', undefined)) {
        throw new TrellisError(ErrorCodes.PERMISSION_DENIED, `${describePrincipal(principal)} may not read the registry over xDS`);
      }
      const key = principal.kind === 'admin' ? 'admin' : principal.tokenId;
      const held = byToken.get(key) ?? 0;
      if (held >= perToken) {
        throw new TrellisError(ErrorCodes.XDS_TOO_MANY_STREAMS, `${describePrincipal(principal)} already holds ${held} xDS streams, the most one token may: close some, or give each client its own token`);
      }
      byToken.set(key, held + 1);
      principalKey = key;
      const created = create(view.current, send, logger);
      streams.add(created);
      return created;
    };
    const refuse = (request: Req, err: unknown): void => {
      if (!ended) logger.info({ node: request.node?.id ?? ads?.node?.id, err: messageOf(err) }, 'xds: stream refused');
      end(err);
    };
    /** Requests waiting in `chain` (behind the first one's admission): later ones queue behind them, in order. */
    let queued = 0;
    call.on('data', (request: Req) => {
      if (ended) return;
      // An admitted stream's requests (ACKs mostly) are handled at once: no promise per request.
      if (ads !== undefined && queued === 0) {
        try {
          ads.request(request);
        } catch (err) {
          refuse(request, err);
        }
        return;
      }
      queued += 1;
      chain = chain.then(async () => {
        if (ended) return;
        if (ads === undefined) {
          ads = await admit(request);
          first.cancel();
        }
        ads.request(request);
      }).catch((err: unknown) => refuse(request, err)).finally(() => { queued -= 1; });
    });
    call.on('end', () => { void chain.then(() => end()); });
    call.on('error', () => end());
    call.on('cancelled', () => end());
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': 1024 * 1024,
    'grpc.max_concurrent_streams': 1_000,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
  });
  const ads = adsService();
  const sotw = ads['StreamAggregatedResources'];
  // State-of-the-world responses are encoded once for every stream that shares them (responses.ts): a Buffer is written as is.
  const responses = new ResponseCache((response) => sotw.responseSerialize(response));
  const service: grpc.ServiceDefinition = {
    ...ads,
    StreamAggregatedResources: { ...sotw, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : sotw.responseSerialize(value)) },
  };
  server.addService(service, {
    StreamAggregatedResources: serve<DiscoveryRequest, Buffer>((snapshot, send, log) => new AdsStream(snapshot, send, log, responses)),
    DeltaAggregatedResources: serve((snapshot, send, log) => new DeltaAdsStream(snapshot, send, log)),
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(formatHostPort(options.listen), grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err)));
    });
  } catch (err) {
    unsubscribe();
    throw new TrellisError(ErrorCodes.LISTEN, `cannot listen on ${formatHostPort(options.listen)} for xDS: ${messageOf(err)} (pick another --xds address, or --xds off)`, { cause: err });
  }
  const address = formatHostPort({ host: options.listen.host, port });
  logger.info({ xds: address }, 'xds server ready');
  return {
    address,
    stats: () => {
      let pushes = totals.pushes; let acks = totals.acks; let nacks = totals.nacks;
      for (const s of streams) { pushes += s.counters.responses; acks += s.counters.acks; nacks += s.counters.nacks; }
      return { streams: streams.size, lastFanOut, pushes, acks, nacks, refused: totals.refused };
    },
    close: async () => {
      unsubscribe();
      // ADS streams never end by themselves: cancel them (clients reconnect to another replica).
      server.forceShutdown();
    },
  };
}
