import { describe, expect, it } from 'vitest';
import { Heap } from '../lib/index';
import { expectConsistent } from './helpers';

describe('blocks', () => {
  it('alloc returns a new reference to a zeroed block of the asked shape', () => {
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
});
