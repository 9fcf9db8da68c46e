/**
 * Building the failure values of the data path. A failure says what happened in its
 * code and message (naming the service and the instance); rescue.ts alone turns it into
 * the HTTP answer.
 */
import type { Endpoint } from '../balancer/types.js';
import { TrellisError, type ErrorCode } from '../errors.js';
import type { Outcome, ProxyFailure } from './types.js';

export interface FailureOptions {
  /** True unless the request provably never reached the application (default false). */
  readonly reachedApp?: boolean;
  readonly endpoint?: Endpoint | undefined;
  readonly cause?: unknown;
  /** Facts the answer's body shows besides the message (e.g. the policy that denied a request). */
  readonly answer?: Readonly<Record<string, string>>;
}

export function proxyFailure(code: ErrorCode, message: string, options: FailureOptions = {}): ProxyFailure {
  return {
    error: new TrellisError(code, message, options.cause === undefined ? {} : { cause: options.cause }),
    reachedApp: options.reachedApp ?? false,
    endpoint: options.endpoint,
    ...(options.answer === undefined ? {} : { answer: options.answer }),
  };
}

/** An outcome that failed with `failure`. */
export function failed(failure: ProxyFailure): Outcome {
  return { ok: false, failure };
}
