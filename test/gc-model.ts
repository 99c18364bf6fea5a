/**
 * A reference model of refheap's blocks and collector, in plain TypeScript,
 * written from SPEC sections 3-6 and from CPython 3.11's Modules/gcmodule.c
 * (and Objects/typeobject.c's subtype_dealloc for the count-zero path) --
 * not from refheap's C++ code. Its only purpose is to be compared with the
 * real Heap (test/gc-model.test.ts), so it favours being obviously CPython
 * over being fast. The one exception is opt-in and kept apart: a
 * ModelDeviation copies a departure of refheap's from CPython, already
 * reported, so that a comparison can look past it.
 *
 * Design
 * - Blocks are named by ids the caller chooses (the differential test uses
 *   the same ids for the real heap's refs), so the model never invents names.
 * - Every list of the collector is a JavaScript Set, whose iteration order is
 *   insertion order and which visits elements appended (or deleted and
 *   re-added) during the iteration: exactly the behaviour of CPython's
 *   doubly-linked PyGC_Head lists that move_unreachable relies on. A block
 *   knows the list it is on (`list`), so freeing it unlinks it from
 *   wherever it is, as PyObject_GC_UnTrack does.
 * - One method per phase of gc_collect_main, in CPython's order and with
 *   CPython's names in the comments, so the two can be read side by side.
 * - Where SPEC deliberately differs from CPython it is said where it
 *   happens (the count the heap takes on uncollectable blocks when it splits
 *   them off, SPEC 5).
 * - Finalizers within one collection run in "no particular order" (SPEC 6).
 *   The model runs them in CPython's list order unless `hooks.orderFinalizers`
 *   says otherwise; the differential test passes the order the real heap
 *   used, so that an order the spec leaves free is never reported as a bug.
 *   Everything else (cascading frees: depth first, slots in order, as
 *   CPython's recursive dealloc does) is deterministic.
 *
 * What it does not model: memory (sizes, pools, arenas), data bytes, views,
 * maxBytes, close(), debug output lines, getReferrers/getReferents, timing,
 * argument checking and errors. Uncollectable types have no finalizer here.
 */
import { layout } from '../lib/native';

export const NUM_GENERATIONS = 3;
export const MODEL_DEBUG_SAVEALL = 32;

export interface ModelType {
  readonly name: string;
  readonly finalize: boolean;
  readonly uncollectable: boolean;
}

/**
 * A departure from CPython the model can be asked to copy, so that a
 * differential run can look past a disagreement already reported. Found by
 * test/gc-model.test.ts and checked against CPython 3.11; the mechanism is
 * refheap's (native/core/heap.cc: on_zero, can_free_now, run_finalizers,
 * free_cascade; collector.cc: delete_garbage), modelled from its code.
 *
 * 'refheap-release-path': a block with a finalizer that reaches zero is
 * untracked and queued (last in, first out); what a release queued runs
 * when that release is complete, nested inside a running finalizer up to
 * layout.maxNestedFinalizers deep (deeper, the level above takes it), and
 * not while a collection deletes its garbage (then once the deletion is
 * done, still inside the collection, as CPython). Freeing walks slots last
 * to first and counts a block off count0 before its slots. Its observable
 * consequences, each unlike CPython:
 * - past that depth, release(b) of a block with a finalizer returns with b
 *   still live at count 0; b's finalizer runs after the current one;
 * - a block is on no generation while its count-zero finalizer runs, so a
 *   collection run by that finalizer leaves it in generation 0;
 * - count0 already excludes a freed block while its children's finalizers run;
 * - cascades free in another order.
 */
export type ModelDeviation = 'refheap-release-path';

export interface ModelGcInfo {
  generation: number;
  collected: number;
  uncollectable: number;
}

export interface ModelHooks {
  /** The block's finalizer: called once per block, the block valid (and held) during the call. */
  finalize?(id: number): void;
  /** gc.callbacks: 'start' before a collection (counts not yet reset), 'stop' after it. */
  callback?(phase: 'start' | 'stop', info: ModelGcInfo): void;
  /**
   * The order in which one collection's finalize phase visits its blocks (a
   * permutation of `ids`, which come in CPython's list order). Default: as given.
   */
  orderFinalizers?(ids: number[]): number[];
  /**
   * 'refheap-release-path' only: when several queued finalizers are due, the
   * one with the lowest rank runs first (undefined: last queued, first run).
   */
  finalizerRank?(id: number): number | undefined;
}

/** A collector list: a generation, the permanent generation, or one of a collection's working lists. */
class GcList extends Set<Block> {
  constructor(readonly name: string) {
    super();
  }
}

interface Block {
  readonly id: number;
  count: number;
  readonly slots: (Block | null)[];
  readonly type: ModelType;
  finalized: boolean;
  freed: boolean;
  /** The list the block is linked into; null when untracked (no slots, or mid-dealloc). */
  list: GcList | null;
  // Collection-time state, meaningful only while `collecting` (gc_refs and the two flag bits of CPython).
  gcRefs: number;
  collecting: boolean;
  unreachable: boolean;
}

export class GcModel {
  readonly #blocks = new Map<number, Block>();
  readonly #types: ModelType[] = [{ name: 'block', finalize: false, uncollectable: false }];
  readonly #hooks: ModelHooks;

  readonly #generations = [new GcList('gen0'), new GcList('gen1'), new GcList('gen2')];
  readonly #permanent = new GcList('permanent');
  readonly #counts = [0, 0, 0];
  readonly #thresholds = [700, 10, 10];
  #enabled = true;
  #collecting = false;
  #debug = 0;
  #longLivedTotal = 0;
  #longLivedPending = 0;
  #garbage: Block[] = [];
  readonly #stats = [0, 1, 2].map(() => ({ collections: 0, collected: 0, uncollectable: 0 }));

  // 'refheap-release-path' only (see ModelDeviation).
  readonly #refheapPath: boolean;
  readonly #pendingFinalizers: Block[] = [];
  readonly #finalizing: Block[] = [];
  #finalizerDepth = 0; // heap.cc finalizer_depth_
  #finalizePhase = false;
  #deleting = false;
  /** The lists of the collection in progress on which JavaScript may run (refheap's kCollecting). */
  readonly #workingLists = new Set<GcList>();

  constructor(hooks: ModelHooks = {}, options: { thresholds?: number[]; enabled?: boolean; deviations?: ModelDeviation[] } = {}) {
    this.#hooks = hooks;
    this.#refheapPath = (options.deviations ?? []).includes('refheap-release-path');
    if (options.thresholds) this.setThreshold(...(options.thresholds as [number, number?, number?]));
    if (options.enabled !== undefined) this.#enabled = options.enabled;
  }

  // ---------------------------------------------------------------- types and blocks

  defineType(name: string, options: { finalize?: boolean; uncollectable?: boolean } = {}): number {
    this.#types.push({ name, finalize: !!options.finalize, uncollectable: !!options.uncollectable });
    return this.#types.length - 1;
  }

  /**
   * A new block named `id`, count 1. Tracked iff it has slots. As in CPython
   * 3.11's _PyObject_GC_Link (gc_alloc), a tracked allocation counts first
   * and may collect before the new block is tracked, so it is not part of
   * that collection and is in generation 0 afterwards.
   */
  alloc(id: number, slots = 0, type = 0): void {
    if (this.#blocks.has(id)) throw new Error(`model: id ${id} is already live`);
    const blockType = this.#types[type];
    if (!blockType) throw new Error(`model: unknown type ${type}`);
    if (slots > 0) {
      this.#counts[0]++;
      if (this.#enabled && this.#thresholds[0] > 0 && !this.#collecting && this.#counts[0] > this.#thresholds[0]) {
        this.#collecting = true;
        try {
          this.#collectGenerations();
        } finally {
          this.#collecting = false;
        }
      }
    }
    const block: Block = {
      id,
      count: 1,
      slots: new Array<Block | null>(slots).fill(null),
      type: blockType,
      finalized: false,
      freed: false,
      list: null,
      gcRefs: 0,
      collecting: false,
      unreachable: false,
    };
    this.#blocks.set(id, block);
    if (slots > 0) this.#track(block, this.#generations[0]);
  }

  retain(id: number): void {
    this.#get(id).count++;
  }

  release(id: number): void {
    this.#decref(this.#get(id));
  }

  /** Stores `target` (count + 1 first) and then releases the previous occupant, as Py_XSETREF. */
  setRef(id: number, slot: number, target: number | null): void {
    const block = this.#get(id);
    if (slot < 0 || slot >= block.slots.length) throw new Error(`model: slot ${slot} out of range`);
    const next = target === null ? null : this.#get(target);
    if (next) next.count++;
    const previous = block.slots[slot];
    block.slots[slot] = next;
    if (previous) this.#decref(previous);
  }

  getRef(id: number, slot: number): number | null {
    return this.#get(id).slots[slot]?.id ?? null;
  }

  refcount(id: number): number {
    return this.#get(id).count;
  }
  slotCount(id: number): number {
    return this.#get(id).slots.length;
  }
  typeOf(id: number): number {
    return this.#types.indexOf(this.#get(id).type);
  }
  isLive(id: number): boolean {
    return this.#blocks.has(id);
  }
  isTracked(id: number): boolean {
    return this.#get(id).slots.length > 0;
  }
  isFinalized(id: number): boolean {
    return this.#get(id).finalized;
  }
  /** Ids of every live block, in no particular order. */
  liveIds(): number[] {
    return [...this.#blocks.keys()];
  }
  get liveBlocks(): number {
    return this.#blocks.size;
  }
  get trackedBlocks(): number {
    let n = 0;
    for (const block of this.#blocks.values()) if (block.slots.length > 0) n++;
    return n;
  }

  // ---------------------------------------------------------------- the gc module

  enable(): void {
    this.#enabled = true;
  }
  disable(): void {
    this.#enabled = false;
  }
  isEnabled(): boolean {
    return this.#enabled;
  }
  getCount(): [number, number, number] {
    return [this.#counts[0], this.#counts[1], this.#counts[2]];
  }
  getThreshold(): [number, number, number] {
    return [this.#thresholds[0], this.#thresholds[1], this.#thresholds[2]];
  }
  /** gc.set_threshold(t0[, t1[, t2]]): the thresholds not given are left as they are. */
  setThreshold(t0: number, t1?: number, t2?: number): void {
    this.#thresholds[0] = t0;
    if (t1 !== undefined) this.#thresholds[1] = t1;
    if (t2 !== undefined) this.#thresholds[2] = t2;
  }
  getDebug(): number {
    return this.#debug;
  }
  setDebug(flags: number): void {
    this.#debug = flags;
  }
  /** The ids in gc.garbage (a block may appear more than once), in the order they were added. */
  get garbage(): number[] {
    return this.#garbage.map((block) => block.id);
  }
  /**
   * Empties gc.garbage and releases the counts it held (after emptying it, as
   * list.clear() does, so whatever a finalizer adds meanwhile stays).
   * `order`: a permutation of `garbage` to release in (the spec does not
   * order gc.garbage; the differential test passes the real heap's).
   */
  clearGarbage(order?: number[]): number {
    const held = this.#garbage;
    let blocks = held;
    if (order) {
      const pool = new Map<number, Block[]>();
      for (const block of held) pool.set(block.id, [...(pool.get(block.id) ?? []), block]);
      blocks = order.map((id) => {
        const block = pool.get(id)?.pop();
        if (!block) throw new Error(`model: clearGarbage order names ${id}, which is not in garbage`);
        return block;
      });
      if (blocks.length !== held.length) throw new Error('model: clearGarbage order is not a permutation of garbage');
    }
    this.#garbage = [];
    for (const block of blocks) this.#decref(block);
    return blocks.length;
  }
  /** Ids of the tracked blocks of one generation (or all three), in list order. */
  getObjects(generation?: number): number[] {
    const lists = generation === undefined ? this.#generations : [this.#generations[generation]];
    return lists.flatMap((list) => [...list].map((block) => block.id));
  }
  /** gc.freeze(): every generation into the permanent one, and (3.11) every count zeroed. */
  freeze(): void {
    for (let i = 0; i < NUM_GENERATIONS; i++) {
      this.#merge(this.#generations[i], this.#permanent);
      this.#counts[i] = 0;
    }
  }
  /** gc.unfreeze(): the permanent generation back into the oldest one. */
  unfreeze(): void {
    this.#merge(this.#permanent, this.#generations[NUM_GENERATIONS - 1]);
  }
  getFreezeCount(): number {
    return this.#permanent.size;
  }
  getStats(): { collections: number; collected: number; uncollectable: number }[] {
    return this.#stats.map((s) => ({ ...s }));
  }
  /** The long-lived counters of the generation-2 heuristic, for tests of the model itself. */
  get longLived(): { total: number; pending: number } {
    return { total: this.#longLivedTotal, pending: this.#longLivedPending };
  }
  get collecting(): boolean {
    return this.#collecting;
  }

  /** gc.collect(generation): does nothing and returns 0 while a collection runs (gc_collect_impl). */
  collect(generation = 2): number {
    if (generation < 0 || generation >= NUM_GENERATIONS) throw new Error(`model: invalid generation ${generation}`);
    if (this.#collecting) return 0;
    this.#collecting = true;
    try {
      return this.#collectWithCallback(generation);
    } finally {
      this.#collecting = false;
    }
  }

  // ---------------------------------------------------------------- counts reaching zero

  #decref(block: Block): void {
    if (block.freed) throw new Error(`model: release of freed block ${block.id}`);
    if (block.count <= 0) throw new Error(`model: count of ${block.id} below zero`);
    if (--block.count !== 0) return;
    if (this.#refheapPath) this.#rpOnZero(block);
    else this.#dealloc(block);
  }

  /**
   * A count reached zero: CPython's subtype_dealloc with
   * PyObject_CallFinalizerFromDealloc. The block is untracked; if it has a
   * finalizer that has not run, it is tracked again (into generation 0)
   * and held with a temporary count during the call; a count left
   * afterwards is a resurrection: the block stays, tracked where it now is.
   * Otherwise its slots are released in order, depth first (each may free
   * more), and only then is the block itself freed, which is when CPython's
   * PyObject_GC_Del takes one off count0.
   */
  #dealloc(block: Block): void {
    const tracked = block.slots.length > 0;
    this.#untrack(block);
    if (block.type.finalize && !block.finalized) {
      if (tracked) this.#track(block, this.#generations[0]);
      block.count = 1;
      block.finalized = true;
      this.#hooks.finalize?.(block.id);
      if (--block.count > 0) return; // resurrected
      this.#untrack(block);
    }
    this.#clearSlots(block);
    block.freed = true;
    this.#blocks.delete(block.id);
    if (tracked && this.#counts[0] > 0) this.#counts[0]--;
  }

  /** tp_clear: each slot emptied, then its occupant released, in slot order. */
  #clearSlots(block: Block): void {
    for (let i = 0; i < block.slots.length; i++) {
      const target = block.slots[i];
      if (target === null) continue;
      block.slots[i] = null;
      this.#decref(target);
    }
  }

  // ---------------------------------------------------------------- 'refheap-release-path' (not CPython)

  /** heap.cc on_zero: free now if nothing stops it, then run the finalizers this queued. */
  #rpOnZero(block: Block): void {
    const floor = this.#finalizerDepth === 0 ? 0 : this.#pendingFinalizers.length;
    if (this.#rpCanFreeNow(block)) this.#rpFree(block);
    if (this.#pendingFinalizers.length > floor) this.#rpRunFinalizers(floor);
  }

  /** heap.cc can_free_now: not while its finalizer runs, not while a collection owns it, not before its finalizer. */
  #rpCanFreeNow(block: Block): boolean {
    if (this.#finalizing.includes(block)) return false;
    if (block.list !== null && this.#workingLists.has(block.list)) {
      if (!this.#finalizePhase) return false; // the deletion frees it when it drops its hold
      this.#untrack(block); // in the finalize phase it leaves the collection
    }
    if (block.type.finalize && !block.finalized) {
      this.#untrack(block);
      this.#pendingFinalizers.push(block);
      return false;
    }
    return true;
  }

  /** heap.cc free_cascade: off count0 first, then its slots last to first, depth first. */
  #rpFree(block: Block): void {
    this.#untrack(block);
    block.freed = true;
    this.#blocks.delete(block.id);
    if (block.slots.length > 0 && this.#counts[0] > 0) this.#counts[0]--;
    for (let i = block.slots.length - 1; i >= 0; i--) {
      const child = block.slots[i];
      block.slots[i] = null;
      if (child && --child.count === 0 && this.#rpCanFreeNow(child)) this.#rpFree(child);
    }
  }

  /**
   * heap.cc run_finalizers: what is queued above `floor`, nested up to
   * kMaxNestedFinalizers deep (deeper, the level above takes it), never
   * while a collection deletes.
   */
  #rpRunFinalizers(floor = 0): void {
    if (this.#finalizerDepth >= layout.maxNestedFinalizers || this.#deleting) return;
    this.#finalizerDepth++;
    try {
      while (this.#pendingFinalizers.length > floor) {
        const block = this.#rpNextPending(floor);
        if (block.freed || block.finalized) continue;
        const slotted = block.slots.length > 0;
        if (block.count > 0) {
          // Retained while it waited: its finalizer runs when its count next reaches zero.
          if (slotted && block.list === null) this.#track(block, this.#generations[0]);
          continue;
        }
        if (this.#rpFinalize(block) && !block.freed && slotted && block.list === null) {
          this.#track(block, this.#generations[0]); // resurrected
        }
      }
    } finally {
      this.#finalizerDepth--;
    }
  }

  /** Last in, first out; but of those due above `floor`, the one `finalizerRank` puts first, if it ranks any. */
  #rpNextPending(floor: number): Block {
    const queue = this.#pendingFinalizers;
    let best = -1;
    let bestRank = Infinity;
    if (this.#hooks.finalizerRank) {
      queue.forEach((block, i) => {
        if (i < floor || block.freed || block.finalized || block.count > 0) return;
        const rank = this.#hooks.finalizerRank!(block.id);
        if (rank !== undefined && rank < bestRank) {
          best = i;
          bestRank = rank;
        }
      });
    }
    return best < 0 ? queue.pop()! : queue.splice(best, 1)[0];
  }

  /** heap.cc finalize: the call holds a count; whether the block survived it. */
  #rpFinalize(block: Block): boolean {
    block.finalized = true;
    block.count++;
    this.#finalizing.push(block);
    try {
      this.#hooks.finalize?.(block.id);
    } finally {
      this.#finalizing.pop();
    }
    const survived = block.count > 1;
    this.#decref(block);
    return survived;
  }

  // ---------------------------------------------------------------- the collector (gcmodule.c)

  /**
   * Automatic collection (gc_collect_generations): the oldest generation
   * whose count exceeds its threshold, but generation 2 only once the blocks
   * that reached it since the last full collection are a quarter of those
   * that survived it (issue #4074's heuristic).
   */
  #collectGenerations(): number {
    for (let i = NUM_GENERATIONS - 1; i >= 0; i--) {
      if (this.#counts[i] > this.#thresholds[i]) {
        if (i === NUM_GENERATIONS - 1 && this.#longLivedPending < Math.floor(this.#longLivedTotal / 4)) continue;
        return this.#collectWithCallback(i);
      }
    }
    return 0;
  }

  /** gc_collect_with_callback: the callbacks around gc_collect_main. */
  #collectWithCallback(generation: number): number {
    this.#hooks.callback?.('start', { generation, collected: 0, uncollectable: 0 });
    const { collected, uncollectable } = this.#collectMain(generation);
    this.#hooks.callback?.('stop', { generation, collected, uncollectable });
    if (this.#refheapPath && this.#pendingFinalizers.length > 0) {
      // Those whose counts reached zero while the collection ran, once it is over.
      const collecting = this.#collecting;
      this.#collecting = false;
      try {
        this.#rpRunFinalizers();
      } finally {
        this.#collecting = collecting;
      }
    }
    return collected + uncollectable;
  }

  /** gc_collect_main, phase by phase. */
  #collectMain(generation: number): { collected: number; uncollectable: number } {
    // Counters are updated at the START: whatever finalizers allocate or free
    // during this collection counts toward the next one.
    if (generation + 1 < NUM_GENERATIONS) this.#counts[generation + 1]++;
    for (let i = 0; i <= generation; i++) this.#counts[i] = 0;

    // Merge the younger generations into the one collected (each appended to it).
    const young = this.#generations[generation];
    for (let i = 0; i < generation; i++) this.#merge(this.#generations[i], young);
    const old = generation < NUM_GENERATIONS - 1 ? this.#generations[generation + 1] : young;

    const unreachable = this.#deduceUnreachable(young);
    this.#moveReachable(generation, young, old);

    const finalizers = this.#moveLegacyFinalizers(unreachable);
    this.#holdLegacyGarbage(finalizers);

    this.#finalizeGarbage(unreachable);
    const stillUnreachable = this.#handleResurrectedObjects(unreachable, old);

    const collected = stillUnreachable.size; // counted before deleting: what finalizers freed is not counted
    this.#deleteGarbage(stillUnreachable, old);

    const uncollectable = finalizers.size;
    this.#merge(finalizers, old); // handle_legacy_finalizers: they survive into the older generation

    this.#workingLists.clear();
    const stats = this.#stats[generation];
    stats.collections++;
    stats.collected += collected;
    stats.uncollectable += uncollectable;
    return { collected, uncollectable };
  }

  /**
   * deduce_unreachable: update_refs, subtract_refs, move_unreachable. A
   * block's gc_refs starts as its count and loses one per slot of a block
   * being collected that points at it; what is left are references from
   * outside (JavaScript, garbage, older generations, untracked blocks). The
   * scan then keeps in `base` everything reachable from a block with
   * gc_refs > 0 and moves the rest to the returned list.
   */
  #deduceUnreachable(base: GcList): GcList {
    for (const block of base) {
      block.gcRefs = block.count;
      block.collecting = true;
      block.unreachable = false;
    }
    for (const block of base) {
      for (const target of block.slots) if (target && target.collecting) target.gcRefs--;
    }
    const unreachable = new GcList('unreachable');
    this.#workingLists.add(unreachable);
    // The Set iteration visits blocks appended to `base` while it runs,
    // including those moved back from `unreachable` (visit_reachable).
    for (const block of base) {
      if (block.gcRefs !== 0) {
        for (const target of block.slots) {
          if (!target || !target.collecting) continue; // another generation, untracked, or already scanned
          if (target.unreachable) {
            target.unreachable = false;
            this.#move(target, base);
            target.gcRefs = 1;
          } else if (target.gcRefs === 0) {
            target.gcRefs = 1;
          }
        }
        block.collecting = false;
      } else {
        this.#move(block, unreachable);
        block.unreachable = true;
      }
    }
    return unreachable;
  }

  /**
   * The reachable blocks move one generation up (generation 2 stays). The
   * long-lived counters see exactly this set: neither uncollectable,
   * resurrected nor saved blocks, which join the older generation later.
   */
  #moveReachable(generation: number, young: GcList, old: GcList): void {
    if (young !== old) {
      if (generation === NUM_GENERATIONS - 2) this.#longLivedPending += young.size;
      this.#merge(young, old);
    } else {
      this.#longLivedPending = 0;
      this.#longLivedTotal = young.size;
    }
  }

  /**
   * move_legacy_finalizers and move_legacy_finalizer_reachable: blocks of
   * uncollectable types, then everything unreachable that they reach,
   * leave `unreachable` for the returned list (iterated while it grows).
   */
  #moveLegacyFinalizers(unreachable: GcList): GcList {
    const finalizers = new GcList('finalizers');
    for (const block of unreachable) {
      block.unreachable = false;
      if (block.type.uncollectable) {
        block.collecting = false;
        this.#move(block, finalizers);
      }
    }
    for (const block of finalizers) {
      for (const target of block.slots) {
        if (target && target.collecting) {
          target.collecting = false;
          this.#move(target, finalizers);
        }
      }
    }
    return finalizers;
  }

  /**
   * gc.garbage gets the uncollectable-type blocks (under DEBUG_SAVEALL, the
   * whole set). SPEC 5 differs from CPython here on purpose: the heap takes
   * its counts when it splits the set off, not after deleting the rest, so
   * a block of the set that only other garbage pointed at survives.
   */
  #holdLegacyGarbage(finalizers: GcList): void {
    const saveAll = (this.#debug & MODEL_DEBUG_SAVEALL) !== 0;
    for (const block of finalizers) {
      if (saveAll || block.type.uncollectable) {
        block.count++;
        this.#garbage.push(block);
      }
    }
  }

  /**
   * finalize_garbage: each block of `unreachable` whose finalizer has not run
   * gets it, held with one count during the call. A finalizer may free
   * blocks (they leave the list and are not counted) or resurrect them.
   * Blocks no longer on the list when their turn comes are skipped.
   */
  #finalizeGarbage(unreachable: GcList): void {
    const inListOrder = [...unreachable].filter((block) => block.type.finalize && !block.finalized);
    let order = inListOrder;
    if (this.#hooks.orderFinalizers) {
      const byId = new Map(inListOrder.map((block) => [block.id, block]));
      const ids = this.#hooks.orderFinalizers(inListOrder.map((block) => block.id));
      order = ids.map((id) => byId.get(id)!);
      if (order.length !== inListOrder.length || order.some((block) => block === undefined)) {
        throw new Error('model: orderFinalizers did not return a permutation');
      }
    }
    if (this.#refheapPath) {
      this.#finalizePhase = true;
      for (const block of order) if (block.list === unreachable && !block.finalized) this.#rpFinalize(block);
      this.#finalizePhase = false;
      return;
    }
    for (const block of order) {
      if (block.list !== unreachable || block.finalized) continue;
      block.finalized = true;
      block.count++;
      this.#hooks.finalize?.(block.id);
      this.#decref(block);
    }
  }

  /**
   * handle_resurrected_objects: reachability again, within what is left of
   * `unreachable` only. Blocks with a count from outside it now (a
   * finalizer stored or retained them) survive into the older generation
   * with everything they reach; the rest is returned, still garbage.
   */
  #handleResurrectedObjects(unreachable: GcList, old: GcList): GcList {
    for (const block of unreachable) block.collecting = false;
    const stillUnreachable = this.#deduceUnreachable(unreachable);
    for (const block of stillUnreachable) block.unreachable = false;
    this.#merge(unreachable, old);
    return stillUnreachable;
  }

  /**
   * delete_garbage: under DEBUG_SAVEALL each block goes to gc.garbage (with
   * a count); otherwise it is held, its slots are cleared, and it is
   * released, which frees it and, through the cascade, the rest of its
   * cycle. A block still alive afterwards moves to the older generation.
   */
  #deleteGarbage(collectable: GcList, old: GcList): void {
    const saveAll = (this.#debug & MODEL_DEBUG_SAVEALL) !== 0;
    if (this.#refheapPath && !saveAll) {
      this.#rpDeleteGarbage(collectable, old);
      return;
    }
    while (collectable.size > 0) {
      const block: Block = collectable.values().next().value!;
      if (saveAll) {
        block.count++;
        this.#garbage.push(block);
      } else {
        block.count++;
        this.#clearSlots(block);
        this.#decref(block);
      }
      if (block.list === collectable) {
        block.collecting = false;
        this.#move(block, old);
      }
    }
  }

  /**
   * collector.cc delete_garbage ('refheap-release-path'): every block held
   * and every slot cleared first (a block of the set at zero waits for its
   * hold to be dropped; blocks outside it with finalizers are queued until
   * the deletion is done), then the holds are dropped in order.
   */
  #rpDeleteGarbage(collectable: GcList, old: GcList): void {
    const blocks = [...collectable];
    this.#deleting = true;
    try {
      for (const block of blocks) {
        block.count++;
        this.#clearSlots(block);
      }
      for (const block of blocks) {
        this.#untrack(block);
        if (--block.count === 0) this.#rpOnZero(block);
        else this.#track(block, old);
      }
    } finally {
      this.#deleting = false;
    }
    // Those it freed by their counts are finalized now, inside the collection, as in CPython.
    if (this.#pendingFinalizers.length > 0) this.#rpRunFinalizers();
  }

  // ---------------------------------------------------------------- list primitives

  #get(id: number): Block {
    const block = this.#blocks.get(id);
    if (!block) throw new Error(`model: no live block ${id}`);
    return block;
  }

  #track(block: Block, list: GcList): void {
    list.add(block);
    block.list = list;
  }

  /** PyObject_GC_UnTrack: off its list, and no collection's flags left on it. */
  #untrack(block: Block): void {
    block.list?.delete(block);
    block.list = null;
    block.collecting = false;
    block.unreachable = false;
  }

  /** gc_list_move: to the end of `list`, flags kept. */
  #move(block: Block, list: GcList): void {
    block.list?.delete(block);
    this.#track(block, list);
  }

  /** gc_list_merge: `from` appended to `to`, `from` emptied. */
  #merge(from: GcList, to: GcList): void {
    for (const block of from) {
      to.add(block);
      block.list = to;
    }
    from.clear();
  }
}
