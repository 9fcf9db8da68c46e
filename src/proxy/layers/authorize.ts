/**
 * Inbound authorization: every request to this instance is decided by its service's
 * policies (src/proxy/authorization/table.ts, one engine with `trellis policy check`)
 * before it reaches the app. The caller is `request.peer` — the identity from its mTLS
 * certificate — or unauthenticated when there is none. A denial is FORBIDDEN (403, or
 * gRPC PERMISSION_DENIED through rescue.ts) with a body naming the policy, the rule and
 * the caller; a request that arrives before the policy was ever read waits for it, and
 * gets POLICY_UNAVAILABLE (503) if it does not come.
 */
import { ErrorCodes } from '../../errors.js';
import type { AuthorizationTable } from '../authorization/table.js';
import { POLICY_WAIT_MS, whenReady } from '../authorization/wait.js';
import { failed, proxyFailure } from '../failure.js';
import type { Handler, Layer, Outcome, ProxyRequest } from '../types.js';

/** The table of a service this sidecar serves inbound; undefined = not authorized here. */
export type AuthorizationLookup = (service: string) => AuthorizationTable | undefined;

export interface AuthorizationLayerOptions {
  /** How long a request waits for the first policy read (default 10 s). */
  readonly waitMs?: number;
}

function unavailable(service: string): Outcome {
  return failed(proxyFailure(ErrorCodes.POLICY_UNAVAILABLE,
    `the authorization policy of ${service} has not been read from the control plane yet, so no request is let in`));
}

function authorize(table: AuthorizationTable, request: ProxyRequest, next: Handler): Promise<Outcome> {
  const decision = table.decide({
    service: table.service, peer: request.peer, protocol: 'http', method: request.method, path: request.path,
  }, { requestId: request.id });
  if (decision.allowed) return next(request);
  const by = decision.by;
  return Promise.resolve(failed(proxyFailure(ErrorCodes.FORBIDDEN, decision.explanation, {
    answer: {
      caller: decision.caller,
      ...(by.kind === 'trust-domain' || by.policy === undefined ? {} : { policy: by.policy }),
      ...(by.kind === 'rule' ? { rule: by.ruleName ?? `rules.${by.rule}` } : by.kind === 'default' ? { default: by.scope } : { trustDomain: by.trustDomain }),
    },
  })));
}

export function createAuthorizationLayer(tables: AuthorizationLookup, options: AuthorizationLayerOptions = {}): Layer {
  const waitMs = options.waitMs ?? POLICY_WAIT_MS;
  return (next) => (request) => {
    const table = tables(request.target.service);
    if (table === undefined) return next(request);
    if (table.ready) return authorize(table, request, next);
    return whenReady(table, waitMs, request.signal).then((ready) => (ready ? authorize(table, request, next) : unavailable(table.service)));
  };
}
