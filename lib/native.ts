/**
 * The one seam between JavaScript and the addon: every native export is
 * declared here, typed, next to the call that loads it.
 */
import path from 'node:path';
import load from 'node-gyp-build';
import { RefheapError } from './errors';
import type { StatsField } from './stats';

/** A positive safe integer naming one live block of one heap. */
export type Ref = number;
export type TypeId = number;

/** What one native heap does: the methods of NativeHeap, each the addon function of that name with the heap as argument 0. */
interface NativeHeapMethods {
  alloc(size: number, slots?: number, type?: TypeId): Ref;
  allocMany(count: number, size: number, slots?: number, type?: TypeId): Float64Array;
  retain(ref: Ref): Ref;
  release(ref: Ref): void;
  releaseMany(refs: ArrayLike<number>): void;
  refcount(ref: Ref): number;
  setRef(ref: Ref, slot: number, target: Ref | null): void;
  getRef(ref: Ref, slot: number): Ref | null;
  slotCount(ref: Ref): number;
  sizeOf(ref: Ref): number;
  typeOf(ref: Ref): TypeId;
  getUint8(ref: Ref, offset: number): number;
  setUint8(ref: Ref, offset: number, value: number): void;
  getInt32(ref: Ref, offset: number): number;
  setInt32(ref: Ref, offset: number, value: number): void;
  getUint32(ref: Ref, offset: number): number;
  setUint32(ref: Ref, offset: number, value: number): void;
  getFloat64(ref: Ref, offset: number): number;
  setFloat64(ref: Ref, offset: number, value: number): void;
  getBigInt64(ref: Ref, offset: number): bigint;
  setBigInt64(ref: Ref, offset: number, value: bigint): void;
  write(ref: Ref, offset: number, src: ArrayBufferView): void;
  read(ref: Ref, offset?: number, length?: number): Uint8Array;
  view(ref: Ref): Uint8Array;
  defineType(name: string, hasFinalizer: boolean, uncollectable: boolean): TypeId;
  typeName(type: TypeId): string;
  /** The values of `statsFields`, in order; the live page gets the same snapshot. */
  stats(): Float64Array;
  /** The report of `heap.debugMallocStats()`, from a walk of the arenas; throws if it does not add up. */
  debugMallocStats(): string;
  /** Starts the live statistics page in `dir` (checked by the caller); throws ERR_STATS_PAGE. */
  publishTo(dir: string, name: string): void;
  /** Brings the live statistics page up to date (nothing without one). */
  publishNow(): void;
  trim(): number;
  close(): void;
  isClosed(): boolean;
  gcCollect(generation?: number): number;
  gcSetEnabled(enabled: boolean): void;
  gcIsEnabled(): boolean;
  gcGetCount(): [number, number, number];
  gcGetThreshold(): [number, number, number];
  gcSetThreshold(t0: number, t1?: number, t2?: number): void;
  gcGetDebug(): number;
  gcSetDebug(flags: number): void;
  gcGarbage(): Ref[];
  gcClearGarbage(): number;
  gcGetObjects(generation?: number | null): Ref[];
  gcGetReferrers(refs: Ref[]): Ref[];
  gcGetReferents(refs: Ref[]): Ref[];
  gcIsTracked(ref: Ref): boolean;
  gcIsFinalized(ref: Ref): boolean;
  gcFreeze(): void;
  gcUnfreeze(): void;
  gcGetFreezeCount(): number;
  /** Where finalizers, collection events and debug lines are delivered. */
  setDispatcher(dispatch: Dispatcher): void;
  /** Test hook: a full consistency check; '' when consistent. */
  verify(): string;
  /** Test hook: the n-th OS mapping from now fails (0 disarms). */
  failNthMapping(n: number): void;
}

/** What the addon calls: ('finalize', ref, type), ('start' | 'stop', generation, collected, uncollectable, durationMs), ('debug', line). */
/**
 * What the addon calls for every finalizer, collection event ('start'/'stop': generation, collected,
 * uncollectable, durationMs, late, dropped pairs before it), debug line, report of calls it could not
 * make ('lost') and fresh turn it gave ('turn'). True once it ran; 1: it ran, and kept work it could not
 * schedule (the addon gives it a fresh turn); anything else: not called at all.
 */
export type Dispatcher = (kind: string, ...args: (number | string | boolean)[]) => boolean | 1;

/** The block layout, defined once in native/core. */
export interface Layout {
  granule: number;
  poolSize: number;
  arenaSize: number;
  smallLimit: number;
  poolHeaderSize: number;
  blockHeaderSize: number;
  slottedHeaderSize: number;
  slotSize: number;
  maxDataBytes: number;
  maxSlots: number;
  maxTypes: number;
  /** How deep finalizers of blocks freed inside finalizers nest before they wait (config.h). */
  maxNestedFinalizers: number;
  /** allocMany: the most blocks one call makes. */
  maxBatch: number;
  /** The OS's page size (sysconf), the unit of RSS. */
  osPageSize: number;
  /** A ref: tag, granule and slot fields, low bits to high (block.h). */
  ref: { tagBits: number; granuleBits: number; slotBits: number; granuleShift: number; slotShift: number };
}

/** The collector's settings and limits (config.h, collector.h). */
export interface CollectorConstants {
  generations: number;
  defaultThresholds: [number, number, number];
  maxThreshold: number;
  /** The values of Python's gc.DEBUG_* constants. */
  debugFlags: { stats: number; collectable: number; uncollectable: number; saveAll: number; leak: number };
}

/** The statistics page's header, defined once in native/core/stats_page.h. */
export interface StatsPageLayout {
  magic: string;
  headerBytes: number;
  nameCapacity: number;
  offsets: Record<
    | 'version' | 'headerBytes' | 'pageBytes' | 'sequence' | 'pid' | 'threadId' | 'heapId' | 'createdMs'
    | 'processStart' | 'publishedMs' | 'fieldCount' | 'pathSlotBytes' | 'pathsOffset' | 'kindsOffset'
    | 'valuesOffset' | 'nameBytes' | 'name',
    number
  >;
}

/** A heap as the addon hands it out: an External, opaque to JavaScript. */
declare const heapHandle: unique symbol;
type HeapHandle = { readonly [heapHandle]: true };

/** The addon's heap functions: one set shared by every heap of the thread. */
type HeapFunctions = {
  [K in keyof NativeHeapMethods]: (heap: HeapHandle, ...args: Parameters<NativeHeapMethods[K]>) => ReturnType<NativeHeapMethods[K]>;
} & { heapId(heap: HeapHandle): number };

interface Addon {
  createHeap(maxBytes?: number): HeapHandle;
  heapFunctions: HeapFunctions;
  setErrorClass(errorClass: typeof RefheapError): void;
  layout: Layout;
  collector: CollectorConstants;
  /** What each value of `stats()` is: its path in HeapStats. */
  statsFields: StatsField[];
  statsPageLayout: StatsPageLayout;
  /** The same report from a statistics page's values (of `statsFields`, in order); throws if they do not add up. */
  formatMallocStats(values: Float64Array): string;
  /** Node's TypeError or RangeError for a bad argument, worded as the addon words its own. */
  argumentError(code: 'ERR_INVALID_ARG_TYPE' | 'ERR_OUT_OF_RANGE', name: string, expected: string, received: unknown): TypeError | RangeError;
  /** Does nothing: the benchmarks' baseline for one Node-API call. */
  noop(): void;
}

const addon = load(path.join(__dirname, '..')) as Addon;
addon.setErrorClass(RefheapError);

export const layout: Readonly<Layout> = addon.layout;
export const collectorConstants: Readonly<CollectorConstants> = addon.collector;
export const statsFields: readonly StatsField[] = addon.statsFields;
export const statsPageLayout: Readonly<StatsPageLayout> = addon.statsPageLayout;
export const nativeNoop = addon.noop;
export const formatMallocStats = addon.formatMallocStats;

/** `The "name" argument must be <expected>. Received ...`, code ERR_INVALID_ARG_TYPE. */
export function invalidArgType(name: string, expected: string, received: unknown): TypeError {
  return addon.argumentError('ERR_INVALID_ARG_TYPE', name, expected, received) as TypeError;
}

/** `The value of "name" is out of range. It must be <range>. Received ...`, code ERR_OUT_OF_RANGE. */
export function outOfRange(name: string, range: string, received: unknown): RangeError {
  return addon.argumentError('ERR_OUT_OF_RANGE', name, range, received) as RangeError;
}

// A copy with fast properties: the addon's object, built one property at a
// time, is a dictionary, and each call would look its function up there.
const f: HeapFunctions = { ...addon.heapFunctions };

/**
 * One native heap. Its memory is held by an External (`#heap`) that every
 * method passes as argument 0 of the addon's shared functions: a heap costs
 * one External and this object, not a set of functions of its own. The
 * heap closes when V8 collects both this object and its last view.
 *
 * Each method passes on exactly the arguments it was given where the addon
 * counts them (alloc's fast path takes one argument, not three).
 */
export class NativeHeap implements NativeHeapMethods {
  readonly #heap: HeapHandle;
  /** The dispatcher, held strongly (see setDispatcher). */
  dispatcher: Dispatcher | undefined;
  readonly heapId: number;

  constructor(maxBytes?: number) {
    this.#heap = addon.createHeap(maxBytes);
    this.heapId = f.heapId(this.#heap);
  }

  alloc(size: number, slots?: number, type?: TypeId): Ref {
    // Only the arguments given: the addon's fast path takes 1, 2 or 3 numbers.
    if (type !== undefined) return f.alloc(this.#heap, size, slots, type);
    return slots === undefined ? f.alloc(this.#heap, size) : f.alloc(this.#heap, size, slots);
  }
  allocMany(count: number, size: number, slots?: number, type?: TypeId): Float64Array {
    return f.allocMany(this.#heap, count, size, slots, type);
  }
  retain(ref: Ref): Ref { return f.retain(this.#heap, ref); }
  release(ref: Ref): void { f.release(this.#heap, ref); }
  releaseMany(refs: ArrayLike<number>): void { f.releaseMany(this.#heap, refs); }
  refcount(ref: Ref): number { return f.refcount(this.#heap, ref); }
  setRef(ref: Ref, slot: number, target: Ref | null): void { f.setRef(this.#heap, ref, slot, target); }
  getRef(ref: Ref, slot: number): Ref | null { return f.getRef(this.#heap, ref, slot); }
  slotCount(ref: Ref): number { return f.slotCount(this.#heap, ref); }
  sizeOf(ref: Ref): number { return f.sizeOf(this.#heap, ref); }
  typeOf(ref: Ref): TypeId { return f.typeOf(this.#heap, ref); }
  getUint8(ref: Ref, offset: number): number { return f.getUint8(this.#heap, ref, offset); }
  setUint8(ref: Ref, offset: number, value: number): void { f.setUint8(this.#heap, ref, offset, value); }
  getInt32(ref: Ref, offset: number): number { return f.getInt32(this.#heap, ref, offset); }
  setInt32(ref: Ref, offset: number, value: number): void { f.setInt32(this.#heap, ref, offset, value); }
  getUint32(ref: Ref, offset: number): number { return f.getUint32(this.#heap, ref, offset); }
  setUint32(ref: Ref, offset: number, value: number): void { f.setUint32(this.#heap, ref, offset, value); }
  getFloat64(ref: Ref, offset: number): number { return f.getFloat64(this.#heap, ref, offset); }
  setFloat64(ref: Ref, offset: number, value: number): void { f.setFloat64(this.#heap, ref, offset, value); }
  getBigInt64(ref: Ref, offset: number): bigint { return f.getBigInt64(this.#heap, ref, offset); }
  setBigInt64(ref: Ref, offset: number, value: bigint): void { f.setBigInt64(this.#heap, ref, offset, value); }
  write(ref: Ref, offset: number, src: ArrayBufferView): void { f.write(this.#heap, ref, offset, src); }
  read(ref: Ref, offset?: number, length?: number): Uint8Array { return f.read(this.#heap, ref, offset, length); }
  view(ref: Ref): Uint8Array { return f.view(this.#heap, ref); }
  defineType(name: string, hasFinalizer: boolean, uncollectable: boolean): TypeId {
    return f.defineType(this.#heap, name, hasFinalizer, uncollectable);
  }
  typeName(type: TypeId): string { return f.typeName(this.#heap, type); }
  stats(): Float64Array { return f.stats(this.#heap); }
  debugMallocStats(): string { return f.debugMallocStats(this.#heap); }
  publishTo(dir: string, name: string): void { f.publishTo(this.#heap, dir, name); }
  publishNow(): void { f.publishNow(this.#heap); }
  trim(): number { return f.trim(this.#heap); }
  close(): void { f.close(this.#heap); }
  isClosed(): boolean { return f.isClosed(this.#heap); }
  gcCollect(generation?: number): number { return f.gcCollect(this.#heap, generation); }
  gcSetEnabled(enabled: boolean): void { f.gcSetEnabled(this.#heap, enabled); }
  gcIsEnabled(): boolean { return f.gcIsEnabled(this.#heap); }
  gcGetCount(): [number, number, number] { return f.gcGetCount(this.#heap); }
  gcGetThreshold(): [number, number, number] { return f.gcGetThreshold(this.#heap); }
  gcSetThreshold(t0: number, t1?: number, t2?: number): void { f.gcSetThreshold(this.#heap, t0, t1, t2); }
  gcGetDebug(): number { return f.gcGetDebug(this.#heap); }
  gcSetDebug(flags: number): void { f.gcSetDebug(this.#heap, flags); }
  gcGarbage(): Ref[] { return f.gcGarbage(this.#heap); }
  gcClearGarbage(): number { return f.gcClearGarbage(this.#heap); }
  gcGetObjects(generation?: number | null): Ref[] { return f.gcGetObjects(this.#heap, generation); }
  gcGetReferrers(refs: Ref[]): Ref[] { return f.gcGetReferrers(this.#heap, refs); }
  gcGetReferents(refs: Ref[]): Ref[] { return f.gcGetReferents(this.#heap, refs); }
  gcIsTracked(ref: Ref): boolean { return f.gcIsTracked(this.#heap, ref); }
  gcIsFinalized(ref: Ref): boolean { return f.gcIsFinalized(this.#heap, ref); }
  gcFreeze(): void { f.gcFreeze(this.#heap); }
  gcUnfreeze(): void { f.gcUnfreeze(this.#heap); }
  gcGetFreezeCount(): number { return f.gcGetFreezeCount(this.#heap); }
  /**
   * The addon holds the dispatcher weakly (a strong native reference would
   * keep the heap alive for ever); this object holds it strongly, so a heap
   * kept only by its methods (`const { release } = heap`) still runs its
   * finalizers and gc callbacks.
   */
  setDispatcher(dispatch: Dispatcher): void {
    f.setDispatcher(this.#heap, dispatch);
    this.dispatcher = dispatch;
  }
  verify(): string { return f.verify(this.#heap); }
  failNthMapping(n: number): void { f.failNthMapping(this.#heap, n); }
}
