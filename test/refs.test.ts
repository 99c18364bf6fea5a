/**
 * Refs (SPEC section 3): a positive safe integer naming one live block of one
 * heap. Every other number — freed, stale, forged, foreign, random — is
 * ERR_INVALID_REF, never a crash and never another block.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { layout } from '../lib/native';
import { expectConsistent, expectError, seededRandom, snapshot } from './helpers';

const heaps: Heap[] = [];
function newHeap(): Heap {
  const heap = new Heap({ publish: false, autoCollect: false });
  heaps.push(heap);
  return heap;
}
// Hundreds of thousands of expected errors: their stack traces would only cost time.
const stackTraceLimit = Error.stackTraceLimit;
beforeEach(() => {
  Error.stackTraceLimit = 0;
});
afterEach(() => {
  Error.stackTraceLimit = stackTraceLimit;
  for (const heap of heaps.splice(0)) heap.close();
});

/** A ref is slot:20 | granule:16 | tag:16; this drops the tag. */
const place = (ref: number) => Math.floor(ref / 65536);

/** True when `value` names a live block of `heap`; any error but ERR_INVALID_REF is rethrown. */
function resolves(heap: Heap, value: number): boolean {
  try {
    heap.refcount(value);
    return true;
  } catch (error) {
    if (error instanceof RefheapError && error.code === 'ERR_INVALID_REF') return false;
    throw error;
  }
}

/** The refs in `refs` that still resolve (should be none). */
const resolving = (heap: Heap, refs: ArrayLike<number>) => Array.from(refs).filter((ref) => resolves(heap, ref));

/** Proves `value` names exactly the block `ref`: stored in a slot, it reads back as itself, with that block's shape. */
function expectNames(heap: Heap, holder: number, value: number, ref: number): void {
  heap.setRef(holder, 0, value);
  expect(heap.getRef(holder, 0)).toBe(ref);
  heap.setRef(holder, 0, null);
}

/** Blocks of many shapes: small of every size class, with and without slots, large, empty. */
function allocMixed(heap: Heap, count: number): Map<number, { size: number; slots: number }> {
  const blocks = new Map<number, { size: number; slots: number }>();
  for (let i = 0; i < count; i++) {
    const size = i % 97 === 0 ? 600 + i : (i * 37) % 500;
    const slots = i % 3;
    const ref = heap.alloc(size, slots);
    if (size > 0) heap.setUint8(ref, 0, i & 0xff);
    blocks.set(ref, { size, slots });
  }
  for (const ref of heap.allocMany(100, 24, 1)) blocks.set(ref, { size: 24, slots: 1 });
  return blocks;
}

describe('the ref layout the addon exports (layout.ref)', () => {
  it('takes apart the refs the core makes: one slot per arena, granules a block apart, a 16-bit tag', () => {
    const heap = new Heap();
    const { tagBits, granuleBits, slotBits, granuleShift, slotShift } = layout.ref;
    expect([granuleShift, slotShift]).toEqual([tagBits, tagBits + granuleBits]);
    expect(slotShift + slotBits).toBeLessThanOrEqual(53);
    const field = (ref: number, shift: number, bits: number) => Math.floor(ref / 2 ** shift) % 2 ** bits;
    const refs = Array.from({ length: 100 }, () => heap.alloc(layout.granule - layout.blockHeaderSize));
    const slots = new Set(refs.map((ref) => field(ref, slotShift, slotBits)));
    expect(slots.size).toBe(1); // one arena
    expect([...slots][0]).toBeGreaterThan(0);
    const granules = refs.map((ref) => field(ref, granuleShift, granuleBits)).sort((a, b) => a - b);
    for (let i = 1; i < granules.length; i++) expect(granules[i] - granules[i - 1]).toBeGreaterThanOrEqual(1);
    expect(granules[granules.length - 1]).toBeLessThan(layout.arenaSize / layout.granule);
    // Rebuilt from its fields, a ref is itself; with another tag it names nothing.
    for (const ref of refs) {
      const tag = field(ref, 0, tagBits);
      const rebuilt = field(ref, slotShift, slotBits) * 2 ** slotShift + field(ref, granuleShift, granuleBits) * 2 ** granuleShift + tag;
      expect(rebuilt).toBe(ref);
      expectError(() => heap.sizeOf(ref - tag + ((tag + 1) % 2 ** tagBits)), RefheapError, 'ERR_INVALID_REF');
    }
    heap.close();
  });
});

describe('live refs', () => {
  it('are distinct positive safe integers below 2^52, and each resolves to its own block', () => {
    const heap = newHeap();
    const blocks = allocMixed(heap, 3000);
    const holder = heap.alloc(0, 1);
    expect(blocks.size).toBe(3100);
    for (const [ref, shape] of blocks) {
      expect(Number.isSafeInteger(ref) && ref > 0 && ref < 2 ** 52, String(ref)).toBe(true);
      expect(heap.refcount(ref)).toBe(1);
      expect(heap.sizeOf(ref)).toBe(shape.size);
      expect(heap.slotCount(ref)).toBe(shape.slots);
      expect(heap.retain(ref)).toBe(ref);
      heap.release(ref);
      expectNames(heap, holder, ref, ref);
    }
    expectConsistent(heap);
  });

  it('of one heap are invalid in every other heap, while live there and after it closed', () => {
    const all = [newHeap(), newHeap(), newHeap()];
    const refs = all.map((heap) => [heap.alloc(16), heap.alloc(40, 2), heap.alloc(5000), ...heap.allocMany(50, 8)]);
    all.forEach((heap, i) => {
      const before = snapshot(heap, refs[i]);
      refs.forEach((refsOfJ, j) => {
        for (const ref of refsOfJ) expect(resolves(heap, ref)).toBe(i === j);
      });
      expect(snapshot(heap, refs[i])).toEqual(before);
    });
    all[0].close();
    for (const ref of refs[0]) {
      expect(resolves(all[1], ref)).toBe(false);
      expect(resolves(all[2], ref)).toBe(false);
    }
    for (const ref of refs[1]) expectError(() => all[0].refcount(ref), RefheapError, 'ERR_HEAP_CLOSED');
  });
});

describe('freed refs', () => {
  it('are invalid for every member, and for blocks freed by a cascade', () => {
    const heap = newHeap();
    const parent = heap.alloc(8, 1);
    const child = heap.alloc(600, 1); // large
    const grandchild = heap.alloc(8);
    heap.setRef(parent, 0, child);
    heap.setRef(child, 0, grandchild);
    heap.release(child);
    heap.release(grandchild);
    const plain = heap.alloc(8);
    heap.release(plain);
    heap.release(parent);
    expect(heap.stats().liveBlocks).toBe(0);
    const holder = heap.alloc(0, 1);
    const before = snapshot(heap, [holder]);
    for (const ref of [parent, child, grandchild, plain]) {
      for (const call of [
        () => heap.refcount(ref),
        () => heap.retain(ref),
        () => heap.release(ref),
        () => heap.releaseMany([ref]),
        () => heap.getRef(ref, 0),
        () => heap.setRef(holder, 0, ref),
        () => heap.sizeOf(ref),
        () => heap.getUint8(ref, 0),
        () => heap.setUint8(ref, 0, 1),
        () => heap.read(ref),
        () => heap.write(ref, 0, new Uint8Array(1)),
        () => heap.view(ref),
      ]) {
        expectError(call, RefheapError, 'ERR_INVALID_REF');
      }
    }
    expect(snapshot(heap, [holder])).toEqual(before);
    expectConsistent(heap);
  });

  it.each([
    ['its pool stays in use', true],
    ['its pool empties every time', false],
  ])('stay invalid over 65,536 reuses of the same memory (%s)', (_label, busy) => {
    const heap = newHeap();
    if (busy) heap.alloc(40);
    const first = heap.alloc(40);
    heap.setUint32(first, 0, 0xfeedface);
    const stale = new Float64Array(65536);
    stale[0] = first;
    heap.release(first);
    let elsewhere = 0; // reuses that were not of the same memory, or not zeroed
    let revived = 0; // reuses during which `first` resolved
    for (let i = 1; i <= 65536; i++) {
      const ref = heap.alloc(40);
      if (place(ref) !== place(first) || heap.getUint32(ref, 0) !== 0) elsewhere++;
      // The 65,536th reuse brings the 16-bit tag back to `first`'s, which the
      // specification allows: only the reuses before it must reject `first`.
      if (i < 65536) {
        if (ref === first || resolves(heap, first)) revived++;
        stale[i] = ref;
        heap.setUint32(ref, 0, i);
      }
      heap.release(ref);
    }
    expect(elsewhere).toBe(0);
    expect(revived).toBe(0);
    expect(new Set(stale).size).toBe(65536);
    expect(resolving(heap, stale)).toEqual([]);
    // A new block in that memory: every old ref but the wrapped one is rejected.
    const next = heap.alloc(40);
    expect(place(next)).toBe(place(first));
    expect(resolving(heap, stale).filter((ref) => ref !== next)).toEqual([]);
    expectConsistent(heap);
  });

  it('stay invalid when their pool is set up again for other block sizes, whatever the data left behind', () => {
    const heap = newHeap();
    const stale: number[] = [];
    const lastTag = new Map<number, number>(); // granule (as place()) -> tag of the last ref handed out there
    // Block sizes 16..112 in turn: each layout puts headers inside the blocks of the others.
    for (const size of [8, 24, 8, 40, 8, 56, 24, 8, 104, 8, 24]) {
      const refs = Array.from(heap.allocMany(120, size));
      expect(resolving(heap, stale)).toEqual([]);
      // Data that a later layout would find where it carves a header: a live-looking
      // header (flags = allocated) whose tag is one below that of the last ref there.
      for (const ref of refs) {
        for (let k = 1; 16 * k <= size; k++) {
          const tag = lastTag.get(place(ref) + k);
          if (tag === undefined) continue;
          heap.setUint32(ref, 16 * k - 8, 1); // refcount
          heap.setUint32(ref, 16 * k - 4, ((tag - 1) & 0xffff) | (1 << 16)); // tag, flags
        }
      }
      heap.releaseMany(refs);
      for (const ref of refs) lastTag.set(place(ref), ref % 65536);
      stale.push(...refs);
    }
    // One pool (1,024 granules) held every layout in turn.
    expect(new Set(stale.map((ref) => Math.floor(place(ref) / 1024))).size).toBe(1);
    expect(resolving(heap, stale)).toEqual([]);
    expectConsistent(heap);
  });

  it('stay invalid after trim() gave their pool back to the OS and it was used again', () => {
    const heap = newHeap();
    const keeper = heap.alloc(100); // keeps the arena in use, so trim() discards pools, not the arena
    const pool = (ref: number) => Math.floor(place(ref) / 1024);
    const stale = Array.from(heap.allocMany(2000, 8));
    heap.releaseMany(stale);
    expect(heap.trim()).toBeGreaterThan(0);
    const again = Array.from(heap.allocMany(2000, 8));
    expect(new Set(again.map(pool))).toEqual(new Set(stale.map(pool)));
    expect(resolving(heap, stale)).toEqual([]);
    expect(resolving(heap, again).length).toBe(2000);
    expect(heap.refcount(keeper)).toBe(1);
    expectConsistent(heap);
  });

  it('stay invalid after their arena was unmapped, and after new arenas took its place', () => {
    const heap = newHeap();
    const perArena = 64 * Math.floor((16384 - 48) / 512); // 504-byte blocks fill 512-byte slots
    const refs = Array.from(heap.allocMany(3 * perArena, 504)); // 3 MiB of arenas
    const start = heap.stats().arenas;
    expect(start.current).toBe(3);
    heap.releaseMany(refs);
    const afterRelease = heap.stats().arenas;
    expect(afterRelease.freedTotal).toBe(start.freedTotal + 2); // one empty arena stays cached
    expect(resolving(heap, refs)).toEqual([]);
    heap.trim();
    expect(heap.stats().arenas.freedTotal).toBe(start.freedTotal + 3);
    expect(heap.stats().mappedBytes).toBe(0);
    expect(resolving(heap, refs)).toEqual([]);
    const fresh = Array.from(heap.allocMany(3 * perArena, 504));
    expect(resolving(heap, refs)).toEqual([]);
    expect(resolving(heap, fresh).length).toBe(fresh.length);
    expectConsistent(heap);
  });

  it('of large blocks stay invalid after the block is unmapped and others are mapped', () => {
    const heap = newHeap();
    const stale: number[] = [];
    for (let i = 0; i < 200; i++) {
      const ref = heap.alloc(600 + 64 * i, i % 2);
      expect(stale).not.toContain(ref);
      heap.release(ref);
      stale.push(ref);
    }
    const live = heap.alloc(5000);
    expect(resolving(heap, stale)).toEqual([]);
    expect(heap.refcount(live)).toBe(1);
  });
});

describe('forged refs', () => {
  it('a flip of any one of 52 bits (or bit 52) is rejected unless it names another live block', () => {
    const heap = newHeap();
    const blocks = allocMixed(heap, 3000);
    const holder = heap.alloc(0, 1);
    const before = snapshot(heap);
    const live = [...blocks.keys()];
    const chosen = [live[0], live[1], live[500], live[2999], live[3099], ...live.filter((ref) => blocks.get(ref)!.size > 512)];
    let named = 0;
    for (const ref of chosen) {
      for (let bit = 0; bit <= 52; bit++) {
        const forged = Number(BigInt(ref) ^ (1n << BigInt(bit)));
        const other = blocks.get(forged);
        if (other === undefined) {
          expect(resolves(heap, forged), `${ref} with bit ${bit} flipped`).toBe(false);
          expectError(() => heap.sizeOf(forged), RefheapError, 'ERR_INVALID_REF');
          expectError(() => heap.read(forged, 0, 0), RefheapError, 'ERR_INVALID_REF');
        } else {
          named++;
          expect(heap.sizeOf(forged)).toBe(other.size);
          expect(heap.slotCount(forged)).toBe(other.slots);
          expectNames(heap, holder, forged, forged);
        }
      }
    }
    expect(named).toBeGreaterThan(0); // neighbours in one arena differ in a few granule bits
    expect(snapshot(heap)).toEqual(before);
    expectConsistent(heap);
  });

  it('random numbers never crash and name a block only when that block is live', () => {
    const heap = newHeap();
    const blocks = allocMixed(heap, 2000);
    const live = [...blocks.keys()];
    const holder = heap.alloc(0, 1);
    const random = seededRandom(20240611);
    const bits = new DataView(new ArrayBuffer(8));
    const int = (n: number) => Math.floor(random() * n);
    const before = snapshot(heap);
    const wrong: string[] = [];
    let hits = 0;
    for (let i = 0; i < 100_000; i++) {
      let value: number;
      const base = live[int(live.length)];
      switch (i % 6) {
        case 0: value = int(2 ** 52); break;
        case 1: // any 64-bit pattern: NaNs, infinities, denormals, negatives
          bits.setUint32(0, int(2 ** 32));
          bits.setUint32(4, int(2 ** 32));
          value = bits.getFloat64(0);
          break;
        case 2: value = Math.floor(base / 2 ** 32) * 2 ** 32 + int(2 ** 32); break; // a real mapping
        case 3: value = place(base) * 65536 + int(65536); break; // a real block, any tag
        case 4: value = base + int(64) - 32 + (i % 12 === 4 ? 0.5 : 0); break; // near a real ref
        default: value = int(2 ** 32); break; // registry slot 0
      }
      const calls = [() => heap.refcount(value), () => heap.sizeOf(value), () => heap.slotCount(value), () => heap.read(value, 0, 0)];
      try {
        calls[i % calls.length]();
        hits++;
        if (!blocks.has(value)) wrong.push(`${value} resolved`);
      } catch (error) {
        if (!(error instanceof RefheapError) || error.code !== 'ERR_INVALID_REF') wrong.push(`${value}: ${String(error)}`);
        else if (blocks.has(value)) wrong.push(`${value} is live but was rejected`);
      }
    }
    expect(wrong).toEqual([]);
    expect(hits).toBeGreaterThan(0);
    // Whatever did resolve was the very block it names.
    for (const ref of live.slice(0, 50)) expectNames(heap, holder, ref, ref);
    expect(snapshot(heap)).toEqual(before);
    expectConsistent(heap);
  });
});
