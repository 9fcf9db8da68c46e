/**
 * One error class for the whole project. Every error has a stable code
 * (`TRELLIS_ERR_…`, never reused for another meaning), an HTTP status that the one
 * place mapping errors to responses (src/control-plane/errors.ts) uses, and,
 * for bad input, the field that was wrong.
 */
export const ErrorCodes = {
  // Bad input (400)
  VALIDATION: 'TRELLIS_ERR_VALIDATION',
  INVALID_JSON: 'TRELLIS_ERR_INVALID_JSON',
  INVALID_REVISION: 'TRELLIS_ERR_INVALID_REVISION',
  // Not found (404)
  NOT_FOUND: 'TRELLIS_ERR_NOT_FOUND',
  ROUTE_NOT_FOUND: 'TRELLIS_ERR_ROUTE_NOT_FOUND',
  SERVICE_NOT_FOUND: 'TRELLIS_ERR_SERVICE_NOT_FOUND',
  INSTANCE_NOT_FOUND: 'TRELLIS_ERR_INSTANCE_NOT_FOUND',
  LEASE_NOT_FOUND: 'TRELLIS_ERR_LEASE_NOT_FOUND',
  POLICY_NOT_FOUND: 'TRELLIS_ERR_POLICY_NOT_FOUND',
  SERVICE_DEFAULTS_NOT_FOUND: 'TRELLIS_ERR_SERVICE_DEFAULTS_NOT_FOUND',
  // Other client errors
  METHOD_NOT_ALLOWED: 'TRELLIS_ERR_METHOD_NOT_ALLOWED',
  URI_TOO_LONG: 'TRELLIS_ERR_URI_TOO_LONG',
  BODY_TOO_LARGE: 'TRELLIS_ERR_BODY_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE',
  CONFLICT: 'TRELLIS_ERR_CONFLICT',
  COMPACTED: 'TRELLIS_ERR_COMPACTED',
  WATCHER_TOO_SLOW: 'TRELLIS_ERR_WATCHER_TOO_SLOW',
  RATE_LIMITED: 'TRELLIS_ERR_RATE_LIMITED',
  // Store / server side
  STORE_CLOSED: 'TRELLIS_ERR_STORE_CLOSED',
  STORE_UNAVAILABLE: 'TRELLIS_ERR_STORE_UNAVAILABLE',
  DATA_DIR: 'TRELLIS_ERR_DATA_DIR',
  DATA_CORRUPT: 'TRELLIS_ERR_DATA_CORRUPT',
  LISTEN: 'TRELLIS_ERR_LISTEN',
  // Client side (CLI talking to the control plane)
  CONTROL_PLANE_UNREACHABLE: 'TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE',
  BAD_FLAG: 'TRELLIS_ERR_BAD_FLAG',
  INTERNAL: 'TRELLIS_ERR_INTERNAL',
  // Configuration files (mesh files, sidecar config): field and line named in the message
  CONFIG: 'TRELLIS_ERR_CONFIG',
  // Answers the proxy makes itself (with a `trellis-error: <code>` header)
  NO_ROUTE: 'TRELLIS_ERR_NO_ROUTE',
  NO_HEALTHY_ENDPOINT: 'TRELLIS_ERR_NO_HEALTHY_ENDPOINT',
  CIRCUIT_OPEN: 'TRELLIS_ERR_CIRCUIT_OPEN',
  UPSTREAM_TIMEOUT: 'TRELLIS_ERR_UPSTREAM_TIMEOUT',
  UPSTREAM_CONNECT: 'TRELLIS_ERR_UPSTREAM_CONNECT',
  UPSTREAM_RESET: 'TRELLIS_ERR_UPSTREAM_RESET',
  APP_UNAVAILABLE: 'TRELLIS_ERR_APP_UNAVAILABLE',
  DRAINING: 'TRELLIS_ERR_DRAINING',
  BAD_REQUEST: 'TRELLIS_ERR_BAD_REQUEST',
  HEADERS_TOO_LARGE: 'TRELLIS_ERR_HEADERS_TOO_LARGE',
  REQUEST_TIMEOUT: 'TRELLIS_ERR_REQUEST_TIMEOUT',
  // Authorization policy: the caller may not make this request (403), or no policy is loaded yet (503)
  FORBIDDEN: 'TRELLIS_ERR_FORBIDDEN',
  POLICY_UNAVAILABLE: 'TRELLIS_ERR_POLICY_UNAVAILABLE',
  // Traffic routes (issue 15): an abort injected by a route's Fault filter (its own status; 503 by default)
  FAULT_INJECTED: 'TRELLIS_ERR_FAULT_INJECTED',
  TRAFFIC_ROUTE_NOT_FOUND: 'TRELLIS_ERR_TRAFFIC_ROUTE_NOT_FOUND',
  // The gateway (issue 15): no credentials, or a JWT / API key it does not accept (401 with WWW-Authenticate)
  UNAUTHENTICATED: 'TRELLIS_ERR_UNAUTHENTICATED',
  GATEWAY_NOT_FOUND: 'TRELLIS_ERR_GATEWAY_NOT_FOUND',
  // Security: join tokens, certificate requests, the CA (issue 4)
  TOKEN_MISSING: 'TRELLIS_ERR_TOKEN_MISSING',
  TOKEN_INVALID: 'TRELLIS_ERR_TOKEN_INVALID',
  TOKEN_EXPIRED: 'TRELLIS_ERR_TOKEN_EXPIRED',
  IDENTITY_NOT_ALLOWED: 'TRELLIS_ERR_IDENTITY_NOT_ALLOWED',
  CSR_INVALID: 'TRELLIS_ERR_CSR_INVALID',
  CA: 'TRELLIS_ERR_CA',
  // The key-encryption key that wraps the CA's root keys in the store is missing or not the one they were wrapped with
  CA_KEK: 'TRELLIS_ERR_CA_KEK',
  IDENTITY_UNAVAILABLE: 'TRELLIS_ERR_IDENTITY_UNAVAILABLE',
  // The control plane's API: a valid token that does not allow this call (403)
  PERMISSION_DENIED: 'TRELLIS_ERR_PERMISSION_DENIED',
  // The xDS server: a discovery request it cannot use (400), more streams than the limits allow (429)
  XDS_BAD_REQUEST: 'TRELLIS_ERR_XDS_BAD_REQUEST',
  XDS_TOO_MANY_STREAMS: 'TRELLIS_ERR_XDS_TOO_MANY_STREAMS',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

const statusByCode: Record<ErrorCode, number> = {
  TRELLIS_ERR_VALIDATION: 400,
  TRELLIS_ERR_INVALID_JSON: 400,
  TRELLIS_ERR_INVALID_REVISION: 400,
  TRELLIS_ERR_NOT_FOUND: 404,
  TRELLIS_ERR_ROUTE_NOT_FOUND: 404,
  TRELLIS_ERR_SERVICE_NOT_FOUND: 404,
  TRELLIS_ERR_INSTANCE_NOT_FOUND: 404,
  TRELLIS_ERR_LEASE_NOT_FOUND: 404,
  TRELLIS_ERR_POLICY_NOT_FOUND: 404,
  TRELLIS_ERR_SERVICE_DEFAULTS_NOT_FOUND: 404,
  TRELLIS_ERR_METHOD_NOT_ALLOWED: 405,
  TRELLIS_ERR_URI_TOO_LONG: 414,
  TRELLIS_ERR_BODY_TOO_LARGE: 413,
  TRELLIS_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  TRELLIS_ERR_CONFLICT: 409,
  TRELLIS_ERR_COMPACTED: 410,
  TRELLIS_ERR_WATCHER_TOO_SLOW: 429,
  TRELLIS_ERR_RATE_LIMITED: 429,
  TRELLIS_ERR_STORE_CLOSED: 503,
  TRELLIS_ERR_STORE_UNAVAILABLE: 503,
  TRELLIS_ERR_DATA_DIR: 500,
  TRELLIS_ERR_DATA_CORRUPT: 500,
  TRELLIS_ERR_LISTEN: 500,
  TRELLIS_ERR_CONTROL_PLANE_UNREACHABLE: 503,
  TRELLIS_ERR_BAD_FLAG: 400,
  TRELLIS_ERR_INTERNAL: 500,
  TRELLIS_ERR_CONFIG: 400,
  TRELLIS_ERR_NO_ROUTE: 404,
  TRELLIS_ERR_NO_HEALTHY_ENDPOINT: 503,
  TRELLIS_ERR_CIRCUIT_OPEN: 503,
  TRELLIS_ERR_UPSTREAM_TIMEOUT: 504,
  TRELLIS_ERR_UPSTREAM_CONNECT: 502,
  TRELLIS_ERR_UPSTREAM_RESET: 502,
  TRELLIS_ERR_APP_UNAVAILABLE: 503,
  TRELLIS_ERR_DRAINING: 503,
  TRELLIS_ERR_BAD_REQUEST: 400,
  TRELLIS_ERR_HEADERS_TOO_LARGE: 431,
  TRELLIS_ERR_REQUEST_TIMEOUT: 408,
  TRELLIS_ERR_FORBIDDEN: 403,
  TRELLIS_ERR_UNAUTHENTICATED: 401,
  TRELLIS_ERR_GATEWAY_NOT_FOUND: 404,
  TRELLIS_ERR_POLICY_UNAVAILABLE: 503,
  TRELLIS_ERR_FAULT_INJECTED: 503,
  TRELLIS_ERR_TRAFFIC_ROUTE_NOT_FOUND: 404,
  TRELLIS_ERR_TOKEN_MISSING: 401,
  TRELLIS_ERR_TOKEN_INVALID: 401,
  TRELLIS_ERR_TOKEN_EXPIRED: 401,
  TRELLIS_ERR_IDENTITY_NOT_ALLOWED: 403,
  TRELLIS_ERR_CSR_INVALID: 400,
  TRELLIS_ERR_CA: 500,
  TRELLIS_ERR_CA_KEK: 500,
  TRELLIS_ERR_IDENTITY_UNAVAILABLE: 503,
  TRELLIS_ERR_PERMISSION_DENIED: 403,
  TRELLIS_ERR_XDS_BAD_REQUEST: 400,
  TRELLIS_ERR_XDS_TOO_MANY_STREAMS: 429,
};

const knownCodes: ReadonlySet<string> = new Set(Object.keys(statusByCode));

/** Whether `value` is one of the codes above (e.g. a code read off the network). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && knownCodes.has(value);
}

export interface TrellisErrorOptions {
  /** The input field that was wrong, as a dotted path (`port`, `metadata.version`). */
  field?: string;
  cause?: unknown;
  /** Extra machine-readable detail, e.g. `{ compactRevision: 12 }`. */
  details?: Record<string, unknown>;
}

export class TrellisError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: TrellisErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TrellisError';
    this.code = code;
    this.field = options.field;
    this.details = options.details;
  }

  get status(): number {
    return statusByCode[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string; field?: string } & Record<string, unknown> } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.field === undefined ? {} : { field: this.field }),
        ...(this.details ?? {}),
      },
    };
  }
}

export function isTrellisError(err: unknown): err is TrellisError {
  return err instanceof TrellisError;
}

/** The message of any thrown value, for logs and one-line CLI output. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
