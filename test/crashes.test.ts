/**
 * Ways JavaScript once crashed the process or corrupted the heap through
 * the public API alone, each kept here as the test that guards its fix
 * (RELIABILITY.md lists them). Every test ends with the heap's own
 * invariant check.
 */
import { describe, expect, it } from 'vitest';
import { RefheapError, type Ref } from '../lib/index';
import { expectConsistent, expectError } from './helpers';
import { isLive, newHeap } from './gc-setup';

describe('the block alloc() is about to return is out of JavaScript\'s reach', () => {
  it('a gc callback of alloc()\'s automatic collection cannot release it by predicting its ref', () => {
    const heap = newHeap({ autoCollect: true, thresholds: [1, 0, 0] });
    let victim = 0;
    const seen: string[] = [];
    heap.gc.callbacks.push((phase) => {
      if (phase !== 'start' || victim === 0) return;
      try {
        heap.release(victim);
        seen.push('released');
      } catch (error) {
        seen.push((error as { code: string }).code);
      }
      victim = 0;
    });
    heap.alloc(0, 1); // keeps the pool in use
    const freed = heap.alloc(0, 1);
    heap.release(freed); // the next block of this size class reuses its memory, with the next tag
    heap.alloc(64, 1); // count0 = 1: the next tracked allocation collects
    victim = freed + 1;
    const made = heap.alloc(0, 1);
    expect(made).toBe(freed + 1); // the prediction was right
    expect(seen).toEqual(['ERR_INVALID_REF']); // before the fix: 'released', and a freed block returned
    expect(heap.refcount(made)).toBe(1);
    expectConsistent(heap);
    heap.gc.collect();
    heap.gc.collect();
    expectConsistent(heap);
  });

  it('nor can a finalizer run by that collection', () => {
    const heap = newHeap({ autoCollect: true, thresholds: [1, 0, 0] });
    let victim = 0;
    const codes: string[] = [];
    const F = heap.defineType('F', {
      finalize: () => {
        try {
          heap.release(victim);
        } catch (error) {
          codes.push((error as { code: string }).code);
        }
      },
    });
    heap.alloc(0, 1);
    const freed = heap.alloc(0, 1);
    heap.release(freed);
    const cycle = heap.alloc(64, 1, F); // count0 = 1; garbage for the coming collection
    heap.setRef(cycle, 0, cycle);
    heap.release(cycle);
    victim = freed + 1;
    const made = heap.alloc(0, 1);
    expect(made).toBe(victim);
    expect(codes).toEqual(['ERR_INVALID_REF']);
    expect(heap.refcount(made)).toBe(1);
    expectConsistent(heap);
  });
});

describe('a view taken by a finalizer keeps the block', () => {
  for (const size of [48, 1 << 20]) {
    it(`finalize(ref) { view(ref); release(ref) } leaves the ${size}-byte block allocated while the view lives`, () => {
      const heap = newHeap();
      let view: Uint8Array | undefined;
      const T = heap.defineType('T', {
        finalize: (ref) => {
          view = heap.view(ref);
          heap.release(ref);
        },
      });
      const ref = heap.alloc(size, 0, T);
      heap.release(ref);
      expect(view).toBeDefined();
      // The block waits at count 0 for its view (it would have been freed).
      expect(isLive(heap, ref)).toBe(true);
      expect(heap.refcount(ref)).toBe(0);
      expectError(() => heap.release(ref), RefheapError, 'ERR_INVALID_REF'); // nothing below zero
      // Memory handed out next is not the view's.
      const next: Ref = heap.alloc(size);
      heap.write(next, 0, new Uint8Array(size).fill(7));
      view!.fill(1);
      expect(heap.read(next).every((byte) => byte === 7)).toBe(true);
      expect(view![size - 1]).toBe(1);
      expectConsistent(heap);
    });
  }
});
