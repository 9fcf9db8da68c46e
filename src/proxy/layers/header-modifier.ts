/**
 * A route's header changes (filters RequestHeaderModifier and ResponseHeaderModifier), in
 * the Gateway API's order: remove, then set (replace), then add (append). Names are
 * lower-case; the request's own object is never changed (a new headers map is made).
 */
import type { HeaderModifier } from '../../core/route.js';
import type { Layer, Outcome, ProxyResponse } from '../types.js';

type Headers = Readonly<Record<string, string | string[]>>;

export function modifyHeaders(headers: Headers, change: HeaderModifier): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = { ...headers };
  for (const name of change.remove) delete out[name];
  for (const { name, value } of change.set) out[name] = value;
  for (const { name, value } of change.add) {
    const had = out[name];
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

function withHeaders(response: ProxyResponse, headers: Headers): ProxyResponse {
  const { wholeBody, trailers } = response;
  return {
    status: response.status,
    headers,
    // A getter: reading `body` opens the response's stream, which would end its whole-body fast path.
    get body() { return response.body; },
    endpoint: response.endpoint,
    ...(wholeBody === undefined ? {} : { wholeBody: () => wholeBody.call(response) }),
    ...(trailers === undefined ? {} : { trailers: () => trailers.call(response) }),
  };
}

export function createHeaderModifierLayer(): Layer {
  return (next) => (request) => {
    const rule = request.route?.rule;
    if (rule === undefined || (rule.requestHeaders === undefined && rule.responseHeaders === undefined)) return next(request);
    const sent = rule.requestHeaders === undefined ? request : { ...request, headers: modifyHeaders(request.headers, rule.requestHeaders) };
    const change = rule.responseHeaders;
    if (change === undefined) return next(sent);
    return next(sent).then((outcome): Outcome => (outcome.ok
      ? { ...outcome, response: withHeaders(outcome.response, modifyHeaders(outcome.response.headers, change)) }
      : outcome));
  };
}
