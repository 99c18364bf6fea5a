/**
 * Shared set-up of the gc test files: heaps made through newHeap() are
 * closed after each test, and an expect() that fails inside a finalizer or
 * callback (which refheap reports as a warning, not an exception) fails the
 * test instead of passing silently.
 */
import { afterEach, expect } from 'vitest';
import { Heap, type HeapOptions, type Ref } from '../lib/index';

const heaps: Heap[] = [];

/** A heap without automatic collection (unless asked), so every collection in a test is its own. */
export function newHeap(options: HeapOptions = {}): Heap {
  const heap = new Heap({ publish: false, autoCollect: false, ...options });
  heaps.push(heap);
  return heap;
}

const swallowed: string[] = [];
process.on('warning', (warning) => {
  if (warning.message.includes('AssertionError')) swallowed.push(warning.message);
});
afterEach(async () => {
  for (const heap of heaps.splice(0)) heap.close();
  await new Promise((resolve) => setImmediate(resolve));
  expect(swallowed.splice(0)).toEqual([]);
});

/** True while `ref` names a live block (freed refs stay invalid: nothing here reuses memory 65,536 times). */
export function isLive(heap: Heap, ref: Ref): boolean {
  try {
    heap.refcount(ref);
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_INVALID_REF') return false;
    throw error;
  }
}

/** A 2-cycle of blocks of `type`, JavaScript's counts dropped: only the collector can free it. */
export function pair(heap: Heap, type = 0): [Ref, Ref] {
  const a = heap.alloc(8, 1, type);
  const b = heap.alloc(8, 1, type);
  heap.setRef(a, 0, b);
  heap.setRef(b, 0, a);
  heap.release(a);
  heap.release(b);
  return [a, b];
}
