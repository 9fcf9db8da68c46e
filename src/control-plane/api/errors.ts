/**
 * The one place where errors become HTTP answers: `{"error":{"code","message","field"}}`
 * with the status that belongs to the code. Nothing else in the API writes error bodies —
 * fastify's own errors (FST_ERR_*, including the router's bad-URL and too-long-parameter
 * answers) and Node's parser errors (`clientError`: 400, 408, 431) are mapped here too.
 */
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, TrellisError } from '../../errors.js';
import { Limits } from '../../registry/limits.js';

/** The router's limit on one path parameter (fastify's maxParamLength). */
export const MAX_PARAM_LENGTH = 1024;

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
  FST_ERR_CTP_INVALID_TYPE: () => new TrellisError(ErrorCodes.UNSUPPORTED_MEDIA_TYPE,
    'the Content-Type header is not a valid media type: send "Content-Type: application/json"'),
  FST_ERR_BAD_URL: () => new TrellisError(ErrorCodes.BAD_REQUEST,
    'the URL is not valid: a "%" must start a percent-encoded byte such as %2F, and the path must be valid UTF-8 once decoded'),
  FST_ERR_MAX_PARAM_LENGTH: () => new TrellisError(ErrorCodes.URI_TOO_LONG,
    `a part of the URL path is longer than ${MAX_PARAM_LENGTH} characters; names are at most ${Limits.nameMaxLength}`),
  FST_ERR_ASYNC_CONSTRAINT: () => new TrellisError(ErrorCodes.BAD_REQUEST, 'the request matches no route constraint'),
  FST_ERR_PROTO_POISONING: () => new TrellisError(ErrorCodes.INVALID_JSON, 'request body must not hold a "__proto__" key'),
  FST_ERR_CONSTRUCTOR_POISONING: () => new TrellisError(ErrorCodes.INVALID_JSON, 'request body must not hold a "constructor.prototype" key'),
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
  // Any other framework error with a client status keeps that status's meaning, coded.
  const status = fastifyError?.statusCode;
  if (typeof code === 'string' && code.startsWith('FST_ERR_') && status !== undefined && status >= 400 && status < 500) {
    return new TrellisError(status === 404 ? ErrorCodes.ROUTE_NOT_FOUND : ErrorCodes.BAD_REQUEST, `the request was refused: ${fastifyError?.message ?? code}`);
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

/** Node's parser refused the request before fastify saw it (`clientError`): what to answer. */
export function clientErrorOf(err: NodeJS.ErrnoException): TrellisError {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new TrellisError(ErrorCodes.REQUEST_TIMEOUT, 'the request head or body did not arrive in time; send the whole request at once (see the server\'s --header-timeout and --request-timeout)');
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return new TrellisError(ErrorCodes.HEADERS_TOO_LARGE, 'the request line and headers are too large (16 KiB at most); send fewer or shorter headers');
  }
  const reason = (err as { reason?: unknown }).reason;
  return new TrellisError(ErrorCodes.BAD_REQUEST,
    `the request is not valid HTTP/1.1${typeof reason === 'string' && reason !== '' ? ` (${reason})` : ''}${err.code === undefined ? '' : ` [${err.code}]`}; send a well-formed request`);
}

/**
 * The `clientError` handler: answer in the API's error shape, then close the connection (its
 * framing can no longer be trusted). A reset socket gets nothing.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    const error = clientErrorOf(err);
    const body = JSON.stringify(error.toJSON());
    socket.write(`HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}
