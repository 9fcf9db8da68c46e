/**
 * One-shot lease keep-alives over one long-lived LeaseKeepAlive stream, as etcd's own clients do
 * (a heartbeat must not cost a new stream). Answers come back per lease id, in order; a stream
 * that fails rejects what is in flight and is reopened on the next call.
 */
import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import { ErrorCodes, TrellisError } from '../../errors.js';

type Stream = IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>;

interface Pending {
  resolve(ttlSeconds: number): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class KeepAliveChannel {
  readonly #client: Etcd3;
  readonly #timeoutMs: number;
  #stream: Promise<Stream> | undefined;
  readonly #pending = new Map<string, Pending[]>();

  constructor(client: Etcd3, timeoutMs: number) {
    this.#client = client;
    this.#timeoutMs = timeoutMs;
  }

  /** Renew the lease (decimal etcd id); resolves with its TTL in seconds, ≤ 0 when it does not exist. */
  async renew(id: string): Promise<number> {
    const stream = await this.#open();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#reset(new TrellisError(ErrorCodes.STORE_UNAVAILABLE, `etcd did not answer a lease keep-alive within ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      const queue = this.#pending.get(id) ?? [];
      queue.push({ resolve, reject, timer });
      this.#pending.set(id, queue);
      stream.write({ ID: id });
    });
  }

  close(): void {
    this.#reset(new TrellisError(ErrorCodes.STORE_CLOSED, 'the store is closed'));
  }

  #open(): Promise<Stream> {
    if (this.#stream !== undefined) return this.#stream;
    const opening = this.#client.leaseClient.leaseKeepAlive().then((stream) => {
      stream.on('data', (res) => this.#answer(res));
      stream.on('error', (err) => { if (this.#stream === opening) this.#reset(err); });
      stream.on('end', () => {
        if (this.#stream === opening) this.#reset(new TrellisError(ErrorCodes.STORE_UNAVAILABLE, 'the etcd keep-alive stream ended'));
      });
      return stream;
    });
    opening.catch(() => { if (this.#stream === opening) this.#stream = undefined; });
    this.#stream = opening;
    return opening;
  }

  #answer(res: ILeaseKeepAliveResponse): void {
    const queue = this.#pending.get(res.ID);
    const first = queue?.shift();
    if (queue !== undefined && queue.length === 0) this.#pending.delete(res.ID);
    if (first === undefined) return;
    clearTimeout(first.timer);
    first.resolve(Number(res.TTL));
  }

  #reset(err: Error): void {
    const old = this.#stream;
    this.#stream = undefined;
    old?.then((stream) => stream.cancel(), () => undefined);
    for (const queue of this.#pending.values()) {
      for (const pending of queue) {
        clearTimeout(pending.timer);
        pending.reject(err);
      }
    }
    this.#pending.clear();
  }
}
