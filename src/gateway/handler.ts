/**
 * The gateway's handler, in front of the mesh's outbound pipeline (the same layers a sidecar
 * runs: timeout → retry → circuit breaker → balancer → mTLS to the service's sidecars):
 *
 *   CORS preflight (answered here) → request size limit → authentication (API key, JWT) →
 *   host + path routing (routes attached to the gateway) → the service's pipeline → CORS headers
 *
 * Every refusal is a failure value with its code (401 UNAUTHENTICATED with WWW-Authenticate,
 * 413 BODY_TOO_LARGE, 404 NO_ROUTE) and a log line; the gateway keeps serving. Headers the
 * gateway sets from credentials (claims, x-trellis-client) are first removed from what the
 * client sent, so that a client cannot forge them; Authorization and the API key are not
 * passed on to services.
 */
import type { Logger } from 'pino';
import { ErrorCodes } from '../errors.js';
import { failed, proxyFailure } from '../proxy/failure.js';
import { createFaultLayer } from '../proxy/layers/fault.js';
import { createHeaderModifierLayer } from '../proxy/layers/header-modifier.js';
import { createRateLimitLayer } from '../proxy/layers/rate-limit.js';
import type { Handler, Outcome, ProxyFailure, ProxyRequest, ProxyResponse, Target } from '../proxy/types.js';
import type { ApiKeys } from './api-keys.js';
import type { CorsPolicy } from './cors.js';
import { CorsPolicy as Cors } from './cors.js';
import { claimHeader, JwtAuthenticator } from './jwt.js';
import { bareHost, type GatewayRouter } from './router.js';
import { hostFits } from '../core/gateway.js';

/** The header naming who the gateway authenticated: the JWT's `sub`, or the API key's name. */
export const CLIENT_HEADER = 'x-trellis-client';

export interface GatewayHandlerOptions {
  readonly name: string;
  readonly router: () => GatewayRouter;
  /** The pipeline of a mesh service the gateway calls; undefined when it is not among its upstreams. */
  readonly mesh: (service: string) => { readonly target: Target; readonly handler: Handler } | undefined;
  readonly jwt?: JwtAuthenticator | undefined;
  readonly apiKeys?: ApiKeys | undefined;
  readonly cors?: CorsPolicy | undefined;
  readonly maxBodyBytes: number;
  /** The hostnames of the gateway resource (src/core/gateway.ts); undefined: every host. */
  readonly hostnames?: readonly string[] | undefined;
  /** Uniform in [0, 1): picks among a rule's weighted backends (injected in tests). */
  readonly random?: () => number;
  readonly logger: Logger;
}

type Headers = Record<string, string | string[]>;

function one(headers: Readonly<Headers>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The response with `extra` headers; its body still read lazily (the whole-body fast path kept). */
function withExtraHeaders(response: ProxyResponse, extra: Readonly<Record<string, string>>): ProxyResponse {
  const { wholeBody, trailers } = response;
  return {
    status: response.status,
    headers: { ...response.headers, ...extra },
    get body() { return response.body; },
    endpoint: response.endpoint,
    ...(wholeBody === undefined ? {} : { wholeBody: () => wholeBody.call(response) }),
    ...(trailers === undefined ? {} : { trailers: () => trailers.call(response) }),
  };
}

export function createGatewayHandler(options: GatewayHandlerOptions): Handler {
  const { name, jwt, apiKeys, cors, logger } = options;
  const random = options.random ?? Math.random;
  const realm = `Bearer realm="${name}"`;
  const removed = new Set<string>([CLIENT_HEADER, 'authorization', ...(apiKeys === undefined ? [] : [apiKeys.header]), ...Object.values(jwt?.claimsToHeaders ?? {})]);

  const refuse = (request: ProxyRequest, failure: ProxyFailure, extra: Record<string, string> = {}): Outcome => {
    logger.info({ requestId: request.id, code: failure.error.code, method: request.method, path: request.path.split('?')[0], host: one(request.headers, 'host'), reason: failure.error.message }, 'gateway: request refused');
    const headers = { ...extra, ...cors?.responseHeaders(one(request.headers, 'origin')) };
    return failed(Object.keys(headers).length === 0 ? failure : { ...failure, headers });
  };
  const unauthenticated = (request: ProxyRequest, reason: string, challenge: string): Outcome =>
    refuse(request, proxyFailure(ErrorCodes.UNAUTHENTICATED, reason), { 'www-authenticate': challenge });

  /** Who the request is from, and the headers to set; or the refusal. */
  const authenticate = async (request: ProxyRequest): Promise<{ client: string | undefined; set: Headers } | Outcome> => {
    if (apiKeys !== undefined) {
      const key = one(request.headers, apiKeys.header);
      if (key !== undefined) {
        const client = apiKeys.identify(key);
        if (client === undefined) return unauthenticated(request, `the API key in ${apiKeys.header} is not one of gateway ${name}'s keys`, `ApiKey header="${apiKeys.header}"`);
        return { client, set: { [CLIENT_HEADER]: client } };
      }
    }
    if (jwt !== undefined) {
      const token = JwtAuthenticator.bearer(one(request.headers, 'authorization'));
      if (token === undefined) {
        if (!jwt.required) return { client: undefined, set: {} };
        return unauthenticated(request, `no credentials: gateway ${name} needs Authorization: Bearer JWT${apiKeys === undefined ? '' : ` or an API key in ${apiKeys.header}`}`, realm);
      }
      const verdict = await jwt.verify(token);
      if (!verdict.ok) return unauthenticated(request, verdict.reason, `${realm}, error="${verdict.error}", error_description="${verdict.reason.replace(/["\\]/g, "'")}"`);
      const set: Headers = {};
      for (const [claim, header] of Object.entries(jwt.claimsToHeaders)) {
        const value = claimHeader(verdict.claims[claim]);
        if (value !== undefined) set[header] = value;
      }
      if (typeof verdict.claims.sub === 'string') set[CLIENT_HEADER] = verdict.claims.sub;
      return { client: verdict.claims.sub, set };
    }
    if (apiKeys !== undefined) return unauthenticated(request, `no credentials: gateway ${name} needs an API key in ${apiKeys.header}`, `ApiKey header="${apiKeys.header}"`);
    return { client: undefined, set: {} };
  };

  const toService: Handler = (request) => {
    const mesh = options.mesh(request.headers['host'] as string);
    return mesh === undefined
      ? Promise.resolve(failed(proxyFailure(ErrorCodes.NO_ROUTE, `gateway ${name} does not call ${String(request.headers['host'])}`)))
      : mesh.handler({ ...request, target: mesh.target, route: undefined });
  };
  const routeFilters = [createRateLimitLayer(), createFaultLayer(random), createHeaderModifierLayer()].reduceRight((next, layer) => layer(next), toService);

  return async (request) => {
    if (cors !== undefined && Cors.isPreflight(request.method, request.headers)) {
      const answer = cors.preflight(request.headers);
      if (answer.status !== 204) return refuse(request, proxyFailure(ErrorCodes.FORBIDDEN, `the CORS preflight from origin ${String(request.headers['origin'])} is not allowed by gateway ${name}'s cors settings`), answer.headers);
      return { ok: true, classification: 'success', response: { status: 204, headers: answer.headers, body: null, endpoint: undefined } };
    }
    const length = Number(one(request.headers, 'content-length') ?? 0);
    if (length > options.maxBodyBytes) {
      return refuse(request, proxyFailure(ErrorCodes.BODY_TOO_LARGE, `the request body (${length} bytes) is larger than gateway ${name}'s limit of ${options.maxBodyBytes} bytes (limits.maxBodyBytes)`));
    }
    const auth = await authenticate(request);
    if ('ok' in auth) return auth;
    const host = one(request.headers, 'host');
    const { hostnames } = options;
    if (hostnames !== undefined && !hostnames.some((h) => hostFits(h, bareHost(host)))) {
      return refuse(request, proxyFailure(ErrorCodes.NO_ROUTE, `host ${JSON.stringify(bareHost(host))} is not among the hostnames of gateway ${name}'s listeners (${hostnames.join(', ')}): see GET /v1/gateways/${name}`));
    }
    const routed = options.router().route(host, request.method, request.path, request.headers, random());
    if (!routed.ok) return refuse(request, proxyFailure(ErrorCodes.NO_ROUTE, routed.reason));
    const mesh = options.mesh(routed.service);
    if (mesh === undefined) {
      return refuse(request, proxyFailure(ErrorCodes.NO_ROUTE, `route ${routed.selection.rule.route} of gateway ${name} sends to ${routed.service}, which is not among the gateway's upstreams: add it to upstreams`));
    }
    const headers: Headers = {};
    for (const [k, v] of Object.entries(request.headers)) if (!removed.has(k)) headers[k] = v;
    Object.assign(headers, auth.set);
    headers['host'] = routed.service;
    headers['x-forwarded-host'] ??= host ?? '';
    // The gateway route's own filters (rate limit, per client with perCaller; fault; header changes), then the service's pipeline.
    const outcome = await routeFilters({ ...request, headers, route: routed.selection, client: auth.client });
    const extra = cors?.responseHeaders(one(request.headers, 'origin')) ?? {};
    if (Object.keys(extra).length === 0) return outcome;
    return outcome.ok
      ? { ...outcome, response: withExtraHeaders(outcome.response, extra) }
      : { ok: false, failure: { ...outcome.failure, headers: { ...outcome.failure.headers, ...extra } } };
  };
}
