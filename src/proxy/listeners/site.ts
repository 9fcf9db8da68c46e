/** What the HTTP/1 listeners of one sidecar share, and the routes that go to one fixed target. */
import type { Logger } from 'pino';
import { answerLogs, ListenerStats, type AnswerLogs } from '../http1/answer.js';
import type { Http1Site, Route } from '../http1/serve.js';
import type { Handler, ProxyFailure, Target } from '../types.js';

export interface SiteContext {
  readonly logger: Logger;
  readonly logs: AnswerLogs;
  readonly replayBufferBytes: number;
  draining(): boolean;
}

export function siteContext(logger: Logger, replayBufferBytes: number, draining: () => boolean): SiteContext {
  return { logger, logs: answerLogs(logger), replayBufferBytes, draining };
}

const never = (): boolean => false;

/**
 * A site that sends every request to one target, whatever its Host: through `handler`,
 * and WebSocket upgrades through `upgrade` (or answered with the failure when the target
 * cannot take them). Only a site that `drains` (the inbound one) refuses new requests
 * while the sidecar drains.
 */
export function fixedSite(context: SiteContext, target: Target, handler: Handler, upgrade: Handler | ProxyFailure, drains: boolean): Http1Site {
  const route: Route = Object.freeze({ target, handler, upgrade });
  return {
    route: () => route,
    localTarget: target,
    draining: drains ? context.draining : never,
    replayBufferBytes: context.replayBufferBytes,
    stats: new ListenerStats(),
    logs: context.logs,
    logger: context.logger,
  };
}
