/**
 * The stress workload (`refheap stress`): builds graphs of real blocks in a
 * given shape, drops them, checks the heap's invariants as it goes, and
 * reports throughput, memory, collections, pauses and RSS before and after.
 *
 * Graphs are dropped by releasing the refs JavaScript holds: a tree then
 * frees by its counts, the cyclic shapes (pairs, ring, random) are left to
 * the automatic collector. At the end one full collection must leave no
 * block alive.
 */
import { readFileSync } from 'node:fs';
import { Heap } from './heap';
import { layout } from './native';

export type StressShape = 'pairs' | 'ring' | 'tree' | 'random';
export const STRESS_SHAPES: readonly StressShape[] = ['pairs', 'ring', 'tree', 'random'];

export interface StressOptions {
  blocks: number; // blocks per graph
  shape: StressShape;
  seconds: number;
  maxBytes?: number;
  onProgress?: (fraction: number, rounds: number) => void;
}

export interface StressReport {
  shape: StressShape;
  blocksPerGraph: number;
  rounds: number;
  blocksAllocated: number;
  seconds: number;
  blocksPerSecond: number;
  peakMappedBytes: number;
  mappedBytesAfter: number;
  rssBefore: number;
  rssPeak: number;
  rssAfter: number;
  invariantChecks: number;
  collections: number;
  collected: number;
  pauseMaxMs: number;
  pauseTotalMs: number;
  ok: boolean;
  problem?: string;
}

const SLOTS = 4;

function rss(): number {
  return Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * layout.osPageSize;
}

/** xorshift32: deterministic, cheap, good enough to shape graphs. */
function makeRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/**
 * Links `refs` into the shape (the soak run builds its graphs with it too):
 * pairs and ring through slot 0, tree through slots 0-3, random through
 * `randomSlots` slots each.
 */
export function link(
  heap: Heap,
  refs: ArrayLike<number>,
  shape: StressShape,
  random: () => number,
  randomSlots = SLOTS,
): void {
  const n = refs.length;
  switch (shape) {
    case 'pairs':
      for (let i = 0; i + 1 < n; i += 2) {
        heap.setRef(refs[i], 0, refs[i + 1]);
        heap.setRef(refs[i + 1], 0, refs[i]);
      }
      break;
    case 'ring':
      for (let i = 0; i < n; i++) heap.setRef(refs[i], 0, refs[(i + 1) % n]);
      break;
    case 'tree':
      for (let i = 1; i < n; i++) heap.setRef(refs[(i - 1) >> 2], (i - 1) & 3, refs[i]);
      break;
    case 'random':
      for (let i = 0; i < n; i++) {
        for (let s = 0; s < randomSlots; s++) heap.setRef(refs[i], s, refs[Math.floor(random() * n)]);
      }
      break;
  }
}

export function runStress(options: StressOptions): StressReport {
  const heap = new Heap({ name: `stress-${options.shape}`, maxBytes: options.maxBytes });
  const random = makeRandom(0x5eed);
  const rssBefore = rss();
  let rssPeak = rssBefore;
  let rounds = 0;
  let checks = 0;
  let problem: string | undefined;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(options.seconds * 1e9));
  try {
    while (process.hrtime.bigint() < deadline) {
      const refs = heap.allocMany(options.blocks, 16, SLOTS);
      for (let i = 0; i < refs.length; i++) heap.setFloat64(refs[i], 0, rounds + i);
      link(heap, refs, options.shape, random);
      rssPeak = Math.max(rssPeak, rss());
      // Sample the graph: every block must still hold what was written into it.
      for (let k = 0; k < 16; k++) {
        const i = Math.floor(random() * refs.length);
        if (heap.getFloat64(refs[i], 0) !== rounds + i) throw new Error(`block ${i} of round ${rounds} lost its data`);
      }
      heap.releaseMany(refs);
      if (options.shape === 'tree' && heap.stats().liveBlocks !== 0) {
        throw new Error(`${heap.stats().liveBlocks} blocks of a tree outlived their counts in round ${rounds}`);
      }
      if (rounds % 8 === 0) {
        const verdict = heap._verify();
        checks++;
        if (verdict !== '') throw new Error(`heap check failed in round ${rounds}: ${verdict}`);
      }
      rounds++;
      options.onProgress?.(Number(process.hrtime.bigint() - start) / Number(deadline - start), rounds);
    }
    heap.gc.collect();
    const left = heap.stats().liveBlocks;
    if (left !== 0) throw new Error(`${left} blocks were still alive after a full collection`);
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const stats = heap.stats();
  heap.close();
  const generations = stats.gc.generations;
  return {
    shape: options.shape,
    blocksPerGraph: options.blocks,
    rounds,
    blocksAllocated: stats.allocations,
    seconds,
    blocksPerSecond: stats.allocations / seconds,
    peakMappedBytes: stats.peakMappedBytes,
    mappedBytesAfter: stats.mappedBytes,
    rssBefore,
    rssPeak,
    rssAfter: rss(),
    invariantChecks: checks,
    collections: generations.reduce((sum, g) => sum + g.collections, 0),
    collected: generations.reduce((sum, g) => sum + g.collected, 0),
    pauseMaxMs: stats.gc.pauses.maxMs,
    pauseTotalMs: stats.gc.pauses.totalMs,
    ok: problem === undefined,
    problem,
  };
}
