/**
 * refheap: CPython's memory-management stack for Node.js. Blocks live off
 * V8's heap in size-class pools carved from mmap'd arenas, are reference
 * counted, and are named by refs (positive safe integers).
 */
export { Heap, type HeapOptions, type TypeOptions } from './heap';
export { gc, getDefaultHeap } from './default-gc';
export type { Gc, GcCallback, GcInfo } from './gc';
export { RefheapError } from './errors';
export type { Ref, TypeId } from './native';
export type { HeapStats, GcStats, GenerationStats, SizeClassStats } from './stats';
export { DEBUG_STATS, DEBUG_COLLECTABLE, DEBUG_UNCOLLECTABLE, DEBUG_SAVEALL, DEBUG_LEAK } from './debug-flags';
