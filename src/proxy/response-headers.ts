/**
 * A response with other headers: everything else (body, whole body, trailers, endpoint) is the
 * original's. The body is read lazily, so a producer's `wholeBody()` fast case still holds
 * for a writer that never touches `body`.
 */
import type { ProxyResponse } from './types.js';

export function withHeaders(response: ProxyResponse, headers: Readonly<Record<string, string | string[]>>): ProxyResponse {
  const { wholeBody, trailers } = response;
  return {
    status: response.status,
    headers,
    get body() { return response.body; },
    endpoint: response.endpoint,
    ...(wholeBody === undefined ? {} : { wholeBody: () => wholeBody.call(response) }),
    ...(trailers === undefined ? {} : { trailers: () => trailers.call(response) }),
  };
}
