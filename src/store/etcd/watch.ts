/**
 * A KvStore watch on etcd's own watch: etcd replays from the revision and goes live with no gap;
 * the etcd3 client reconnects a broken stream to another member and resumes after the last
 * revision it saw. This adapter translates events, keeps one listener's failure its own, and
 * ends the watch with one coded error (compacted while reconnecting, store closed).
 */
import type { Etcd3, IEvent, IWatchResponse, Watcher as EtcdWatcher } from 'etcd3';
import { ErrorCodes, TrellisError } from '../../errors.js';
import type { WatchEvent, WatchListener, Watcher } from '../types.js';
import { fromEtcdLease, type KeyNamespace } from './keys.js';

export interface StartWatchOptions {
  client: Etcd3;
  namespace: KeyNamespace;
  prefix: string;
  afterRevision: number;
  listener: WatchListener;
  /** How long creating the watch may take before it is reported as unavailable. */
  timeoutMs: number;
  /** Turn an etcd watch failure into the error the listener gets. */
  describe(err: Error): Promise<TrellisError>;
  /** Called once when the watch ends, whichever way. */
  onEnd(watch: EtcdWatch): void;
  /** Every event up to this revision has been delivered (after each etcd response). */
  onProgress?(revision: number): void;
}

function toWatchEvent(ev: IEvent, namespace: KeyNamespace): WatchEvent {
  const put = ev.type === 'Put';
  return {
    type: put ? 'put' : 'delete',
    key: namespace.strip(ev.kv.key),
    revision: Number(ev.kv.mod_revision),
    value: put ? ev.kv.value.toString() : undefined,
    lease: put ? fromEtcdLease(ev.kv.lease) : undefined,
    prevValue: ev.prev_kv ? ev.prev_kv.value.toString() : undefined,
  };
}

export class EtcdWatch implements Watcher {
  readonly #options: StartWatchOptions;
  readonly #watcher: EtcdWatcher;
  #ended = false;

  private constructor(options: StartWatchOptions, watcher: EtcdWatcher) {
    this.#options = options;
    this.#watcher = watcher;
    watcher.on('data', (res: IWatchResponse) => this.#deliver(res));
    watcher.on('error', (err: Error) => {
      void options.describe(err).then((error) => this.fail(error));
    });
  }

  static async start(options: StartWatchOptions): Promise<EtcdWatch> {
    const range = options.namespace.range(options.prefix);
    const watcher = options.client.watch()
      .inRange({ start: range.key, end: range.range_end })
      .startRevision(String(options.afterRevision + 1))
      .withPreviousKV()
      .watcher();
    const watch = new EtcdWatch(options, watcher);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => watcher.once('connected', () => resolve())),
        new Promise<never>((_, reject) => watcher.once('error', (err: Error) => { void options.describe(err).then(reject); })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new TrellisError(ErrorCodes.STORE_UNAVAILABLE,
            `etcd did not start a watch on ${options.prefix} within ${options.timeoutMs} ms (is the etcd cluster up?)`)), options.timeoutMs);
        }),
      ]);
    } catch (err) {
      watch.#end();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return watch;
  }

  close(): void {
    this.#end();
  }

  /** End the watch abnormally: the listener hears `error` once, and nothing more. */
  fail(error: Error): void {
    if (this.#ended) return;
    this.#end();
    this.#options.listener.onError(error);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#watcher.removeAllListeners('data');
    this.#watcher.on('error', () => undefined);
    this.#watcher.cancel().catch(() => undefined);
    this.#options.onEnd(this);
  }

  #deliver(res: IWatchResponse): void {
    for (const ev of res.events) {
      if (this.#ended) return;
      const event = toWatchEvent(ev, this.#options.namespace);
      try {
        this.#options.listener.onEvent(event);
      } catch {
        // A listener's failure is its own: the next event still goes to it, and to everyone else.
      }
    }
    if (!this.#ended) this.#options.onProgress?.(Number(res.header.revision));
  }
}
