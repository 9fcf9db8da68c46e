/**
 * The inbound side's guard on what the app answers: a `trellis-error` header is the mark of
 * an answer a sidecar made itself (src/proxy/rescue.ts), and a calling sidecar acts on it — a
 * peer's `TRELLIS_ERR_APP_UNAVAILABLE` means the request never reached the app, so it is
 * retried whatever the method. An app could set that header on its own answer (by mistake, or
 * to get a POST it did receive sent again), so the inbound sidecar removes it from every
 * response that comes from the app; only answers the sidecars make carry it. (Linkerd and
 * Envoy treat their own `l5d-*` / `x-envoy-*` headers the same way: set by the proxy, never
 * taken from what it forwards.)
 */
import { withHeaders } from '../response-headers.js';
import type { Layer, Outcome, ProxyResponse } from '../types.js';

/** The header only the sidecars' own answers carry. */
export const PROXY_ERROR_HEADER = 'trellis-error';

function withoutProxyError(response: ProxyResponse): ProxyResponse {
  const { [PROXY_ERROR_HEADER]: _dropped, ...headers } = response.headers;
  return withHeaders(response, headers);
}

/** Innermost on the inbound side: an app's response never carries `trellis-error` past its sidecar. */
export function createAppAnswerLayer(): Layer {
  return (next) => (request) => next(request).then((outcome): Outcome => (
    outcome.ok && outcome.response.headers[PROXY_ERROR_HEADER] !== undefined
      ? { ...outcome, response: withoutProxyError(outcome.response) }
      : outcome));
}
