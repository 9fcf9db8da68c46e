/**
 * State-of-the-world responses encoded once per snapshot and shared by every stream that
 * subscribes to the same resources of a type: a push of one change to 1,000 streams that all
 * watch `my-service` encodes one DiscoveryResponse and writes the same bytes 1,000 times (the
 * service's serializer passes a Buffer through). A shared response has a shared nonce,
 * `<version>.<n>`, n numbering the distinct responses of the server's life: unique per content,
 * so an ACK still names the response it answers. Entries of older snapshots are dropped when a
 * newer one is asked for.
 */
import { TYPE_URLS, type ResourceKind } from './protos.js';
import type { XdsResource, XdsSnapshot } from './view.js';

export interface EncodedResponse {
  readonly nonce: string;
  readonly bytes: Buffer;
}

export type Encode = (response: { version_info: string; resources: unknown[]; type_url: string; nonce: string; control_plane: { identifier: string } }) => Buffer;

export class ResponseCache {
  readonly #encode: Encode;
  #version = -1;
  #entries = new Map<string, EncodedResponse>();
  #next = 0;

  constructor(encode: Encode) {
    this.#encode = encode;
  }

  /** The response of `kind` carrying `selected` at `snapshot`'s version; `key` names the selection (the same key, the same resources). */
  get(snapshot: XdsSnapshot, kind: ResourceKind, key: string, selected: readonly XdsResource[]): EncodedResponse {
    if (snapshot.version !== this.#version) {
      this.#version = snapshot.version;
      this.#entries = new Map();
    }
    const id = `${kind} ${key}`;
    let entry = this.#entries.get(id);
    if (entry === undefined) {
      this.#next += 1;
      const nonce = `${snapshot.version}.${this.#next}`;
      const bytes = this.#encode({ version_info: String(snapshot.version), resources: selected.map((r) => r.any), type_url: TYPE_URLS[kind], nonce, control_plane: { identifier: 'trellis' } });
      entry = Object.freeze({ nonce, bytes });
      this.#entries.set(id, entry);
    }
    return entry;
  }
}
