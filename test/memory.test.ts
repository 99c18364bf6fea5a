import { describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { expectConsistent, expectError, rssBytes, snapshot } from './helpers';

const MiB = 2 ** 20;

/**
 * What a rolled-back allocMany must restore: the blocks and their counters.
 * (The arenas it mapped may stay mapped as the heap's one cached empty arena.)
 */
function blockState(heap: Heap, kept: number): unknown {
  const { liveBlocks, trackedBlocks, allocatedBytes, requestedBytes, allocations, frees } = heap.stats();
  const blocks = { liveBlocks, trackedBlocks, allocatedBytes, requestedBytes, allocations, frees };
  return { blocks, count: heap.refcount(kept), data: Array.from(heap.read(kept)) };
}

describe('memory goes back to the OS', () => {
  it('returns 256 MiB of released blocks: mapped bytes under 4 MiB, RSS growth at least 80 % back', () => {
    const heap = new Heap();
    const before = rssBytes();
    const refs = heap.allocMany((256 * MiB) / 512, 496); // 512-byte blocks, zeroed, so every page is touched
    const small = heap.allocMany(100_000, 100, 1); // and a second size class, interleaved arenas
    const grown = rssBytes();
    expect(heap.stats().mappedBytes).toBeGreaterThanOrEqual(256 * MiB);
    heap.releaseMany(refs);
    heap.releaseMany(small);
    const after = rssBytes();
    const stats = heap.stats();
    expect(stats.liveBlocks).toBe(0);
    expect(stats.mappedBytes).toBeLessThan(4 * MiB);
    expect(stats.peakMappedBytes).toBeGreaterThanOrEqual(256 * MiB);
    expect(stats.arenas.freedTotal).toBeGreaterThanOrEqual(stats.arenas.allocatedTotal - 1);
    expect((grown - after) / (grown - before)).toBeGreaterThanOrEqual(0.8);
    heap.close();
  });

  it('unmaps an empty arena as soon as a second one is empty', () => {
    const heap = new Heap();
    const perArena = 64 * Math.floor((16384 - 48) / 512);
    const refs = heap.allocMany(3 * perArena, 496);
    expect(heap.stats().arenas.current).toBe(3);
    heap.releaseMany(refs);
    expect(heap.stats().arenas).toMatchObject({ current: 1, freedTotal: 2, peak: 3 });
    heap.close();
  });

  it('gives each block above 512 bytes a mapping of its own, unmapped when freed', () => {
    const heap = new Heap();
    const ref = heap.alloc(3 * MiB);
    expect(heap.stats().largeBlocks.count).toBe(1);
    expect(heap.stats().mappedBytes).toBeGreaterThan(3 * MiB);
    heap.release(ref);
    expect(heap.stats()).toMatchObject({ mappedBytes: 0, largeBlocks: { count: 0, bytes: 0 } });
    heap.close();
  });
});

describe('maxBytes', () => {
  it('refuses a mapping past the cap with ERR_HEAP_LIMIT and stays usable', () => {
    const heap = new Heap({ maxBytes: 4 * MiB });
    const kept = heap.alloc(100);
    heap.write(kept, 0, Buffer.from('still here'));
    const big = heap.alloc(2 * MiB);
    const withoutGc = () => {
      const state = snapshot(heap, [kept, big]) as { stats: { gc?: unknown } };
      delete state.stats.gc; // the full collection that runs before refusing is the one thing that changes
      return state;
    };
    const before = withoutGc();
    const collections = heap.gc.getStats()[2].collections;
    const error = expectError(() => heap.alloc(2 * MiB), RangeError, 'ERR_HEAP_LIMIT');
    expect(error.message).toMatch(/maxBytes/);
    expect(withoutGc()).toEqual(before);
    expect(heap.gc.getStats()[2].collections).toBe(collections + 1);
    expect(heap.stats().mappedBytes).toBeLessThanOrEqual(4 * MiB);
    heap.release(big);
    const again = heap.alloc(2 * MiB);
    expect(heap.sizeOf(again)).toBe(2 * MiB);
    expect(Buffer.from(heap.read(kept, 0, 10)).toString()).toBe('still here');
    expectConsistent(heap);
    heap.close();
  });

  it('allocMany past the cap fails whole: no block of it is left', () => {
    const heap = new Heap({ maxBytes: 2 * MiB });
    const kept = heap.alloc(8);
    const before = blockState(heap, kept);
    expectError(() => heap.allocMany(10_000, 496), RangeError, 'ERR_HEAP_LIMIT');
    expect(blockState(heap, kept)).toEqual(before);
    expect(heap.allocMany(1000, 496).length).toBe(1000);
    expectConsistent(heap);
    heap.close();
  });
});

describe('OS mapping failures', () => {
  it.each([1, 2, 5])('a failed arena mapping (the %i-th) throws ERR_OS_MEMORY and loses nothing', (n) => {
    const heap = new Heap();
    const perArena = 64 * Math.floor((16384 - 48) / 512);
    const kept: number[] = [];
    heap._failNthMapping(n);
    let failures = 0;
    for (let i = 0; i < 6 * perArena; i++) {
      try {
        const ref = heap.alloc(496);
        heap.setUint32(ref, 0, i);
        kept.push(ref);
      } catch (error) {
        expect(error).toBeInstanceOf(RefheapError);
        expect((error as RefheapError).code).toBe('ERR_OS_MEMORY');
        failures++;
      }
    }
    expect(failures).toBe(1);
    expect(kept.length).toBe(6 * perArena - 1);
    kept.forEach((ref, i) => expect(heap.getUint32(ref, 0)).toBe(i < (n - 1) * perArena ? i : i + 1));
    expectConsistent(heap);
    heap.close();
  });

  it('a failed large-block mapping throws ERR_OS_MEMORY with the heap unchanged', () => {
    const heap = new Heap();
    const kept = heap.allocMany(10, 8, 1);
    const before = snapshot(heap, Array.from(kept));
    heap._failNthMapping(1);
    expectError(() => heap.alloc(10_000), RefheapError, 'ERR_OS_MEMORY');
    expect(snapshot(heap, Array.from(kept))).toEqual(before);
    expect(heap.sizeOf(heap.alloc(10_000))).toBe(10_000);
    heap.close();
  });

  it('a failure in the middle of allocMany rolls back the blocks already made', () => {
    const heap = new Heap();
    const kept = heap.alloc(8);
    const before = blockState(heap, kept);
    heap._failNthMapping(2);
    expectError(() => heap.allocMany(5000, 496), RefheapError, 'ERR_OS_MEMORY');
    expect(blockState(heap, kept)).toEqual(before);
    expect(heap.allocMany(5000, 496).length).toBe(5000);
    expectConsistent(heap);
    heap.close();
  });
});
