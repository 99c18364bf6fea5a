/** Shared test helpers: error assertions and "the heap is unchanged" checks. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { layout } from '../lib/native';

type ErrorClass = typeof TypeError | typeof RangeError | typeof RefheapError;

/** Runs `fn`, expects it to throw an instance of `errorClass` with `code`, returns the error. */
export function expectError(fn: () => unknown, errorClass: ErrorClass, code: string): Error & { code: string } {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(errorClass);
  expect((thrown as { code: string }).code).toBe(code);
  return thrown as Error & { code: string };
}

/**
 * Everything about a heap that a failed call must leave as it was: its
 * statistics (but for the high-water marks of memory mapped, which record
 * history) and the given blocks' counts, shapes, data and slots.
 */
export function snapshot(heap: Heap, refs: number[] = []): unknown {
  const { peakMappedBytes: _peak, arenas, ...stats } = heap.stats();
  return {
    stats,
    arenasCurrent: arenas.current,
    blocks: refs.map((ref) => ({
      count: heap.refcount(ref),
      size: heap.sizeOf(ref),
      slots: heap.slotCount(ref),
      data: createHash('sha1').update(heap.read(ref)).digest('hex'),
      targets: Array.from({ length: heap.slotCount(ref) }, (_, i) => heap.getRef(ref, i)),
    })),
  };
}

/** The heap's own full consistency check must pass. */
export function expectConsistent(heap: Heap): void {
  expect(heap._verify()).toBe('');
}

/** Resident set size of this process, from /proc/self/statm (in OS pages). */
export function rssBytes(): number {
  const pages = Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]);
  return pages * layout.osPageSize;
}

/** Collects the warnings emitted while `fn` runs (emitted on a later tick: two turns are waited for). */
export async function warningsDuring(fn: () => void): Promise<{ code?: string; message: string }[]> {
  const warnings: { code?: string; message: string }[] = [];
  const listener = (warning: Error & { code?: string }) => warnings.push({ code: warning.code, message: warning.message });
  process.on('warning', listener);
  try {
    fn();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return warnings;
}

export { seededRandom } from '../lib/random';
