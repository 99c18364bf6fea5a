/**
 * `heap.gc`: Python's `gc` module, in camelCase, for one heap (SPEC section
 * 6). The collector itself is in native/core/collector.*; this object checks
 * nothing the addon checks, and owns only what lives in JavaScript: the
 * callbacks, where debug lines go, the finalizer functions and the
 * diagnostics_channel messages.
 */
import diagnostics from 'node:diagnostics_channel';
import type { NativeHeap, Ref, TypeId } from './native';
import type { HeapStats } from './stats';

export interface GcInfo {
  generation: number;
  collected: number;
  uncollectable: number;
  durationMs: number;
}
export type GcCallback = (phase: 'start' | 'stop', info: GcInfo) => void;

const startChannel = diagnostics.channel('refheap:gc:start');
const stopChannel = diagnostics.channel('refheap:gc:stop');

/** A finalizer or callback threw: report it, and let the operation go on. */
function reportCallbackError(where: string, error: unknown): void {
  let detail: string;
  try {
    detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  } catch {
    detail = 'an error that cannot be shown';
  }
  process.emitWarning(`refheap: ${where} threw: ${detail}`, { code: 'REFHEAP_CALLBACK_ERROR' });
}

/** Reports that could not be made when their error was caught (the stack was exhausted), made later. */
const unreported: [string, unknown][] = [];

function reportLater(): void {
  while (unreported.length > 0) {
    const [where, error] = unreported.shift()!;
    reportCallbackError(where, error);
  }
}

/**
 * Reports what user code threw, and never throws itself: so once user code
 * is entered nothing escapes the dispatcher, and a call the addon sees fail
 * cannot have started any user code.
 */
function reportSafely(where: string, error: unknown): void {
  try {
    reportCallbackError(where, error);
  } catch {
    if (unreported.push([where, error]) === 1) setImmediate(reportLater);
  }
}

export class Gc {
  /** Called as cb('start', info) before and cb('stop', info) after every collection. */
  callbacks: GcCallback[] = [];
  /** Where debug lines go (without their newline); default: standard error. */
  debugOutput: (line: string) => void = (line) => process.stderr.write(line + '\n');

  readonly #native: NativeHeap;
  readonly #heap: { readonly name: string; stats(): HeapStats };
  readonly #finalizers = new Map<TypeId, (ref: Ref) => void>();
  // The addon holds this weakly (a strong hold would keep the heap alive
  // forever), so this object must.
  readonly #dispatcher = (kind: string, ...args: (number | string)[]): boolean => this.#dispatch(kind, ...args);

  constructor(native: NativeHeap, heap: { readonly name: string; stats(): HeapStats }) {
    this.#native = native;
    this.#heap = heap;
    native.setDispatcher(this.#dispatcher);
  }

  /** @internal lib/heap.ts registers each type's finalizer here. */
  _setFinalizer(type: TypeId, finalize: (ref: Ref) => void): void {
    this.#finalizers.set(type, finalize);
  }

  enable(): void {
    this.#native.gcSetEnabled(true);
  }
  disable(): void {
    this.#native.gcSetEnabled(false);
  }
  isEnabled(): boolean {
    return this.#native.gcIsEnabled();
  }
  /** Collects `generation` and all younger ones; the number of unreachable blocks found. */
  collect(generation?: number): number {
    return this.#native.gcCollect(generation);
  }
  getCount(): [number, number, number] {
    return this.#native.gcGetCount();
  }
  getThreshold(): [number, number, number] {
    return this.#native.gcGetThreshold();
  }
  setThreshold(threshold0: number, threshold1?: number, threshold2?: number): void {
    this.#native.gcSetThreshold(threshold0, threshold1, threshold2);
  }
  getDebug(): number {
    return this.#native.gcGetDebug();
  }
  setDebug(flags: number): void {
    this.#native.gcSetDebug(flags);
  }
  /** A new array on each read; the heap holds one count on each block in it. */
  get garbage(): readonly Ref[] {
    return this.#native.gcGarbage();
  }
  /** Releases the blocks of `garbage` and empties it; how many there were. */
  clearGarbage(): number {
    return this.#native.gcClearGarbage();
  }
  /** Borrowed refs of the tracked blocks of one generation, or of all (undefined or null). */
  getObjects(generation?: number | null): Ref[] {
    return this.#native.gcGetObjects(generation);
  }
  getReferrers(...refs: Ref[]): Ref[] {
    return this.#native.gcGetReferrers(refs);
  }
  getReferents(...refs: Ref[]): Ref[] {
    return this.#native.gcGetReferents(refs);
  }
  isTracked(ref: Ref): boolean {
    return this.#native.gcIsTracked(ref);
  }
  isFinalized(ref: Ref): boolean {
    return this.#native.gcIsFinalized(ref);
  }
  freeze(): void {
    this.#native.gcFreeze();
  }
  unfreeze(): void {
    this.#native.gcUnfreeze();
  }
  getFreezeCount(): number {
    return this.#native.gcGetFreezeCount();
  }
  /** Per generation: collections, and blocks collected and uncollectable, cumulative. */
  getStats(): { collections: number; collected: number; uncollectable: number }[] {
    return this.#heap.stats().gc.generations;
  }

  /**
   * Everything the addon calls in JavaScript comes through here. Returns
   * true once the user code it had to call was entered: the addon takes
   * anything else (the stack was exhausted before user code could start)
   * as "not called", and tries a finalizer again at its next call, or
   * reports a lost callback later.
   */
  #dispatch(kind: string, a?: unknown, b?: unknown, c?: unknown, d?: unknown): boolean {
    // Set just before user code is called. What overflows the stack before
    // that is "not called" (the addon tries a finalizer again); what fails
    // after it (even while reporting an error) must not be, or a finalizer
    // would run twice. Neither the assignment nor the catch needs stack.
    let started = false;
    try {
      if (kind === 'finalize') {
        const finalize = this.#finalizers.get(b as TypeId);
        if (finalize) {
          started = true;
          try {
            finalize(a as Ref);
          } catch (error) {
            reportSafely('a finalizer', error);
          }
        }
      } else if (kind === 'debug') {
        started = true;
        try {
          this.debugOutput(a as string);
        } catch (error) {
          reportSafely('gc.debugOutput', error);
        }
      } else if (kind === 'lost') {
        const message = `refheap: ${a as number} gc callback or debugOutput call(s) could not be made: the JavaScript stack was exhausted`;
        process.emitWarning(message, { code: 'REFHEAP_CALLBACK_ERROR' });
      } else {
        const phase = kind as 'start' | 'stop';
        const info: GcInfo = { generation: a as number, collected: b as number, uncollectable: c as number, durationMs: d as number };
        started = true;
        let callbacks: GcCallback[] = [];
        try {
          callbacks = [...this.callbacks];
        } catch (error) {
          reportSafely('gc.callbacks', error);
        }
        for (const callback of callbacks) {
          try {
            callback(phase, { ...info });
          } catch (error) {
            reportSafely('a gc callback', error);
          }
        }
        const channel = phase === 'start' ? startChannel : stopChannel;
        if (channel.hasSubscribers) {
          try {
            channel.publish({ heap: this.#heap.name, ...info });
          } catch (error) {
            reportSafely('a refheap:gc subscriber', error);
          }
        }
      }
    } catch {
      return started;
    }
    return true;
  }
}
