/**
 * HTTP/1.1 upgrades (WebSocket) through a listener. The upgrade request is read like any
 * request (route, x-request-id, x-forwarded-for; Upgrade and Connection kept) and goes
 * through the route's upgrade pipeline — routing, balancing, circuit breaking, retried only
 * while it provably reached no app. On a 101 the client's connection and the upstream's
 * are spliced both ways (backpressure, half-close; either side failing or closing ends
 * both). Any other answer is passed on and the connection closed; a failure gets the same
 * rescue.ts answer as a request. An open tunnel counts as in flight.
 */
import { performance } from 'node:perf_hooks';
import { Duplex, type Readable } from 'node:stream';
import { NO_BODY } from '../body.js';
import { Cancellation } from '../cancel.js';
import { splice } from '../tcp/splice.js';
import type { Outcome, ProxyResponse, Target } from '../types.js';
import { rawHead, writeRawFailure } from './answer.js';
import { CLIENT_GONE, handlerBug, readRequest, type Http1Site, type ReceivedHead } from './serve.js';

/** `upgrade`: the request's Upgrade header (`websocket`); `head`: the bytes that came after the request head (the tunnel's first). */
export function serveUpgrade(req: ReceivedHead, upgrade: string, client: Duplex, head: Buffer, site: Http1Site, tunnels: Set<Duplex>): void {
  const { stats } = site;
  stats.requests += 1;
  stats.inFlight += 1;
  tunnels.add(client);
  const controller = new Cancellation();
  client.on('error', ignore); // a reset client just closes; the close below does the rest
  client.once('close', () => {
    stats.inFlight -= 1;
    tunnels.delete(client);
    controller.abort(CLIENT_GONE);
  });

  const read = readRequest(req, site, controller, upgrade, noBody);
  if (read.request === undefined) {
    writeRawFailure(client, read.failure, read.target);
    return;
  }
  const { request, route } = read;
  if (typeof route.upgrade !== 'function') {
    writeRawFailure(client, route.upgrade, route.target);
    return;
  }
  route.upgrade(request).then(
    (outcome) => answer(client, head, outcome, route.target, site),
    (err: unknown) => writeRawFailure(client, handlerBug(err, site, request), route.target),
  );
}

function answer(client: Duplex, head: Buffer, outcome: Outcome, target: Target, site: Http1Site): void {
  if (!outcome.ok) {
    writeRawFailure(client, outcome.failure, target);
    return;
  }
  const { response } = outcome;
  const upstream = response.body;
  if (client.destroyed) {
    upstream?.destroy();
    return;
  }
  if (response.status !== 101 || !(upstream instanceof Duplex)) {
    passOn(client, response);
    return;
  }
  client.write(rawHead(101, response.headers));
  if (head.length > 0) upstream.write(head);
  site.stats.upgrades += 1;
  const openedAt = performance.now();
  splice(client, upstream, () => {
    site.logger.debug({ service: target.service, endpoint: response.endpoint?.id, ms: Math.round(performance.now() - openedAt) }, 'upgraded connection closed');
  });
}

/** The upstream refused the upgrade: its answer goes to the client as it is, then the connection closes. */
function passOn(client: Duplex, response: ProxyResponse): void {
  const body: Readable | null = response.body;
  client.write(rawHead(response.status, response.headers, 'close'));
  if (body === null) {
    client.end();
    return;
  }
  body.once('error', () => client.destroy());
  body.pipe(client);
}

function ignore(): void {}

const noBody = () => NO_BODY;
