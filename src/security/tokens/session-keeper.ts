/**
 * A sidecar without certificates (mTLS off) keeps its API access with sessions: at start it
 * exchanges its join token for a session (`POST /v1/sessions`), then renews at 70% of the
 * session's life with the current session, retrying sooner as the expiry nears. A refusal at
 * start (a bad or expired join token) fails the start; an unreachable control plane does not
 * (the join token is used meanwhile, and the keeper keeps asking).
 */
import type { Logger } from 'pino';
import { systemClock, type Clock, type Timer } from '../../core/clock.js';
import { ErrorCodes, TrellisError, isTrellisError, messageOf } from '../../errors.js';
import { RENEW_AT } from '../identity/renewal.js';
import type { SessionGrant } from './sessions.js';
import type { SidecarCredential } from './sidecar-credential.js';

const UNREACHABLE_RETRY_MS = 1_000;

/** What the keeper needs of the control plane (src/client's ControlPlaneClient is one). */
export interface SessionApi {
  openSession(lifetimeMs: number): Promise<SessionGrant>;
}

export interface SessionKeeperOptions {
  readonly client: SessionApi;
  readonly credential: SidecarCredential;
  readonly service: string;
  readonly lifetimeMs: number;
  readonly logger: Logger;
  /** Renewals are timed on this clock (default: the real one). */
  readonly clock?: Clock;
}

export interface SessionKeeper {
  close(): void;
}

export async function startSessionKeeper(options: SessionKeeperOptions): Promise<SessionKeeper> {
  const { client, credential, logger } = options;
  const clock = options.clock ?? systemClock;
  let timer: Timer | undefined;
  let closed = false;
  /** Failed renewals in a row: the first one of a streak is logged at warn, the rest at debug. */
  let failures = 0;
  const schedule = (delayMs: number): void => {
    if (closed) return;
    timer?.cancel();
    timer = clock.setTimeout(() => void renew(), Math.max(100, delayMs));
  };
  const renew = async (): Promise<void> => {
    try {
      const session = await client.openSession(options.lifetimeMs);
      credential.adopt(session);
      if (failures > 0) logger.info({ failures }, 'sidecar session renewed again');
      failures = 0;
      logger.debug({ sessionId: session.id, expiresAt: session.expiresAt }, 'sidecar session renewed');
      schedule((Date.parse(session.expiresAt) - clock.now()) * RENEW_AT);
    } catch (err) {
      const left = (credential.sessionExpiresAt ?? clock.now()) - clock.now();
      failures += 1;
      const log = failures === 1 ? logger.warn.bind(logger) : logger.debug.bind(logger);
      log({ err: messageOf(err), expiresInMs: left, failures }, 'sidecar session renewal failed; retrying');
      schedule(left > 0 ? Math.min(5_000, left / 5) : UNREACHABLE_RETRY_MS);
    }
  };
  try {
    const first = await client.openSession(options.lifetimeMs);
    credential.adopt(first);
    schedule((Date.parse(first.expiresAt) - clock.now()) * RENEW_AT);
  } catch (err) {
    if (!isTrellisError(err) || err.code !== ErrorCodes.CONTROL_PLANE_UNREACHABLE) {
      throw new TrellisError(ErrorCodes.IDENTITY_UNAVAILABLE, `the sidecar of ${options.service} could not open its session with the control plane: ${messageOf(err)}`, { cause: err });
    }
    logger.warn({ err: messageOf(err) }, 'the control plane is unreachable: using the join token until a session can be opened');
    schedule(UNREACHABLE_RETRY_MS);
  }
  return { close: () => { closed = true; timer?.cancel(); } };
}
