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
import { append } from './own';
import { emitWarning } from './errors';

export interface GcInfo {
  generation: number;
  collected: number;
  uncollectable: number;
  durationMs: number;
}
export type GcCallback = (phase: 'start' | 'stop', info: GcInfo) => void;

const startChannel = diagnostics.channel('refheap:gc:start');
const stopChannel = diagnostics.channel('refheap:gc:stop');

/**
 * A finalizer or callback threw: report it, and let the operation go on.
 * Throws when even the error's text cannot be had here (V8 formats a stack
 * on first read, which near the limit can fail): the report is then made
 * later, from a fresh stack (`fresh`), where only what truly cannot be
 * shown is said so.
 */
function reportCallbackError(where: string, error: unknown, fresh: boolean): void {
  let detail: string;
  try {
    detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  } catch (unshowable) {
    if (!fresh) throw unshowable;
    detail = 'an error that cannot be shown';
  }
  emitWarning(`refheap: ${where} threw: ${detail}`, 'REFHEAP_CALLBACK_ERROR');
}

// ------------------------------------------------------ what is done later
//
// The dispatcher runs at whatever depth the call that collects or frees was
// made, and near the stack limit what it has to do — report an error user
// code threw, publish a refheap:gc message — may not fit. Neither may be
// lost, and a subscriber must never be called where it cannot even start:
// Node's diagnostics_channel catches what a subscriber throws and rethrows
// it on the next tick as an uncaught exception, so a subscriber that runs
// out of stack inside a collection would end the process.
//
// So each of them is kept, in order, in slots made in advance (own
// elements: storing into one runs no setter and allocates nothing), and
// done from the drain: at once when the stack allows, else from a
// microtask, on a fresh stack. Near the limit a call to an empty function
// fails hundreds of frames before Promise.prototype.then (a builtin that
// needs no JavaScript stack) does, so the drain is scheduled with it; if
// even that fails, every later dispatch tries again.

/** What a kept entry is. */
const enum Kept {
  Report,
  Warning,
  Start,
  Stop,
  /** Callbacks or debug lines that could not be called: what is their count. */
  Lost,
  /** Collections whose start and stop were both dropped by the addon: what is their count. */
  Dropped,
}
/** Slots in the ring; entries beyond it are counted and the count reported. */
const KEPT_SLOTS = 1024;
const keptKind: Kept[] = [];
/** Report: where the error was thrown; Warning: the message; Start / Stop: the channel's message; Lost, Dropped: a count. */
const keptWhat: unknown[] = [];
/** Report: the error. */
const keptError: unknown[] = [];
for (let i = 0; i < KEPT_SLOTS; i++) {
  append(keptKind, Kept.Report);
  append(keptWhat, undefined);
  append(keptError, undefined);
}
let keptFirst = 0;
let keptCount = 0;
/** How many of the kept entries are channel messages: while any is, new ones queue behind them. */
let keptMessages = 0;
/** Entries that found the ring full. */
let keptOverflow = 0;
/** A drain is scheduled and has not run yet. */
let drainScheduled = false;
/** Failed attempts at the first entry from a fresh stack: not for want of stack, so given up on after a few. */
let headFailures = 0;

const schedule: (run: () => void) => unknown = Promise.prototype.then.bind(Promise.resolve());
const apply = Reflect.apply;
const nothing = (): void => {};
/**
 * Arguments enough for 32 KiB of stack: a subscriber is called only if a
 * call with all of them fits (each is a machine word on the stack). Their
 * array is made of own elements, so spreading it reads no prototype.
 */
const STACK_PROBE: number[] = [];
for (let i = 0; i < 4096; i++) append(STACK_PROBE, 0);

/** Whether there is room (32 KiB) to call subscribers here. */
function roomForSubscribers(): boolean {
  try {
    apply(nothing, undefined, STACK_PROBE);
    return true;
  } catch {
    return false;
  }
}

/** Keeps one entry (stores only: it must work where little else does); false when the ring is full. */
function keep(kind: Kept, what: unknown, error?: unknown): void {
  if (keptCount === KEPT_SLOTS) {
    keptOverflow++;
    return;
  }
  const at = (keptFirst + keptCount) % KEPT_SLOTS;
  keptKind[at] = kind;
  keptWhat[at] = what;
  keptError[at] = error;
  keptCount++;
  if (kind === Kept.Start || kind === Kept.Stop) keptMessages++;
}

/** Schedules a drain on a fresh stack unless one is; never throws. */
function scheduleDrain(): void {
  if (drainScheduled) return;
  try {
    schedule(drainScheduledNow);
    drainScheduled = true;
  } catch {
    // the next dispatch tries again
  }
}

function drainScheduledNow(): void {
  drainScheduled = false;
  try {
    drain(true);
  } catch {
    // (drain catches what it runs; this is for a stack exhausted anyway)
  }
  if (keptCount > 0 && !drainScheduled) {
    // What is left needs a later turn: not another microtask of this checkpoint.
    try {
      setImmediate(drainScheduledNow);
      drainScheduled = true;
    } catch {
      // the next dispatch tries again
    }
  }
}

/**
 * Does the kept entries in order, as far as the stack allows; what cannot be
 * done now stays kept. `fresh`: run from a scheduled turn, not from inside a
 * refheap call.
 */
function drain(fresh: boolean): void {
  while (keptCount > 0) {
    const at = keptFirst;
    const kind = keptKind[at] as Kept;
    const what = keptWhat[at];
    const error = keptError[at];
    const message = kind === Kept.Start || kind === Kept.Stop;
    if (message && !roomForSubscribers()) return;
    if (!message) {
      try {
        if (kind === Kept.Report) reportCallbackError(what as string, error, fresh);
        else emitWarning(warningText(kind, what), 'REFHEAP_CALLBACK_ERROR');
      } catch {
        // Out of stack: kept for later. From a fresh stack it is not that
        // (process.emitWarning replaced by one that throws): given up on.
        if (!fresh || ++headFailures < 3) return;
      }
    }
    headFailures = 0;
    keptWhat[at] = undefined;
    keptError[at] = undefined;
    keptFirst = (at + 1) % KEPT_SLOTS;
    keptCount--;
    if (message) {
      keptMessages--;
      try {
        (kind === Kept.Start ? startChannel : stopChannel).publish(what);
      } catch (thrown) {
        keep(Kept.Report, 'a refheap:gc subscriber', thrown);
      }
    }
  }
  if (keptOverflow > 0) {
    const lost = keptOverflow;
    try {
      emitWarning(`refheap: ${lost} callback error report(s) or refheap:gc message(s) could not be kept near the stack limit`, 'REFHEAP_CALLBACK_ERROR');
      keptOverflow -= lost;
    } catch {
      // next time
    }
  }
}

/** The text of a kept Warning, Lost or Dropped entry. */
function warningText(kind: Kept, what: unknown): string {
  if (kind === Kept.Lost) return `refheap: ${what as number} gc callback or debugOutput call(s) could not be made: the JavaScript stack was exhausted`;
  if (kind === Kept.Dropped) return `refheap: the gc callbacks and refheap:gc messages of ${what as number} collection(s) could not be kept near the stack limit`;
  return what as string;
}

/**
 * Reports what user code threw, now if the stack allows, else later; never
 * throws. So once user code is entered nothing escapes the dispatcher, and
 * a call the addon sees fail cannot have started any user code.
 */
function reportSafely(where: string, error: unknown): void {
  keep(Kept.Report, where, error);
  // Kept: from here on nothing may throw, or the caller would keep it again.
  try {
    drain(false);
  } catch {
    // kept
  }
  try {
    if (keptCount > 0) scheduleDrain();
  } catch {
    // the next dispatch tries again
  }
}

/** Publishes one refheap:gc message now if a subscriber can be called here, else later, in order. */
function publishSafely(kind: Kept.Start | Kept.Stop, message: unknown): void {
  if (keptMessages === 0 && roomForSubscribers()) {
    try {
      (kind === Kept.Start ? startChannel : stopChannel).publish(message);
    } catch (error) {
      // (Node's publish throws only when it cannot even defer a subscriber's error.)
      try {
        reportSafely('a refheap:gc subscriber', error);
      } catch {
        // published: must not be kept again
      }
    }
    return;
  }
  keep(kind, message);
  try {
    drain(false);
  } catch {
    // kept
  }
  try {
    if (keptCount > 0) scheduleDrain();
  } catch {
    // the next dispatch tries again
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
  readonly #dispatcher = (kind: string, ...args: (number | string | boolean)[]): boolean | 1 => this.#dispatch(kind, ...args);

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
   * as "not called", and tries again from a fresh turn (a finalizer, a
   * collection event: delivered late) or reports the lost call (a debug
   * line). 1: it ran, and what it kept waits for a turn it could not
   * schedule (the addon gives one, and calls 'turn').
   */
  #dispatch(kind: string, a?: unknown, b?: unknown, c?: unknown, d?: unknown, late?: unknown, dropped?: unknown): boolean | 1 {
    // Set just before user code is called. What overflows the stack before
    // that is "not called" (the addon tries a finalizer again); what fails
    // after it (even while reporting an error) must not be, or a finalizer
    // would run twice. Neither the assignment nor the catch needs stack.
    let started = false;
    // What is being handed to reportSafely / publishSafely: if even that
    // call cannot be made, the catch below keeps it, with stores alone.
    let handing: Kept | -1 = -1;
    let handingWhat: unknown;
    let handingError: unknown;
    // The refheap:gc message of this event, once made and until handed to
    // publishSafely: whatever fails in between (a callback's report, even
    // reading hasSubscribers), the catch keeps it, or its start or stop
    // would be lost while the addon counts it delivered.
    let unpublished: Kept | -1 = -1;
    let unpublishedWhat: unknown;
    // Callbacks of this event not called yet: if the stack gives out before
    // they are, the catch counts them lost (a warning), never silently.
    let uncalled = 0;
    // Collections the addon dropped before this event, until kept (a warning).
    let droppedPairs = 0;
    try {
      // What an earlier dispatch kept and could not schedule (near the stack limit).
      if (keptCount > 0 && !drainScheduled) scheduleDrain();
      if (kind === 'finalize') {
        const finalize = this.#finalizers.get(b as TypeId);
        if (finalize) {
          started = true;
          try {
            finalize(a as Ref);
          } catch (error) {
            handing = Kept.Report;
            handingWhat = 'a finalizer';
            handingError = error;
            reportSafely('a finalizer', error);
            handing = -1;
          }
        }
      } else if (kind === 'debug') {
        started = true;
        try {
          this.debugOutput(a as string);
        } catch (error) {
          handing = Kept.Report;
          handingWhat = 'gc.debugOutput';
          handingError = error;
          reportSafely('gc.debugOutput', error);
          handing = -1;
        }
      } else if (kind === 'turn') {
        // A fresh turn the addon gave us, for what was kept and could not be scheduled.
        started = true;
        drain(true);
        if (keptCount > 0) scheduleDrain();
      } else if (kind === 'lost') {
        keep(Kept.Lost, a);
        started = true; // kept: the addon need not tell again
        drain(false);
        if (keptCount > 0) scheduleDrain();
      } else {
        const phase = kind as 'start' | 'stop';
        const info: GcInfo = { generation: a as number, collected: b as number, uncollectable: c as number, durationMs: d as number };
        // Made before anything is started, like `info`: what fails here is "not called".
        const message = { heap: this.#heap.name, ...info };
        unpublished = phase === 'start' ? Kept.Start : Kept.Stop;
        unpublishedWhat = message;
        started = true;
        droppedPairs = dropped as number;
        if (droppedPairs > 0) {
          keep(Kept.Dropped, droppedPairs);
          droppedPairs = 0;
          scheduleDrain();
        }
        let callbacks: GcCallback[] = [];
        try {
          callbacks = [...this.callbacks];
        } catch (error) {
          handing = Kept.Report;
          handingWhat = 'gc.callbacks';
          handingError = error;
          reportSafely('gc.callbacks', error);
          handing = -1;
        }
        uncalled = callbacks.length;
        // Late (the addon could not call us when it happened): the callbacks were due then,
        // and are not called after the fact; the message is still published, so that every
        // 'start' a subscriber sees has its 'stop'.
        if (late !== true) {
          // Indexed over our own copy: no iterator, nothing that can fail between
          // counting a callback called and calling it.
          for (let i = 0; i < callbacks.length; i++) {
            const callback = callbacks[i] as GcCallback;
            const argument = { ...info };
            uncalled--;
            try {
              callback(phase, argument);
            } catch (error) {
              handing = Kept.Report;
              handingWhat = 'a gc callback';
              handingError = error;
              reportSafely('a gc callback', error);
              handing = -1;
            }
          }
        }
        if (uncalled > 0) {
          keep(Kept.Lost, uncalled);
          uncalled = 0;
          scheduleDrain();
        }
        // Published at once where a subscriber has room to run, else kept
        // and published from a fresh stack (see "what is done later").
        // (publishSafely throws only where it has neither published nor kept the message.)
        if ((phase === 'start' ? startChannel : stopChannel).hasSubscribers) publishSafely(unpublished, message);
        unpublished = -1;
      }
    } catch {
      // keep(), written out (no call fits here): the collections dropped
      // before, what was being handed over, the callbacks not called, then the message.
      for (let i = 0; i < 4; i++) {
        const what = i === 0 ? (droppedPairs > 0 ? Kept.Dropped : -1) : i === 1 ? handing : i === 2 ? (uncalled > 0 ? Kept.Lost : -1) : unpublished;
        if (what === -1) continue;
        if (keptCount === KEPT_SLOTS) keptOverflow++;
        else {
          const at = (keptFirst + keptCount) % KEPT_SLOTS;
          keptKind[at] = what;
          keptWhat[at] = i === 0 ? droppedPairs : i === 1 ? handingWhat : i === 2 ? uncalled : unpublishedWhat;
          keptError[at] = i === 1 ? handingError : undefined;
          keptCount++;
          if (what === Kept.Start || what === Kept.Stop) keptMessages++;
        }
      }
      if (droppedPairs > 0 || handing !== -1 || uncalled > 0 || unpublished !== -1) {
        if (!drainScheduled) {
          try {
            schedule(drainScheduledNow);
            drainScheduled = true;
          } catch {
            // the next dispatch tries again
          }
        }
      }
      return started && (drainScheduled || keptCount === 0 ? true : 1);
    }
    // 1: kept work waits and no turn could be scheduled for it; the addon gives us one.
    return drainScheduled || keptCount === 0 ? true : 1;
  }
}
