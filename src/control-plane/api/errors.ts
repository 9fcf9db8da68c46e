/**
 * The one place where errors become HTTP answers: `{"error":{"code","message","field"}}`
 * with the status that belongs to the code. Nothing else in the API writes error bodies.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { Limits } from '../../registry/limits.js';

const fastifyCodes: Record<string, () => TrellisError> = {
  FST_ERR_CTP_BODY_TOO_LARGE: () => new TrellisError(ErrorCodes.BODY_TOO_LARGE,
    `request body is larger than ${Limits.bodyMaxBytes} bytes; send less (metadata is limited to ${Limits.metadataMaxBytes} bytes)`),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => new TrellisError(ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
    'request body must be JSON: send the header "Content-Type: application/json"'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => new TrellisError(ErrorCodes.INVALID_JSON,
    'request body is empty but Content-Type is application/json: send a JSON object'),
  FST_ERR_CTP_INVALID_JSON_BODY: () => new TrellisError(ErrorCodes.INVALID_JSON, 'request body is not valid JSON'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () => new TrellisError(ErrorCodes.INVALID_JSON,
    'request body length does not match its Content-Length header'),
  FST_ERR_BAD_URL: () => new TrellisError(ErrorCodes.ROUTE_NOT_FOUND, 'the URL is not valid (bad percent-encoding)'),
};

export function toTrellisError(err: unknown): TrellisError {
  if (err instanceof TrellisError) return err;
  const fastifyError = err as Partial<FastifyError> | undefined;
  const code = fastifyError?.code;
  if (code !== undefined) {
    const make = fastifyCodes[code];
    if (make !== undefined) return make();
  }
  if (err instanceof SyntaxError && fastifyError?.statusCode === 400) {
    return new TrellisError(ErrorCodes.INVALID_JSON, `request body is not valid JSON: ${err.message}`);
  }
  return new TrellisError(ErrorCodes.INTERNAL, 'internal error; the control plane logged the details', { cause: err });
}

export function sendError(reply: FastifyReply, request: FastifyRequest, err: unknown): FastifyReply {
  const error = toTrellisError(err);
  if (error.status >= 500) request.log.error({ err: error.cause ?? err, code: error.code, url: request.url }, error.message);
  else request.log.debug({ code: error.code, field: error.field, url: request.url }, error.message);
  return reply.code(error.status).type('application/json').send(error.toJSON());
}

export function routeNotFound(method: string, url: string): TrellisError {
  return new TrellisError(ErrorCodes.ROUTE_NOT_FOUND,
    `no route for ${method} ${url.split('?')[0]}; the API is under /v1 (see docs/api.md)`);
}
