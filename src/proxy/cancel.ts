/**
 * A cheap stand-in for AbortController/AbortSignal on the data path. Making an
 * AbortController (an EventTarget, its signal, its listener records) for every request and
 * again for every deadline costs allocations on a path where almost nothing is ever
 * aborted; a {@link Cancellation} is one small object whose listener list is made on the
 * first `addEventListener`.
 *
 * {@link CancelSignal} is the part of AbortSignal that the data path uses, so a real
 * AbortSignal is one too (tests, and callers that have one, pass it as is). Semantics kept
 * from AbortSignal: `abort` is synchronous and happens once, listeners run in the order
 * they were added, adding the same listener twice registers it once, and a listener added
 * after the abort is never called.
 */

/** A function, or an object with handleEvent (as with EventTarget). */
export type CancelListener = ((event?: unknown) => void) | { handleEvent(event?: unknown): void };

/** What the data path reads from a request's signal: a subset of AbortSignal. */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: CancelListener, options?: { readonly once?: boolean }): void;
  removeEventListener(type: 'abort', listener: CancelListener): void;
}

function abortError(): Error {
  return new DOMException('This operation was aborted', 'AbortError');
}

export class Cancellation implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: CancelListener[] | undefined = undefined;

  addEventListener(_type: 'abort', listener: CancelListener): void {
    if (this.aborted) return;
    const listeners = this.#listeners;
    if (listeners === undefined) this.#listeners = [listener];
    else if (!listeners.includes(listener)) listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: CancelListener): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    const index = listeners.indexOf(listener);
    if (index !== -1) listeners.splice(index, 1);
  }

  /** Abort with `reason` (an AbortError when undefined), once; later calls do nothing. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason === undefined ? abortError() : reason;
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    // As with EventTarget: a listener removed by an earlier one during the dispatch is not called.
    for (const listener of [...listeners]) {
      if (!listeners.includes(listener)) continue;
      try {
        if (typeof listener === 'function') listener();
        else listener.handleEvent();
      } catch (err) {
        // As with EventTarget: a listener that throws does not stop the others; its error is uncaught.
        process.nextTick(() => { throw err; });
      }
    }
    this.#listeners = undefined;
  }
}
