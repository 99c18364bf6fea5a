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

/** The functions of one native heap; each carries its heap, so none needs `this`. */
export interface NativeHeap {
  readonly heapId: number;
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
export type Dispatcher = (kind: 'finalize' | 'start' | 'stop' | 'debug', ...args: (number | string)[]) => void;

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

interface Addon {
  createHeap(maxBytes?: number): NativeHeap;
  setErrorClass(errorClass: typeof RefheapError): void;
  layout: Layout;
  /** What each value of `stats()` is: its path in HeapStats. */
  statsFields: StatsField[];
  statsPageLayout: StatsPageLayout;
  /** Does nothing: the benchmarks' baseline for one Node-API call. */
  noop(): void;
}

const addon = load(path.join(__dirname, '..')) as Addon;
addon.setErrorClass(RefheapError);

export const createNativeHeap = addon.createHeap;
export const layout: Readonly<Layout> = addon.layout;
export const statsFields: readonly StatsField[] = addon.statsFields;
export const statsPageLayout: Readonly<StatsPageLayout> = addon.statsPageLayout;
export const nativeNoop = addon.noop;
