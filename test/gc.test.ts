/**
 * The cycle collector (SPEC section 6), after CPython 3.12's
 * Lib/test/test_gc.py: what a collection finds and frees, with the exact
 * counts CPython's tests expect for containers (blocks with slots); the
 * generation counters and the automatic collection cadence; freezing;
 * statistics; and graphs far larger and deeper than CPython's tests use.
 */
import { describe, expect, it } from 'vitest';
import { Heap, type Ref } from '../lib/index';
import { expectConsistent, seededRandom } from './helpers';
import { newHeap, isLive } from './gc-setup';



/** A block whose only slot points at itself, its JavaScript count dropped: CPython's `l = []; l.append(l); del l`. */
function selfCycle(heap: Heap, type = 0): Ref {
  const ref = heap.alloc(8, 1, type);
  heap.setRef(ref, 0, ref);
  heap.release(ref);
  return ref;
}

/** `n` blocks in a ring (each slot 0 points at the next); JavaScript keeps the counts of those in `keep`. */
function ring(heap: Heap, n: number, keep: number[] = []): Ref[] {
  const refs = Array.from(heap.allocMany(n, 8, 1));
  for (let i = 0; i < n; i++) heap.setRef(refs[i], 0, refs[(i + 1) % n]);
  refs.forEach((ref, i) => keep.includes(i) || heap.release(ref));
  return refs;
}

/** Every live block with slots is on a generation list (or frozen): none is lost to the collector. */
function expectAllListed(heap: Heap): void {
  expect(heap.gc.getObjects().length + heap.gc.getFreezeCount()).toBe(heap.stats().trackedBlocks);
}

const generationOf = (heap: Heap, ref: Ref) => [0, 1, 2].filter((g) => heap.gc.getObjects(g).includes(ref));

describe('what a collection finds (test_gc ports)', () => {
  it('a self-referencing block: collect() === 1 (test_list)', () => {
    const heap = newHeap();
    const ref = selfCycle(heap);
    expect(heap.refcount(ref)).toBe(1);
    expect(heap.gc.collect()).toBe(1);
    expect(isLive(heap, ref)).toBe(false);
    expect(heap.stats()).toMatchObject({ liveBlocks: 0, trackedBlocks: 0 });
    expect(heap.gc.collect()).toBe(0);
    expectConsistent(heap);
  });

  it('a 2-cycle: collect() === 2 (test_tuple: t = (l,); l.append(t))', () => {
    const heap = newHeap();
    const refs = ring(heap, 2);
    expect(heap.gc.collect()).toBe(2);
    expect(refs.filter((ref) => isLive(heap, ref))).toEqual([]);
    expect(heap.stats().liveBlocks).toBe(0);
    expectConsistent(heap);
  });

  it('blocks without slots hanging off a cycle are freed with it but not counted (test_class: the ints are not)', () => {
    const heap = newHeap();
    const node = heap.alloc(0, 3);
    const data = heap.alloc(100);
    const big = heap.alloc(100_000);
    heap.setRef(node, 0, node);
    heap.setRef(node, 1, data);
    heap.setRef(node, 2, big);
    heap.release(data);
    heap.release(big);
    heap.release(node);
    expect(heap.gc.isTracked(node)).toBe(true);
    expect(heap.stats().liveBlocks).toBe(3);
    expect(heap.gc.collect()).toBe(1);
    expect([node, data, big].map((ref) => isLive(heap, ref))).toEqual([false, false, false]);
    expect(heap.stats()).toMatchObject({ liveBlocks: 0, largeBlocks: { count: 0, bytes: 0 } });
    expectConsistent(heap);
  });

  it('a tracked block that only a cycle points at is part of the garbage and is counted', () => {
    const heap = newHeap();
    const a = heap.alloc(0, 2);
    const b = heap.alloc(0, 1);
    const tail = heap.alloc(0, 1);
    heap.setRef(a, 0, b);
    heap.setRef(b, 0, a);
    heap.setRef(a, 1, tail);
    heap.releaseMany([a, b, tail]);
    expect(heap.gc.collect()).toBe(3);
    expect([a, b, tail].some((ref) => isLive(heap, ref))).toBe(false);
    expectConsistent(heap);
  });

  it('rings of many sizes: collect() returns exactly the number of blocks', () => {
    const heap = newHeap();
    for (const n of [1, 2, 3, 10, 1000]) {
      ring(heap, n);
      expect(heap.gc.collect(), `ring of ${n}`).toBe(n);
      expect(heap.stats().liveBlocks).toBe(0);
    }
    for (const n of [3, 7, 50]) ring(heap, n);
    expect(heap.gc.collect()).toBe(60);
    expectConsistent(heap);
  });

  it('a cycle that JavaScript holds survives, and so does everything it reaches; dropped, it is collected', () => {
    const heap = newHeap();
    const refs = ring(heap, 5, [3]);
    const leaf = heap.alloc(0, 1);
    heap.setRef(leaf, 0, refs[1]);
    heap.setRef(refs[0], 0, leaf); // a ring of 6 now: 0 -> leaf -> 1 -> ... -> 4 -> 0, held at 3
    heap.release(leaf);
    expect(heap.gc.collect()).toBe(0);
    expect([...refs, leaf].every((ref) => isLive(heap, ref))).toBe(true);
    expect(heap.refcount(refs[3])).toBe(2);
    heap.release(refs[3]);
    expect(heap.gc.collect()).toBe(6);
    expect(heap.stats().liveBlocks).toBe(0);
    expectConsistent(heap);
  });

  it('a view of a block holds a count: its cycle survives while the view does', () => {
    const heap = newHeap();
    const a = heap.alloc(16, 1);
    const b = heap.alloc(16, 1);
    heap.setRef(a, 0, b);
    heap.setRef(b, 0, a);
    const view = heap.view(b);
    heap.release(a);
    heap.release(b);
    expect(heap.refcount(b)).toBe(2);
    expect(heap.gc.collect()).toBe(0);
    view[0] = 7;
    expect(heap.getUint8(b, 0)).toBe(7);
  });

  it('collects one heap only: another heap\'s cycles and counters are untouched', () => {
    const one = newHeap();
    const two = newHeap();
    const mine = ring(one, 3);
    const theirs = ring(two, 4);
    expect(two.gc.getCount()).toEqual([4, 0, 0]);
    expect(one.gc.collect()).toBe(3);
    expect(mine.some((ref) => isLive(one, ref))).toBe(false);
    expect(theirs.every((ref) => isLive(two, ref))).toBe(true);
    expect(two.gc.getCount()).toEqual([4, 0, 0]);
    expect(two.gc.getStats()[2].collections).toBe(0);
    expect(two.gc.collect()).toBe(4);
  });

  it('survivors move up one generation per collection (test_get_objects)', () => {
    const heap = newHeap();
    const [l] = ring(heap, 1, [0]);
    expect(generationOf(heap, l)).toEqual([0]);
    heap.gc.collect(0);
    expect(generationOf(heap, l)).toEqual([1]);
    heap.gc.collect(1);
    expect(generationOf(heap, l)).toEqual([2]);
    heap.gc.collect(2);
    expect(generationOf(heap, l)).toEqual([2]);
    heap.release(l);
    expect(heap.gc.collect()).toBe(1);
    expect(heap.gc.getObjects()).toEqual([]);
  });

  it('a young collection leaves older generations alone: their slots count as references from outside', () => {
    const heap = newHeap();
    const old = heap.alloc(0, 1);
    heap.gc.collect(); // old is in generation 2
    const young = heap.alloc(0, 1);
    heap.setRef(old, 0, young);
    heap.setRef(young, 0, old);
    heap.release(young);
    heap.release(old); // old <-> young: garbage, but spread over generations 0 and 2
    expect(heap.gc.collect(0)).toBe(0);
    expect(generationOf(heap, young)).toEqual([1]);
    expect(heap.gc.collect(1)).toBe(0);
    expect(generationOf(heap, young)).toEqual([2]);
    expect(heap.gc.collect(2)).toBe(2);
    expect(heap.stats().liveBlocks).toBe(0);
    expectConsistent(heap);
  });

  it('a young cycle that only older garbage points at waits for the older generation', () => {
    const heap = newHeap();
    const holder = heap.alloc(0, 2);
    heap.gc.collect(1); // holder: generation 2
    const [a, b] = ring(heap, 2, [0]);
    heap.setRef(holder, 0, holder);
    heap.setRef(holder, 1, a);
    heap.release(a);
    heap.release(holder); // holder is a generation-2 self-cycle pointing at the young a <-> b
    expect(heap.gc.collect(0)).toBe(0);
    expect(heap.gc.collect(1)).toBe(0);
    expect([holder, a, b].every((ref) => isLive(heap, ref))).toBe(true);
    expect(heap.gc.collect(2)).toBe(3);
    expect(heap.stats().liveBlocks).toBe(0);
  });
});

describe('getCount and the generation counters', () => {
  it('count0 is tracked allocations minus tracked frees since the last collection (test_get_count)', () => {
    const heap = newHeap();
    heap.gc.collect();
    expect(heap.gc.getCount()).toEqual([0, 0, 0]);
    const tracked = Array.from({ length: 5 }, () => heap.alloc(8, 2));
    expect(heap.gc.getCount()).toEqual([5, 0, 0]);
    const plain = heap.alloc(8); // untracked: no change
    heap.allocMany(3, 8);
    expect(heap.gc.getCount()).toEqual([5, 0, 0]);
    heap.allocMany(3, 0, 1);
    expect(heap.gc.getCount()).toEqual([8, 0, 0]);
    heap.release(tracked[0]);
    heap.release(tracked[1]);
    expect(heap.gc.getCount()).toEqual([6, 0, 0]);
    heap.release(plain);
    expect(heap.gc.getCount()).toEqual([6, 0, 0]);
    const cyc = selfCycle(heap); // allocated and not freed
    expect(heap.gc.getCount()).toEqual([7, 0, 0]);
    expect(isLive(heap, cyc)).toBe(true);
  });

  it('count0 never goes below zero: frees of blocks from before the collection stop at 0', () => {
    const heap = newHeap();
    const old = Array.from(heap.allocMany(10, 0, 1));
    heap.gc.collect(0);
    expect(heap.gc.getCount()).toEqual([0, 1, 0]);
    heap.alloc(0, 1);
    heap.alloc(0, 1);
    heap.releaseMany(old);
    expect(heap.gc.getCount()).toEqual([0, 1, 0]);
    heap.alloc(0, 1);
    expect(heap.gc.getCount()).toEqual([1, 1, 0]);
  });

  it('collect(g) zeroes 0..g and adds one to g+1 (test_collect_generations)', () => {
    const heap = newHeap();
    heap.gc.collect();
    heap.alloc(0, 1);
    heap.gc.collect(0);
    expect(heap.gc.getCount()).toEqual([0, 1, 0]);
    heap.alloc(0, 1);
    heap.gc.collect(0);
    expect(heap.gc.getCount()).toEqual([0, 2, 0]);
    heap.gc.collect(1);
    expect(heap.gc.getCount()).toEqual([0, 0, 1]);
    heap.gc.collect(1);
    expect(heap.gc.getCount()).toEqual([0, 0, 2]);
    heap.alloc(0, 1);
    heap.gc.collect(0);
    expect(heap.gc.getCount()).toEqual([0, 1, 2]);
    heap.gc.collect(2);
    expect(heap.gc.getCount()).toEqual([0, 0, 0]);
  });

  it('freeze() zeroes every counter', () => {
    const heap = newHeap();
    heap.alloc(0, 1);
    heap.gc.collect(0);
    heap.gc.collect(1);
    heap.gc.collect(0);
    heap.allocMany(4, 0, 1);
    expect(heap.gc.getCount()).toEqual([4, 1, 1]);
    heap.gc.freeze();
    expect(heap.gc.getCount()).toEqual([0, 0, 0]);
  });
});

describe('automatic collection', () => {
  /** Records the generation and result of every collection. */
  function record(heap: Heap): { generation: number; collected: number }[] {
    const seen: { generation: number; collected: number }[] = [];
    heap.gc.callbacks.push((phase, info) => {
      if (phase === 'stop') seen.push({ generation: info.generation, collected: info.collected });
    });
    return seen;
  }

  it('with thresholds (1, 0, 0): generations 0, 1, 2 in turn, each collecting the dropped cycles before it', () => {
    const heap = newHeap({ autoCollect: true, thresholds: [1, 0, 0] });
    const seen = record(heap);
    for (let i = 0; i < 12; i++) selfCycle(heap);
    // Every second allocation collects; the allocating block is never part of it.
    expect(seen).toEqual([
      { generation: 0, collected: 1 },
      { generation: 1, collected: 2 },
      { generation: 2, collected: 2 },
      { generation: 0, collected: 2 },
      { generation: 1, collected: 2 },
      { generation: 2, collected: 2 },
    ]);
    expect(heap.stats().liveBlocks).toBe(1); // the twelfth, allocated by the last collecting call
    expect(heap.gc.getCount()).toEqual([0, 0, 0]);
    expectConsistent(heap);
  });

  it('runs inside the allocating call, which is not part of it: afterwards the new block is in generation 0 and count0 is 0', () => {
    const heap = newHeap({ autoCollect: true, thresholds: [3, 10, 10] });
    const before: Ref[][] = [];
    heap.gc.callbacks.push((phase) => phase === 'start' && before.push(heap.gc.getObjects()));
    const kept = [heap.alloc(0, 1), heap.alloc(0, 1), heap.alloc(0, 1)];
    expect(before).toEqual([]);
    expect(heap.gc.getCount()).toEqual([3, 0, 0]);
    const fourth = heap.alloc(0, 1);
    expect(before).toEqual([kept]);
    expect(heap.gc.getObjects(0)).toEqual([fourth]);
    expect(heap.gc.getObjects(1).sort()).toEqual([...kept].sort());
    expect(heap.gc.getCount()).toEqual([0, 1, 0]);
    // Blocks without slots never trigger anything.
    heap.allocMany(100, 16);
    expect(before.length).toBe(1);
    expect(heap.gc.getCount()).toEqual([0, 1, 0]);
  });

  it('allocMany behaves as that many allocs: collections run between them', () => {
    const heap = newHeap({ autoCollect: true, thresholds: [10, 10, 10] });
    const seen = record(heap);
    const refs = heap.allocMany(35, 0, 1);
    expect(seen.map((s) => s.generation)).toEqual([0, 0, 0]);
    expect(heap.gc.getCount()).toEqual([2, 3, 0]);
    expect(heap.gc.getObjects(1).length).toBe(32);
    expect(heap.gc.getObjects(0)).toEqual([refs[32], refs[33], refs[34]]);
  });

  it('keeps memory bounded while dropped self-cycles pour in', () => {
    const heap = newHeap({ autoCollect: true, thresholds: [10, 10, 10] });
    for (let i = 0; i < 1000; i++) {
      selfCycle(heap);
      expect(heap.stats().liveBlocks).toBeLessThanOrEqual(11);
    }
    expect(heap.gc.getStats()[0].collected + heap.gc.getStats()[1].collected + heap.gc.getStats()[2].collected).toBe(
      1000 - heap.stats().liveBlocks,
    );
  });

  it('skips generation 2 while the blocks that entered it since the last full collection are under a quarter of those it kept', () => {
    const heap = newHeap();
    const base = Array.from(heap.allocMany(100, 0, 1)); // held: 100 long-lived blocks
    heap.gc.collect(2);
    expect(heap.gc.getObjects(2).length).toBe(100);
    heap.gc.setThreshold(1, 0, 0);
    heap.gc.enable();
    const starts: { generation: number; pending: number; count2: number }[] = [];
    heap.gc.callbacks.push((phase, info) => {
      if (phase === 'start') starts.push({ generation: info.generation, pending: heap.gc.getObjects(2).length - 100, count2: heap.gc.getCount()[2] });
    });
    const held: Ref[] = [];
    for (let i = 0; i < 200; i++) held.push(heap.alloc(0, 1));
    const full = starts.findIndex((s) => s.generation === 2);
    expect(full).toBeGreaterThan(0);
    // Until then count2 exceeded threshold2 (0) often, yet generation 2 waited for 25 pending blocks.
    expect(starts.slice(0, full).some((s) => s.count2 > 0)).toBe(true);
    expect(starts.slice(0, full).filter((s) => s.count2 > 0).every((s) => s.pending < 25)).toBe(true);
    expect(starts[full].pending).toBeGreaterThanOrEqual(25);
    heap.releaseMany(base);
    heap.releaseMany(held);
    expect(heap.stats().liveBlocks).toBe(0);
  });

  it('t0 = 0, disable() and an open collection each stop automatic collection; collect() still works', () => {
    const heap = newHeap({ autoCollect: true, thresholds: [0, 10, 10] });
    const seen = record(heap);
    for (let i = 0; i < 50; i++) selfCycle(heap);
    expect(seen).toEqual([]);
    expect(heap.gc.getCount()[0]).toBe(50);
    heap.gc.setThreshold(5);
    expect(heap.gc.getThreshold()).toEqual([5, 10, 10]);
    heap.gc.disable();
    for (let i = 0; i < 50; i++) selfCycle(heap);
    expect(seen).toEqual([]);
    expect(heap.gc.collect()).toBe(100);
    expect(seen).toEqual([{ generation: 2, collected: 100 }]);
    heap.gc.enable();
    for (let i = 0; i < 6; i++) selfCycle(heap);
    expect(seen.length).toBe(2);
    expect(seen[1]).toEqual({ generation: 0, collected: 5 });
  });
});

describe('getStats', () => {
  it('credits each collection to the oldest generation it covered, without resurrected or count-freed blocks', () => {
    const heap = newHeap();
    const zeros = { collections: 0, collected: 0, uncollectable: 0 };
    expect(heap.gc.getStats()).toEqual([zeros, zeros, zeros]);
    selfCycle(heap);
    heap.gc.collect(0);
    ring(heap, 3);
    heap.gc.collect(1);
    heap.gc.collect(1);
    ring(heap, 4);
    heap.gc.collect(2);
    const Keep = heap.defineType('Keep', { uncollectable: true });
    const u = heap.alloc(0, 1, Keep);
    heap.setRef(u, 0, u);
    heap.release(u);
    heap.gc.collect(0);
    expect(heap.gc.getStats()).toEqual([
      { collections: 2, collected: 1, uncollectable: 1 },
      { collections: 2, collected: 3, uncollectable: 0 },
      { collections: 1, collected: 4, uncollectable: 0 },
    ]);
    expect(heap.stats().gc.generations).toEqual(heap.gc.getStats());
  });
});

describe('freeze', () => {
  it('moves every tracked block to the permanent generation, which collections ignore, and back (test_freeze)', () => {
    const heap = newHeap();
    const refs = ring(heap, 3);
    const kept = heap.alloc(0, 1);
    heap.alloc(64); // untracked: never frozen
    heap.gc.freeze();
    expect(heap.gc.getFreezeCount()).toBe(4);
    expect(heap.gc.getObjects()).toEqual([]);
    expect(heap.gc.collect()).toBe(0);
    expect(refs.every((ref) => isLive(heap, ref))).toBe(true);
    const young = heap.alloc(0, 1);
    expect(heap.gc.getObjects(0)).toEqual([young]);
    expect(heap.stats().gc.frozen).toBe(4);
    heap.gc.unfreeze();
    expect(heap.gc.getFreezeCount()).toBe(0);
    expect(heap.gc.getObjects(2).sort()).toEqual([...refs, kept].sort());
    expect(heap.gc.collect()).toBe(3);
    expectConsistent(heap);
    expectAllListed(heap);
  });

  it('a frozen block keeps what it points at alive; freed by its count, it no longer does', () => {
    const heap = newHeap();
    const frozen = heap.alloc(0, 1);
    heap.gc.freeze();
    const [a, b] = ring(heap, 2, [0]);
    heap.setRef(frozen, 0, a);
    heap.release(a); // a <-> b now lives through the frozen block only
    expect(heap.gc.collect()).toBe(0);
    expect([a, b].every((ref) => isLive(heap, ref))).toBe(true);
    // Freezing again takes the young survivors too.
    heap.gc.freeze();
    expect(heap.gc.getFreezeCount()).toBe(3);
    heap.gc.unfreeze();
    heap.gc.freeze();
    expect(heap.gc.getFreezeCount()).toBe(3);
    heap.gc.unfreeze();
    heap.release(frozen); // freed by its count: a <-> b is garbage now
    expect(isLive(heap, frozen)).toBe(false);
    expect(heap.gc.collect()).toBe(2);
    expect([a, b].some((ref) => isLive(heap, ref))).toBe(false);
    expect(heap.stats().liveBlocks).toBe(0);
    expectConsistent(heap);
  });

  it('a frozen block that is freed by its count leaves the permanent generation', () => {
    const heap = newHeap();
    const refs = Array.from(heap.allocMany(10, 0, 1));
    heap.gc.freeze();
    heap.releaseMany(refs.slice(0, 4));
    expect(heap.gc.getFreezeCount()).toBe(6);
    expectConsistent(heap);
    heap.gc.unfreeze();
    expect(heap.gc.getObjects(2).sort()).toEqual(refs.slice(4).sort());
  });
});

describe('graphs at scale', () => {
  it('keeps memory bounded while 1,000,000 2-cycles are created and dropped with the default thresholds', () => {
    const heap = newHeap({ autoCollect: true });
    let maxLive = 0;
    let maxMapped = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const a = heap.alloc(16, 1);
      const b = heap.alloc(16, 1);
      heap.setRef(a, 0, b);
      heap.setRef(b, 0, a);
      heap.release(a);
      heap.release(b);
      if (i % 10_000 === 0) {
        const stats = heap.stats();
        maxLive = Math.max(maxLive, stats.liveBlocks);
        maxMapped = Math.max(maxMapped, stats.mappedBytes);
      }
    }
    expect(maxLive).toBeLessThan(50_000);
    expect(maxMapped).toBeLessThan(8 * 1024 * 1024);
    heap.gc.collect();
    expect(heap.stats().liveBlocks).toBe(0);
    const stats = heap.gc.getStats();
    expect(stats[0].collections).toBeGreaterThan(2000);
    expect(stats[2].collections).toBeGreaterThan(1);
    expect(stats[0].collected + stats[1].collected + stats[2].collected).toBe(2_000_000);
    expectConsistent(heap);
  });

  it('collects a 1,000,000-block ring, and a 1,000,000-block chain hanging off a cycle, without overflowing the stack', () => {
    const heap = newHeap();
    const n = 1_000_000;
    const refs = ring(heap, n);
    expect(heap.gc.collect()).toBe(n);
    expect(heap.stats().liveBlocks).toBe(0);
    // A chain: head -> ... -> tail, the head in a 2-cycle with a block JavaScript drops.
    const chain = heap.allocMany(n, 0, 1);
    for (let i = 0; i + 1 < n; i++) heap.setRef(chain[i], 0, chain[i + 1]);
    const loop = heap.alloc(0, 2);
    heap.setRef(loop, 0, chain[0]);
    heap.setRef(loop, 1, loop);
    heap.releaseMany(chain);
    heap.release(loop);
    expect(heap.stats().liveBlocks).toBe(n + 1);
    expect(heap.gc.collect()).toBe(n + 1);
    expect(heap.stats()).toMatchObject({ liveBlocks: 0, trackedBlocks: 0 });
    expect(isLive(heap, refs[n - 1])).toBe(false);
    expectConsistent(heap);
  });

  it('collects a 10,000,000-block ring', () => {
    const heap = newHeap();
    const n = 10_000_000;
    const refs = heap.allocMany(n, 0, 1);
    for (let i = 0; i < n; i++) heap.setRef(refs[i], 0, refs[(i + 1) % n]);
    heap.releaseMany(refs);
    const start = performance.now();
    expect(heap.gc.collect()).toBe(n);
    expect(performance.now() - start).toBeLessThan(10_000);
    expect(heap.stats().liveBlocks).toBe(0);
  });

  it('on a seeded random graph, leaves alive exactly the blocks reachable from those JavaScript keeps', () => {
    const heap = newHeap();
    const random = seededRandom(0x5eed);
    const n = 50_000;
    const slots = 4;
    const refs = Array.from(heap.allocMany(n, 8, slots));
    const edges = new Int32Array(n * slots).fill(-1);
    for (let i = 0; i < n; i++) {
      for (let s = 0; s < slots; s++) {
        if (random() < 0.7) continue; // 1.2 edges a block on average: a fifth of the graph stays reachable
        // Mostly near neighbours (long chains and many small cycles), some far.
        const j = random() < 0.8 ? (i + 1 + Math.floor(random() * 8)) % n : Math.floor(random() * n);
        edges[i * slots + s] = j;
        heap.setRef(refs[i], s, refs[j]);
      }
    }
    const kept = new Set<number>();
    for (let i = 0; i < n; i++) if (random() < 0.002) kept.add(i);
    for (let i = 0; i < n; i++) if (!kept.has(i)) heap.release(refs[i]);
    // Reachability in JavaScript, breadth first over getRef (and checked against the edges set).
    const index = new Map(refs.map((ref, i) => [ref, i]));
    const reached = new Uint8Array(n);
    const queue = [...kept];
    for (const i of queue) reached[i] = 1;
    while (queue.length > 0) {
      const i = queue.pop()!;
      for (let s = 0; s < slots; s++) {
        const target = heap.getRef(refs[i], s);
        expect(target === null ? -1 : index.get(target)).toBe(edges[i * slots + s]);
        if (target === null) continue;
        const j = index.get(target)!;
        if (!reached[j]) {
          reached[j] = 1;
          queue.push(j);
        }
      }
    }
    const reachable = reached.reduce((sum, r) => sum + r, 0);
    expect(reachable).toBeGreaterThan(kept.size);
    expect(reachable).toBeLessThan(n);
    // Unreachable blocks outside cycles were freed by their counts already; the collector finds the rest.
    const liveBefore = heap.stats().liveBlocks;
    expect(liveBefore).toBeLessThan(n);
    expect(liveBefore).toBeGreaterThan(reachable);
    expect(heap.gc.collect()).toBe(liveBefore - reachable);
    const mismatches = refs.filter((ref, i) => isLive(heap, ref) !== (reached[i] === 1));
    expect(mismatches.length).toBe(0);
    expect(heap.stats().liveBlocks).toBe(reachable);
    // The survivors' counts are exactly their reachable referrers plus JavaScript's hold.
    const expected = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      if (!reached[i]) continue;
      if (kept.has(i)) expected[i]++;
      for (let s = 0; s < slots; s++) if (edges[i * slots + s] >= 0) expected[edges[i * slots + s]]++;
    }
    expect(refs.filter((ref, i) => reached[i] && heap.refcount(ref) !== expected[i]).length).toBe(0);
    expect(heap.gc.collect()).toBe(0);
    for (const i of kept) heap.release(refs[i]);
    const cyclic = heap.stats().liveBlocks; // what the counts could not free
    expect(cyclic).toBeGreaterThan(0);
    expect(heap.gc.collect()).toBe(cyclic);
    expect(heap.stats().liveBlocks).toBe(0);
    expectConsistent(heap);
  });

  it('over rounds of young collections, never frees a reachable block; a full collection then frees exactly the rest', () => {
    const heap = newHeap();
    const random = seededRandom(42);
    const slots = 3;
    const refs: Ref[] = [];
    const held = new Set<Ref>();
    for (let round = 0; round < 8; round++) {
      const fresh = Array.from(heap.allocMany(5000, 0, slots));
      for (const ref of fresh) {
        refs.push(ref);
        held.add(ref);
      }
      const liveRefs = refs.filter((ref) => isLive(heap, ref));
      for (const ref of fresh) {
        for (let s = 0; s < slots; s++) {
          if (random() < 0.4) heap.setRef(ref, s, liveRefs[Math.floor(random() * liveRefs.length)]);
        }
      }
      // Old blocks get new edges too, into the young ones (references from older generations).
      for (let k = 0; k < 500; k++) {
        const from = liveRefs[Math.floor(random() * liveRefs.length)];
        if (!isLive(heap, from)) continue; // freed by an earlier setRef of this loop
        heap.setRef(from, Math.floor(random() * slots), fresh[Math.floor(random() * fresh.length)]);
      }
      for (const ref of [...held]) {
        if (random() < 0.7) {
          held.delete(ref);
          heap.release(ref);
        }
      }
      // Everything reachable from the held blocks must survive any collection.
      const reachable = reach(heap, held, slots);
      const liveBefore = heap.stats().liveBlocks;
      const found = heap.gc.collect(Math.floor(random() * 3));
      expect([...reachable].filter((ref) => !isLive(heap, ref)).length).toBe(0);
      expect(found).toBe(liveBefore - heap.stats().liveBlocks);
      expect(found).toBeLessThanOrEqual(liveBefore - reachable.size);
    }
    const reachable = reach(heap, held, slots);
    heap.gc.collect();
    expect(refs.filter((ref) => isLive(heap, ref) !== reachable.has(ref)).length).toBe(0);
    expectConsistent(heap);
    expectAllListed(heap);
  });
});

/** The blocks reachable from `roots` through slots. */
function reach(heap: Heap, roots: Iterable<Ref>, slots: number): Set<Ref> {
  const seen = new Set<Ref>(roots);
  const queue = [...seen];
  while (queue.length > 0) {
    const ref = queue.pop()!;
    for (let s = 0; s < slots; s++) {
      const target = heap.getRef(ref, s);
      if (target !== null && !seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
  return seen;
}
