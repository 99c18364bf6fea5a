/**
 * The `Heap` class (SPEC section 4). Its block methods are functions of
 * each instance, not of the prototype, so that `const { alloc } = heap`
 * works; each is one small closure calling the native heap (which V8
 * inlines), so a heap costs a few closures rather than a set of native
 * functions of its own. Argument checks and errors happen in the addon
 * (native/binding).
 */
import { collectorConstants, invalidArgType, NativeHeap, outOfRange, statsFields, type Ref, type TypeId } from './native';
import { RefheapError } from './errors';
import { buildStats, type HeapStats } from './stats';
import { publishHeap } from './stats-publisher';
import { Gc } from './gc';

export interface HeapOptions {
  /** Shown by the CLI; default `heap-<id>`. */
  name?: string;
  /** Cap on bytes mapped from the OS; default: no cap. */
  maxBytes?: number;
  /** Collection thresholds; default [700, 10, 10]. */
  thresholds?: [number, number?, number?];
  /** Automatic collection; default true. */
  autoCollect?: boolean;
  /** Live statistics page for the CLI; default true. */
  publish?: boolean;
}

const DEFAULT_THRESHOLDS = collectorConstants.defaultThresholds;
const MAX_THRESHOLD = collectorConstants.maxThreshold;

function checkThresholds(value: unknown): [number, number, number] {
  if (value === undefined) return [...DEFAULT_THRESHOLDS];
  if (!Array.isArray(value)) throw invalidArgType('options.thresholds', 'an array of numbers', value);
  // Each element is read once: a getter must not pass the check with one
  // value and hand over another.
  const length: unknown = value.length;
  if (typeof length !== 'number' || length < 1 || length > 3) throw outOfRange('options.thresholds.length', '1, 2 or 3', length);
  const thresholds: [number, number, number] = [...DEFAULT_THRESHOLDS];
  for (let i = 0; i < length; i++) {
    const t: unknown = value[i];
    if (t === undefined && i > 0) continue;
    if (typeof t !== 'number') throw invalidArgType(`options.thresholds[${i}]`, 'of type number', t);
    if (!Number.isInteger(t) || t < 0 || t > MAX_THRESHOLD) {
      throw outOfRange(`options.thresholds[${i}]`, `an integer >= 0 && <= ${MAX_THRESHOLD}`, t);
    }
    thresholds[i] = t;
  }
  return thresholds;
}

function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

export interface TypeOptions {
  /** Runs at most once per block, when it is about to be freed; storing `ref` resurrects it. */
  finalize?: (ref: Ref) => void;
  /** Unreachable blocks of this type go to `gc.garbage` instead of being freed. */
  uncollectable?: boolean;
}

export class Heap implements Disposable {
  readonly name: string;
  /** The cycle collector, with the vocabulary of Python's `gc` module. */
  readonly gc: Gc;
  readonly #native: NativeHeap;
  /** Whether this heap publishes a live statistics page (SPEC section 9). */
  readonly publish: boolean;

  /** A new reference to a block of `size` zeroed bytes and `slots` empty slots. */
  readonly alloc: (size: number, slots?: number, type?: TypeId) => Ref;
  /** `count` new references at once, as by `count` calls of `alloc`. */
  readonly allocMany: (count: number, size: number, slots?: number, type?: TypeId) => Float64Array;
  /** Count + 1; returns `ref`. */
  readonly retain: (ref: Ref) => Ref;
  /** Count − 1; at zero the block's slots are released and its memory returns to its pool. */
  readonly release: (ref: Ref) => void;
  /** Releases each ref in order; throws ERR_INVALID_REF with `index` at the first invalid one. */
  readonly releaseMany: (refs: ArrayLike<number>) => void;
  /** The exact reference count. */
  readonly refcount: (ref: Ref) => number;
  /** Stores `target` (count + 1) in `slot`, releasing the previous occupant. */
  readonly setRef: (ref: Ref, slot: number, target: Ref | null) => void;
  /** The borrowed ref in `slot`, or null. */
  readonly getRef: (ref: Ref, slot: number) => Ref | null;
  readonly slotCount: (ref: Ref) => number;
  readonly sizeOf: (ref: Ref) => number;
  readonly typeOf: (ref: Ref) => TypeId;
  readonly getUint8: (ref: Ref, offset: number) => number;
  readonly setUint8: (ref: Ref, offset: number, value: number) => void;
  readonly getInt32: (ref: Ref, offset: number) => number;
  readonly setInt32: (ref: Ref, offset: number, value: number) => void;
  readonly getUint32: (ref: Ref, offset: number) => number;
  readonly setUint32: (ref: Ref, offset: number, value: number) => void;
  readonly getFloat64: (ref: Ref, offset: number) => number;
  readonly setFloat64: (ref: Ref, offset: number, value: number) => void;
  readonly getBigInt64: (ref: Ref, offset: number) => bigint;
  readonly setBigInt64: (ref: Ref, offset: number, value: bigint) => void;
  /** Copies `src` into the block's data at `offset`. */
  readonly write: (ref: Ref, offset: number, src: ArrayBufferView) => void;
  /** A copy of `length` data bytes from `offset` (default: to the end). */
  readonly read: (ref: Ref, offset?: number, length?: number) => Uint8Array;
  /** A zero-copy view of the data; holds a count until V8 collects the view. */
  readonly view: (ref: Ref) => Uint8Array;
  readonly typeName: (type: TypeId) => string;
  /** Returns unused pages to the OS; the bytes released. */
  readonly trim: () => number;

  constructor(options: HeapOptions = {}) {
    if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
    // Each option is read once, in this order: a getter sees one read, and
    // what is checked is what is used.
    const { name, maxBytes, thresholds: thresholdsOption, autoCollect: autoCollectOption, publish } = options;
    if (name !== undefined && typeof name !== 'string') throw invalidArgType('options.name', 'of type string', name);
    const thresholds = checkThresholds(thresholdsOption);
    const autoCollect = checkBoolean('options.autoCollect', autoCollectOption, true);
    this.publish = checkBoolean('options.publish', publish, true);
    const native = new NativeHeap(maxBytes);
    this.#native = native;
    this.name = name ?? `heap-${native.heapId}`;
    native.gcSetThreshold(...thresholds);
    native.gcSetEnabled(autoCollect);
    this.gc = new Gc(native, this);
    this.alloc = (size, slots, type) => native.alloc(size, slots, type);
    this.allocMany = (count, size, slots, type) => native.allocMany(count, size, slots, type);
    this.retain = (ref) => native.retain(ref);
    this.release = (ref) => native.release(ref);
    this.releaseMany = (refs) => native.releaseMany(refs);
    this.refcount = (ref) => native.refcount(ref);
    this.setRef = (ref, slot, target) => native.setRef(ref, slot, target);
    this.getRef = (ref, slot) => native.getRef(ref, slot);
    this.slotCount = (ref) => native.slotCount(ref);
    this.sizeOf = (ref) => native.sizeOf(ref);
    this.typeOf = (ref) => native.typeOf(ref);
    this.getUint8 = (ref, offset) => native.getUint8(ref, offset);
    this.setUint8 = (ref, offset, value) => native.setUint8(ref, offset, value);
    this.getInt32 = (ref, offset) => native.getInt32(ref, offset);
    this.setInt32 = (ref, offset, value) => native.setInt32(ref, offset, value);
    this.getUint32 = (ref, offset) => native.getUint32(ref, offset);
    this.setUint32 = (ref, offset, value) => native.setUint32(ref, offset, value);
    this.getFloat64 = (ref, offset) => native.getFloat64(ref, offset);
    this.setFloat64 = (ref, offset, value) => native.setFloat64(ref, offset, value);
    this.getBigInt64 = (ref, offset) => native.getBigInt64(ref, offset);
    this.setBigInt64 = (ref, offset, value) => native.setBigInt64(ref, offset, value);
    this.write = (ref, offset, src) => native.write(ref, offset, src);
    this.read = (ref, offset, length) => native.read(ref, offset, length);
    this.view = (ref) => native.view(ref);
    this.typeName = (type) => native.typeName(type);
    this.trim = () => native.trim();
    if (this.publish) publishHeap(native, this.name);
  }

  /** A new block type; returns its id (type 0 is the built-in "block"). */
  defineType(name: string, options: TypeOptions = {}): TypeId {
    if (this.#native.isClosed()) throw new RefheapError('The heap is closed', 'ERR_HEAP_CLOSED');
    if (typeof options !== 'object' || options === null) throw invalidArgType('options', 'of type object', options);
    const { finalize, uncollectable } = options;
    if (finalize !== undefined && typeof finalize !== 'function') {
      throw invalidArgType('options.finalize', 'of type function', finalize);
    }
    const keep = checkBoolean('options.uncollectable', uncollectable, false);
    const type = this.#native.defineType(name, finalize !== undefined, keep);
    if (finalize) this.gc._setFinalizer(type, finalize);
    return type;
  }

  /** This heap's id in its process (the CLI's `<pid>.<heapId>`). */
  get id(): number {
    return this.#native.heapId;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#native.isClosed();
  }

  /** One consistent snapshot of the heap's counters. */
  stats(): HeapStats {
    const identity = { name: this.name, pid: process.pid, heapId: this.#native.heapId };
    return buildStats(identity, statsFields, this.#native.stats());
  }

  /** A text report laid out like CPython's `sys._debugmallocstats()`. */
  debugMallocStats(): string {
    return this.#native.debugMallocStats();
  }

  /**
   * Frees every block without running finalizers, returns all memory to the
   * OS and detaches every view. Later calls throw ERR_HEAP_CLOSED; a second
   * `close()` does nothing.
   */
  close(): void {
    this.#native.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** @internal Full consistency check of the heap's memory ('' when consistent). */
  _verify(): string {
    return this.#native.verify();
  }

  /** @internal Fault injection: the n-th OS mapping from now fails. */
  _failNthMapping(n: number): void {
    this.#native.failNthMapping(n);
  }
}
