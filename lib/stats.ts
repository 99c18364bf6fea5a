/** The statistics of a heap (SPEC section 7), and how the core's flat counters map onto them. */
import type { NativeStats } from './native';

export interface SizeClassStats {
  blockSize: number;
  pools: number;
  blocksInUse: number;
  blocksFree: number;
}

export interface GenerationStats {
  collections: number;
  collected: number;
  uncollectable: number;
}

export interface GcStats {
  enabled: boolean;
  counts: [number, number, number];
  thresholds: [number, number, number];
  generations: GenerationStats[];
  frozen: number;
  garbage: number;
  pauses: { lastMs: number; maxMs: number; totalMs: number };
}

export interface HeapStats {
  name: string;
  pid: number;
  heapId: number;
  /** Mapped from the OS now: arenas and large blocks. */
  mappedBytes: number;
  peakMappedBytes: number;
  /** In live blocks, headers included. */
  allocatedBytes: number;
  /** Data and slot bytes asked for by live blocks. */
  requestedBytes: number;
  liveBlocks: number;
  trackedBlocks: number;
  allocations: number;
  frees: number;
  arenas: { current: number; peak: number; allocatedTotal: number; freedTotal: number };
  pools: { used: number; free: number };
  sizeClasses: SizeClassStats[];
  largeBlocks: { count: number; bytes: number };
  gc: GcStats;
}

export function shapeStats(name: string, raw: NativeStats, gc: GcStats): HeapStats {
  return {
    name,
    pid: process.pid,
    heapId: raw.heapId,
    mappedBytes: raw.mappedBytes,
    peakMappedBytes: raw.peakMappedBytes,
    allocatedBytes: raw.allocatedBytes,
    requestedBytes: raw.requestedBytes,
    liveBlocks: raw.liveBlocks,
    trackedBlocks: raw.trackedBlocks,
    allocations: raw.allocations,
    frees: raw.frees,
    arenas: {
      current: raw.arenasCurrent,
      peak: raw.arenasPeak,
      allocatedTotal: raw.arenasAllocatedTotal,
      freedTotal: raw.arenasFreedTotal,
    },
    pools: { used: raw.poolsUsed, free: raw.poolsFree },
    sizeClasses: raw.sizeClasses,
    largeBlocks: { count: raw.largeBlocks, bytes: raw.largeBytes },
    gc,
  };
}
