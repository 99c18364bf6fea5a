/**
 * The statistics of a heap (SPEC section 7), and how they are built from the
 * core's flat list of named values (native/core/stats_fields.h). Both
 * `heap.stats()` and the CLI's reader of a live statistics page go through
 * `buildStats`, so the two report the same thing in the same shape.
 */

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

/** One value of the flat list: its path in HeapStats ("gc.generations.1.collected"). */
export interface StatsField {
  path: string;
  boolean: boolean;
}

type Container = Record<string, unknown>;

/** The container at `pieces`, made on the way: an array where the next piece is an index. */
function containerAt(root: Container, pieces: string[], next: string): Container {
  let node = root;
  pieces.forEach((key, i) => {
    const following = i + 1 < pieces.length ? (pieces[i + 1] as string) : next;
    node[key] ??= /^\d+$/.test(following) ? [] : {};
    node = node[key] as Container;
  });
  return node;
}

/** HeapStats from the values of `fields`, in the same order. */
export function buildStats(
  identity: { name: string; pid: number; heapId: number },
  fields: readonly StatsField[],
  values: ArrayLike<number>,
): HeapStats {
  const root: Container = { ...identity };
  const lengths: [pieces: string[], length: number][] = [];
  fields.forEach((field, i) => {
    const pieces = field.path.split('.');
    const leaf = pieces.pop() as string;
    const value = values[i] as number;
    if (leaf === 'length') lengths.push([pieces, value]);
    else containerAt(root, pieces, leaf)[leaf] = field.boolean ? value !== 0 : value;
  });
  // Tables come with rows to spare; their `length` says how many are in use.
  for (const [pieces, length] of lengths) (containerAt(root, pieces, '0') as unknown as unknown[]).length = length;
  return root as unknown as HeapStats;
}
