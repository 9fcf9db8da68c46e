/**
 * etcd's failures as TrellisErrors: the one place that reads etcd3 / gRPC error types and
 * etcd's messages. Anything that means "etcd cannot answer now" is STORE_UNAVAILABLE (503).
 */
import {
  ClientClosedError, EtcdAuthenticationFailedError, EtcdLeaseInvalidError, EtcdPermissionDeniedError,
} from 'etcd3';
import { ErrorCodes, TrellisError, messageOf } from '../../errors.js';

export const COMPACTED_MESSAGE = 'required revision has been compacted';
export const FUTURE_REVISION_MESSAGE = 'required revision is a future revision';

/** Worth another try a moment later (a leader election, a member that died): not an answer. */
export function isTransient(err: unknown): boolean {
  if (err instanceof TrellisError) return err.code === ErrorCodes.STORE_UNAVAILABLE;
  if (err instanceof ClientClosedError || err instanceof EtcdLeaseInvalidError) return false;
  const message = messageOf(err);
  return !message.includes('requested lease not found') && !message.includes('too large') && !message.includes(COMPACTED_MESSAGE) && !message.includes(FUTURE_REVISION_MESSAGE)
    && !(err instanceof EtcdAuthenticationFailedError) && !(err instanceof EtcdPermissionDeniedError);
}

export function isCompactedError(err: unknown): boolean {
  return messageOf(err).includes(COMPACTED_MESSAGE);
}

export function leaseNotFound(id: string): TrellisError {
  return new TrellisError(ErrorCodes.LEASE_NOT_FOUND, `lease ${id} does not exist (it expired or was revoked): grant a new one`, { field: 'lease' });
}

/** Translate an etcd client failure during `what` (e.g. "put /services/a"). */
export function toStoreError(err: unknown, what: string, endpoints: string): TrellisError {
  if (err instanceof TrellisError) return err;
  const message = messageOf(err);
  if (err instanceof ClientClosedError) {
    return new TrellisError(ErrorCodes.STORE_CLOSED, `the store is closed (${what})`, { cause: err });
  }
  if (err instanceof EtcdLeaseInvalidError || message.includes('requested lease not found')) {
    return new TrellisError(ErrorCodes.LEASE_NOT_FOUND, `${what}: the lease does not exist (it expired or was revoked)`, { field: 'lease', cause: err });
  }
  if (message.includes(FUTURE_REVISION_MESSAGE)) {
    return new TrellisError(ErrorCodes.INVALID_REVISION, `${what}: the revision is in the future`, { field: 'revision', cause: err });
  }
  if (message.includes('request is too large') || message.includes('value size is too large')) {
    return new TrellisError(ErrorCodes.VALIDATION, `${what}: etcd refused the request as too large (etcd's --max-request-bytes)`, { cause: err });
  }
  if (err instanceof EtcdAuthenticationFailedError || err instanceof EtcdPermissionDeniedError) {
    return new TrellisError(ErrorCodes.STORE_UNAVAILABLE,
      `etcd at ${endpoints} refused ${what}: ${message} (check --etcd-user and TRELLIS_ETCD_PASSWORD, and the user's role on the key prefix)`, { cause: err });
  }
  // etcd3 guards each member with a circuit breaker (cockatiel); an open one says so by this flag.
  const reason = (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true ? 'every member failed recently' : message;
  return new TrellisError(ErrorCodes.STORE_UNAVAILABLE,
    `etcd at ${endpoints} did not answer ${what}: ${reason} (is the etcd cluster up and does it have quorum?)`, { cause: err });
}
