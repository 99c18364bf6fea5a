/**
 * The statistics of a heap (SPEC section 7), and how they are built from the
 * core's flat list of named values (native/core/stats_fields.h). Both
 * `heap.stats()` and the CLI's reader of a live statistics page go through
 * `buildStats`, so the two report the same thing in the same shape.
 */
import { append, setOwn } from './own';

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

/**
 * How to build HeapStats from one field list, worked out once per list: the
 * objects and arrays to make, in the order their first field comes (so the
 * keys come out in the list's order), and where each value goes. Plans and
 * results are built with own properties only (lib/own.ts): a setter a
 * program put on Array.prototype or Object.prototype must neither see the
 * values nor break the plan cached for every later call.
 */
const enum Kind {
  Object,
  Array,
  Value,
  Boolean,
  Length,
}
interface Step {
  kind: Kind;
  /** The container (an index into the containers made so far; 0 is the root). */
  parent: number;
  key: string;
  /** Where the value is in the field list (Value, Boolean, Length). */
  field: number;
}
const plans = new WeakMap<readonly StatsField[], Step[]>();

function planFor(fields: readonly StatsField[]): Step[] {
  const cached = plans.get(fields);
  if (cached) return cached;
  const steps: Step[] = [];
  const containers = new Map<string, number>([['', 0]]); // path -> index; 0 is the root
  const containerOf = (pieces: string[], next: string): number => {
    let parent = 0;
    for (let i = 0; i < pieces.length; i++) {
      const key = pieces[i] as string;
      const path = pieces.slice(0, i + 1).join('.');
      let index = containers.get(path);
      if (index === undefined) {
        index = containers.size;
        containers.set(path, index);
        const following = i + 1 < pieces.length ? (pieces[i + 1] as string) : next;
        const kind = /^\d+$/.test(following) || following === 'length' ? Kind.Array : Kind.Object;
        append(steps, { kind, parent, key, field: -1 });
      }
      parent = index;
    }
    return parent;
  };
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i] as StatsField;
    const pieces = field.path.split('.');
    const leaf = pieces.pop() as string;
    const parent = containerOf(pieces, leaf);
    // Tables come with rows to spare; their `length` says how many are in use.
    const kind = leaf === 'length' ? Kind.Length : field.boolean ? Kind.Boolean : Kind.Value;
    append(steps, { kind, parent, key: leaf, field: i });
  }
  plans.set(fields, steps);
  return steps;
}

/** HeapStats from the values of `fields`, in the same order. */
export function buildStats(
  identity: { name: string; pid: number; heapId: number },
  fields: readonly StatsField[],
  values: ArrayLike<number>,
): HeapStats {
  const nodes: Container[] = [{ ...identity }];
  const lengths: [Container, number][] = [];
  for (const step of planFor(fields)) {
    const parent = nodes[step.parent] as Container;
    switch (step.kind) {
      case Kind.Object:
      case Kind.Array: {
        const node = step.kind === Kind.Array ? ([] as unknown as Container) : {};
        setOwn(parent, step.key, node);
        append(nodes, node);
        break;
      }
      case Kind.Value:
        setOwn(parent, step.key, values[step.field] as number);
        break;
      case Kind.Boolean:
        setOwn(parent, step.key, values[step.field] !== 0);
        break;
      case Kind.Length:
        append(lengths, [parent, values[step.field] as number]);
        break;
    }
  }
  // Shortening an array touches only its own elements.
  for (const [array, length] of lengths) (array as unknown as unknown[]).length = length;
  return nodes[0] as unknown as HeapStats;
}

/** How many rows the table at `prefix` (such as "sizeClasses") has in `fields`. */
export function tableRows(fields: readonly StatsField[], prefix: string): number {
  const rows = new Set<string>();
  for (const field of fields) {
    const match = field.path.startsWith(prefix + '.') ? /^(\d+)(\.|$)/.exec(field.path.slice(prefix.length + 1)) : null;
    if (match) rows.add(match[1] as string);
  }
  return rows.size;
}
