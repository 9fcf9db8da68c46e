/**
 * A route's fault injection (filter Fault): for `delay.percent` % of the requests, wait
 * `delay.duration` first (the wait counts against the request's timeout, and a client that
 * goes away ends it); then, for `abort.percent` % of them, answer `abort.status` with
 * TRELLIS_ERR_FAULT_INJECTED without sending the request. Delay and abort draw independently.
 */
import { ErrorCodes } from '../../errors.js';
import { failed, proxyFailure } from '../failure.js';
import type { Handler, Layer, Outcome, ProxyRequest } from '../types.js';

function delayed(ms: number, request: ProxyRequest, then: () => Promise<Outcome>): Promise<Outcome> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      request.signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    request.signal.addEventListener('abort', done, { once: true });
  }).then(then);
}

export function createFaultLayer(random: () => number = Math.random): Layer {
  return (next: Handler) => (request) => {
    const rule = request.route?.rule;
    const fault = rule?.fault;
    if (rule === undefined || fault === undefined) return next(request);
    const abortOrSend = (): Promise<Outcome> => {
      const { abort } = fault;
      if (abort !== undefined && random() * 100 < abort.percent) {
        return Promise.resolve(failed({
          ...proxyFailure(ErrorCodes.FAULT_INJECTED, `route ${rule.route} rule ${rule.index} of ${request.target.service} aborts ${abort.percent}% of its requests with ${abort.status}: this one was not sent`),
          status: abort.status,
        }));
      }
      return next(request);
    };
    const { delay } = fault;
    if (delay !== undefined && random() * 100 < delay.percent) return delayed(delay.durationMs, request, abortOrSend);
    return abortOrSend();
  };
}
