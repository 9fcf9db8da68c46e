/**
 * A control plane's error answer (`{"error":{"code","message","field"}}`) as a TrellisError —
 * validated, since the answer comes off the network: a code that is not one of ours (a newer
 * or a foreign server, a proxy in between) is never taken as is; the error gets the code its
 * HTTP status stands for, and keeps the server's message (the unknown code is in `details`).
 * Message, field and code are capped, so an answer cannot flood logs.
 */
import { ErrorCodes, TrellisError, isErrorCode, type ErrorCode } from '../errors.js';

const MAX_MESSAGE = 2_048;
const MAX_FIELD = 256;
const MAX_CODE = 128;

/** The known code an HTTP status stands for, when a server gives none we know. */
export function codeForStatus(status: number): ErrorCode {
  switch (status) {
    case 400: return ErrorCodes.VALIDATION;
    case 401: return ErrorCodes.TOKEN_INVALID;
    case 403: return ErrorCodes.PERMISSION_DENIED;
    case 404: return ErrorCodes.NOT_FOUND;
    case 405: return ErrorCodes.METHOD_NOT_ALLOWED;
    case 409: return ErrorCodes.CONFLICT;
    case 410: return ErrorCodes.COMPACTED;
    case 413: return ErrorCodes.BODY_TOO_LARGE;
    case 415: return ErrorCodes.UNSUPPORTED_MEDIA_TYPE;
    case 429: return ErrorCodes.WATCHER_TOO_SLOW;
    // 502, 503, 504: something between us and a working control plane is down: try another replica.
    case 502: case 503: case 504: return ErrorCodes.CONTROL_PLANE_UNREACHABLE;
    default: return ErrorCodes.INTERNAL;
  }
}

function text(value: unknown, max: number): string | undefined {
  return typeof value === 'string' && value !== '' ? value.slice(0, max) : undefined;
}

/**
 * The TrellisError for an error answer: `status` is the HTTP status (0 for an error line in
 * a stream that began with 200), `body` the parsed JSON (anything).
 */
export function remoteError(status: number, body: unknown, fallbackMessage = `HTTP ${status}`): TrellisError {
  const error = typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined;
  const e = typeof error === 'object' && error !== null ? error as Record<string, unknown> : {};
  const given = e['code'];
  const code = isErrorCode(given) ? given : codeForStatus(status);
  const field = text(e['field'], MAX_FIELD);
  const unknownCode = given === undefined || isErrorCode(given) ? undefined : String(text(given, MAX_CODE) ?? typeof given);
  return new TrellisError(code, text(e['message'], MAX_MESSAGE) ?? fallbackMessage, {
    ...(field === undefined ? {} : { field }),
    ...(unknownCode === undefined ? {} : { details: { remoteCode: unknownCode } }),
  });
}
