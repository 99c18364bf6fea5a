import { describe, expect, it } from 'vitest';
import { Heap } from '../lib/index';
import { expectConsistent } from './helpers';

describe('alloc and shape', () => {
  it('returns a new reference to a zeroed block of the asked shape', () => {
    const heap = new Heap();
    const ref = heap.alloc(40, 3);
    expect(Number.isSafeInteger(ref) && ref > 0).toBe(true);
    expect(heap.refcount(ref)).toBe(1);
    expect(heap.sizeOf(ref)).toBe(40);
    expect(heap.slotCount(ref)).toBe(3);
    expect(heap.typeOf(ref)).toBe(0);
    expect(Array.from(heap.read(ref))).toEqual(new Array(40).fill(0));
    expect([0, 1, 2].map((i) => heap.getRef(ref, i))).toEqual([null, null, null]);
    expectConsistent(heap);
    heap.close();
  });

  it('zeroes reused memory', () => {
    const heap = new Heap();
    const first = heap.alloc(24, 1);
    heap.write(first, 0, new Uint8Array(24).fill(0xab));
    heap.setRef(first, 0, heap.alloc(0));
    heap.release(first);
    const second = heap.alloc(24, 1);
    expect(Array.from(heap.read(second))).toEqual(new Array(24).fill(0));
    expect(heap.getRef(second, 0)).toBe(null);
    heap.close();
  });

  it.each([
    [0, 0],
    [8, 0],
    [9, 0],
    [496, 1],
    [504, 0],
    [505, 0],
    [4096, 0],
    [100_000, 7],
    [2 ** 20, 0],
  ])('keeps size %i and %i slots exact, small or large', (size, slots) => {
    const heap = new Heap();
    const ref = heap.alloc(size, slots);
    expect(heap.sizeOf(ref)).toBe(size);
    expect(heap.slotCount(ref)).toBe(slots);
    if (size > 0) {
      heap.setUint8(ref, size - 1, 0x5a);
      expect(heap.getUint8(ref, size - 1)).toBe(0x5a);
    }
    const stats = heap.stats();
    expect(stats.requestedBytes).toBe(size + 8 * slots);
    expect(stats.allocatedBytes).toBeGreaterThanOrEqual(size + 8 * slots + 8);
    expectConsistent(heap);
    heap.release(ref);
    expect(heap.stats().liveBlocks).toBe(0);
    heap.close();
  });

  it('allows the documented maxima: 2^30 data bytes and 2^24 slots', () => {
    const heap = new Heap();
    const big = heap.alloc(2 ** 30);
    expect(heap.sizeOf(big)).toBe(2 ** 30);
    heap.setUint8(big, 2 ** 30 - 1, 1);
    heap.release(big);
    const wide = heap.alloc(0, 2 ** 24);
    expect(heap.slotCount(wide)).toBe(2 ** 24);
    heap.setRef(wide, 2 ** 24 - 1, wide);
    expect(heap.refcount(wide)).toBe(2);
    heap.setRef(wide, 2 ** 24 - 1, null);
    heap.release(wide);
    expect(heap.stats().mappedBytes).toBeLessThanOrEqual(2 ** 20);
    heap.close();
  });

  it('allocMany behaves as count calls of alloc', () => {
    const heap = new Heap();
    const refs = heap.allocMany(1000, 16, 2);
    expect(refs).toBeInstanceOf(Float64Array);
    expect(new Set(refs).size).toBe(1000);
    for (const ref of refs) {
      expect(heap.refcount(ref)).toBe(1);
      expect(heap.sizeOf(ref)).toBe(16);
      expect(heap.slotCount(ref)).toBe(2);
    }
    expect(heap.stats()).toMatchObject({ liveBlocks: 1000, trackedBlocks: 1000, allocations: 1000 });
    expect(heap.allocMany(0, 8).length).toBe(0);
    heap.releaseMany(refs);
    expect(heap.stats()).toMatchObject({ liveBlocks: 0, frees: 1000 });
    heap.close();
  });

  it('releaseMany accepts arrays and typed arrays of refs', () => {
    const heap = new Heap();
    const refs = [heap.alloc(8), heap.alloc(8), heap.alloc(8)];
    heap.releaseMany(refs);
    const more = heap.allocMany(3, 8);
    heap.releaseMany(Array.from(more));
    expect(heap.stats().liveBlocks).toBe(0);
    heap.releaseMany([]);
    heap.close();
  });
});

describe('counts and slots', () => {
  it('retain and release change the count by one', () => {
    const heap = new Heap();
    const ref = heap.alloc(8);
    expect(heap.retain(ref)).toBe(ref);
    expect(heap.retain(ref)).toBe(ref);
    expect(heap.refcount(ref)).toBe(3);
    heap.release(ref);
    expect(heap.refcount(ref)).toBe(2);
    heap.release(ref);
    heap.release(ref);
    expect(heap.stats().liveBlocks).toBe(0);
    heap.close();
  });

  it('setRef takes a count on the target and releases the previous occupant', () => {
    const heap = new Heap();
    const holder = heap.alloc(0, 2);
    const a = heap.alloc(8);
    const b = heap.alloc(8);
    heap.setRef(holder, 0, a);
    expect(heap.refcount(a)).toBe(2);
    expect(heap.getRef(holder, 0)).toBe(a);
    heap.setRef(holder, 0, b);
    expect(heap.refcount(a)).toBe(1);
    expect(heap.refcount(b)).toBe(2);
    heap.setRef(holder, 1, b);
    expect(heap.refcount(b)).toBe(3);
    heap.release(a);
    heap.release(b);
    expect(heap.stats().liveBlocks).toBe(2);
    heap.release(holder);
    expect(heap.stats().liveBlocks).toBe(0);
    expectConsistent(heap);
    heap.close();
  });

  it('storing the same target again keeps its count', () => {
    const heap = new Heap();
    const holder = heap.alloc(0, 1);
    const target = heap.alloc(0);
    heap.setRef(holder, 0, target);
    heap.release(target);
    heap.setRef(holder, 0, target);
    expect(heap.refcount(target)).toBe(1);
    heap.close();
  });

  it('clearing a slot can free the block that held it', () => {
    const heap = new Heap();
    const a = heap.alloc(0, 1);
    const b = heap.alloc(0, 1);
    heap.setRef(a, 0, b);
    heap.setRef(b, 0, a);
    heap.release(a);
    heap.release(b);
    // Only the cycle keeps them: cutting it from inside frees both, b last,
    // while setRef is still working on b.
    heap.setRef(b, 0, null);
    expect(heap.stats().liveBlocks).toBe(0);
    expectConsistent(heap);
    heap.close();
  });

  it('shared children are counted once per slot', () => {
    const heap = new Heap();
    const leaf = heap.alloc(8);
    const parents = heap.allocMany(10, 0, 3);
    for (const p of parents) for (let i = 0; i < 3; i++) heap.setRef(p, i, leaf);
    expect(heap.refcount(leaf)).toBe(31);
    heap.releaseMany(parents);
    expect(heap.refcount(leaf)).toBe(1);
    heap.release(leaf);
    expect(heap.stats().liveBlocks).toBe(0);
    heap.close();
  });

  it('frees a 10,000,000-long chain without overflowing the stack', () => {
    const heap = new Heap();
    const n = 10_000_000;
    const refs = heap.allocMany(n, 0, 1);
    for (let i = 0; i < n - 1; i++) heap.setRef(refs[i], 0, refs[i + 1]);
    heap.releaseMany(refs.subarray(1));
    expect(heap.stats().liveBlocks).toBe(n);
    heap.release(refs[0]);
    const stats = heap.stats();
    expect(stats.liveBlocks).toBe(0);
    expect(stats.frees).toBe(n);
    expect(stats.mappedBytes).toBeLessThanOrEqual(2 ** 20);
    heap.close();
  }, 120_000);
});

describe('data access', () => {
  it('reads and writes little-endian scalars', () => {
    const heap = new Heap();
    const ref = heap.alloc(16);
    heap.setUint32(ref, 0, 0x01020304);
    expect(Array.from(heap.read(ref, 0, 4))).toEqual([4, 3, 2, 1]);
    heap.setInt32(ref, 4, -2);
    expect(heap.getInt32(ref, 4)).toBe(-2);
    expect(heap.getUint32(ref, 4)).toBe(0xfffffffe);
    heap.setFloat64(ref, 8, Math.PI);
    expect(heap.getFloat64(ref, 8)).toBe(Math.PI);
    heap.setBigInt64(ref, 8, -5n);
    expect(heap.getBigInt64(ref, 8)).toBe(-5n);
    const expected = new DataView(new ArrayBuffer(8));
    expected.setBigInt64(0, -5n, true);
    expect(Array.from(heap.read(ref, 8))).toEqual(Array.from(new Uint8Array(expected.buffer)));
    heap.close();
  });

  it('write copies any ArrayBufferView; read copies out', () => {
    const heap = new Heap();
    const ref = heap.alloc(12);
    heap.write(ref, 2, Buffer.from('hello'));
    heap.write(ref, 8, new DataView(new Uint8Array([9, 8, 7, 6]).buffer));
    expect(Buffer.from(heap.read(ref, 2, 5)).toString()).toBe('hello');
    const copy = heap.read(ref);
    copy[0] = 99;
    expect(heap.getUint8(ref, 0)).toBe(0);
    expect(Array.from(heap.read(ref, 8))).toEqual([9, 8, 7, 6]);
    expect(heap.read(ref, 12).length).toBe(0);
    heap.write(ref, 12, new Uint8Array(0));
    heap.write(ref, 0, new Uint32Array([0xffffffff]));
    expect(heap.getUint32(ref, 0)).toBe(0xffffffff);
    heap.close();
  });

  it('write accepts a view of the same block (overlapping copy)', () => {
    const heap = new Heap();
    const ref = heap.alloc(8);
    heap.write(ref, 0, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    const view = heap.view(ref);
    heap.write(ref, 2, view.subarray(0, 6));
    expect(Array.from(heap.read(ref))).toEqual([1, 2, 1, 2, 3, 4, 5, 6]);
    heap.close();
  });
});

describe('types', () => {
  it('defines types with names and allocates blocks of them', () => {
    const heap = new Heap();
    expect(heap.typeName(0)).toBe('block');
    const node = heap.defineType('Node');
    const edge = heap.defineType('Edge');
    expect([node, edge]).toEqual([1, 2]);
    expect(heap.typeName(edge)).toBe('Edge');
    const ref = heap.alloc(8, 1, node);
    expect(heap.typeOf(ref)).toBe(node);
    expect(heap.typeOf(heap.allocMany(1, 8, 0, edge)[0])).toBe(edge);
    heap.close();
  });
});

describe('statistics', () => {
  it('accounts for every block in stats() and debugMallocStats()', () => {
    const heap = new Heap({ name: 'accounting' });
    const small = heap.allocMany(1000, 56);
    const tracked = heap.allocMany(100, 8, 2);
    const large = heap.alloc(10_000);
    const stats = heap.stats();
    expect(stats).toMatchObject({
      name: 'accounting',
      pid: process.pid,
      liveBlocks: 1101,
      trackedBlocks: 100,
      allocations: 1101,
      frees: 0,
      requestedBytes: 1000 * 56 + 100 * 24 + 10_000,
      largeBlocks: { count: 1 },
      arenas: { current: 1, peak: 1, allocatedTotal: 1, freedTotal: 0 },
    });
    expect(stats.largeBlocks.bytes).toBeGreaterThanOrEqual(10_008);
    expect(stats.mappedBytes).toBe(2 ** 20 + stats.largeBlocks.bytes);
    expect(stats.peakMappedBytes).toBe(stats.mappedBytes);
    const row64 = stats.sizeClasses.find((c) => c.blockSize === 64)!;
    expect(row64.blocksInUse).toBe(1000);
    expect(row64.pools).toBe(Math.ceil(1000 / Math.floor((16384 - 48) / 64)));
    expect(row64.blocksInUse + row64.blocksFree).toBe(row64.pools * Math.floor((16384 - 48) / 64));
    expect(stats.pools.used + stats.pools.free).toBe(64 * stats.arenas.current);
    expect(stats.gc.thresholds).toEqual([700, 10, 10]);
    const report = heap.debugMallocStats();
    expect(report).toMatch(/^Small block threshold = 512, in 32 size classes\./);
    const row = report.split('\n').find((l) => /^\s+3\s+64\s/.test(l))!;
    expect(row.trim().split(/\s+/).map(Number)).toEqual([3, 64, row64.pools, 1000, row64.blocksFree]);
    expect(report).toMatch(/\nTotal +=  +1,048,576\n/);
    heap.releaseMany(small);
    heap.releaseMany(tracked);
    heap.release(large);
    expect(heap.stats()).toMatchObject({ liveBlocks: 0, allocatedBytes: 0, requestedBytes: 0, frees: 1101 });
    heap.close();
  });

  it('trim returns the cached empty arena and free pool pages', () => {
    const heap = new Heap();
    const refs = heap.allocMany(20_000, 56);
    heap.releaseMany(refs);
    expect(heap.stats().mappedBytes).toBe(2 ** 20); // one empty arena stays cached
    expect(heap.trim()).toBe(2 ** 20);
    expect(heap.stats().mappedBytes).toBe(0);
    expect(heap.trim()).toBe(0);
    const again = heap.alloc(56);
    expect(heap.sizeOf(again)).toBe(56);
    expectConsistent(heap);
    heap.close();
  });
});

describe('misuse that must not crash', () => {
  it('releasing a count a slot owns leaves the slot empty, not dangling', () => {
    const heap = new Heap();
    const holder = heap.alloc(0, 2);
    const large = heap.alloc(4096);
    const small = heap.alloc(8);
    heap.setRef(holder, 0, large);
    heap.setRef(holder, 1, small);
    heap.releaseMany([large, large, small, small]); // the second of each is the slot's count
    const reused = heap.alloc(8); // takes the small block's memory
    expect(heap.getRef(holder, 0)).toBe(null);
    expect(heap.getRef(holder, 1)).toBe(null);
    heap.release(holder);
    expect(heap.refcount(reused)).toBe(1);
    expect(heap.stats().liveBlocks).toBe(1);
    heap.close();
  });
});

describe('views outlive a count released behind their back', () => {
  it('keeps a viewed block mapped after JavaScript releases the view\'s count', () => {
    const heap = new Heap();
    const ref = heap.alloc(100_000); // a large block: its own mapping
    const view = heap.view(ref);
    heap.release(ref);
    heap.release(ref); // the view's count: the block stays, pinned by the view
    heap.alloc(8);
    view[0] = 1;
    view[99_999] = 2;
    expect(view[0] + view[99_999]).toBe(3);
    expect(heap.stats().largeBlocks.count).toBe(1);
    heap.close();
    expect(view.byteLength).toBe(0); // detached, not dangling
  });
});
