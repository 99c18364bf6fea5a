/**
 * `debugMallocStats()`: the allocator's state laid out like CPython's
 * `sys._debugmallocstats()`. Like CPython's, the report checks its own
 * arithmetic: every byte of every arena is accounted for exactly once
 * (blocks in use, blocks available, unused pools, pool headers, the tail of
 * each pool too small for a block), and the sum must equal the arenas' size.
 */
import type { HeapStats } from './stats';
import type { Layout } from './native';

const LABEL_WIDTH = 35;
const VALUE_WIDTH = 21;

function line(label: string, value: number): string {
  return `${label.padEnd(LABEL_WIDTH)}= ${value.toLocaleString('en-US').padStart(VALUE_WIDTH - 2)}`;
}

export function formatMallocStats(stats: HeapStats, layout: Readonly<Layout>): string {
  const classCount = layout.smallLimit / layout.granule;
  let inUseBytes = 0;
  let availableBytes = 0;
  let quantization = 0;
  let pools = 0;
  // Lines are made by literals and map, never pushed: a setter on
  // Array.prototype must not see them (lib/own.ts).
  const rows = stats.sizeClasses.map((row) => {
    inUseBytes += row.blocksInUse * row.blockSize;
    availableBytes += row.blocksFree * row.blockSize;
    quantization += row.pools * ((layout.poolSize - layout.poolHeaderSize) % row.blockSize);
    pools += row.pools;
    const sizeClass = row.blockSize / layout.granule - 1;
    return (
      `${String(sizeClass).padStart(5)}   ${String(row.blockSize).padStart(4)}   ${String(row.pools).padStart(9)}   ` +
      `${String(row.blocksInUse).padStart(13)}  ${String(row.blocksFree).padStart(12)}`
    );
  });
  const { arenas } = stats;
  const arenaBytes = arenas.current * layout.arenaSize;
  const unusedPoolBytes = stats.pools.free * layout.poolSize;
  const headerBytes = pools * layout.poolHeaderSize;
  const total = inUseBytes + availableBytes + unusedPoolBytes + headerBytes + quantization;
  const out: string[] = [
    `Small block threshold = ${layout.smallLimit}, in ${classCount} size classes.`,
    '',
    'class   size   num pools   blocks in use  avail blocks',
    '-----   ----   ---------   -------------  ------------',
    ...rows,
    '',
    line('# arenas allocated total', arenas.allocatedTotal),
    line('# arenas reclaimed', arenas.freedTotal),
    line('# arenas highwater mark', arenas.peak),
    line('# arenas allocated current', arenas.current),
    line(`${arenas.current} arenas * ${layout.arenaSize} bytes/arena`, arenaBytes),
    '',
    line('# bytes in allocated blocks', inUseBytes),
    line('# bytes in available blocks', availableBytes),
    line(`${stats.pools.free} unused pools * ${layout.poolSize} bytes`, unusedPoolBytes),
    line('# bytes lost to pool headers', headerBytes),
    line('# bytes lost to quantization', quantization),
    line('# bytes lost to arena alignment', 0),
    line('Total', total),
    '',
    line('# large blocks', stats.largeBlocks.count),
    line('# bytes mapped for large blocks', stats.largeBlocks.bytes),
    line('# bytes mapped in all', stats.mappedBytes),
  ];
  if (total !== arenaBytes || pools !== stats.pools.used || arenaBytes + stats.largeBlocks.bytes !== stats.mappedBytes) {
    throw new Error(
      `refheap internal error: the allocator's statistics do not add up ` +
        `(${total} bytes accounted for in ${arenaBytes} bytes of arenas; ${pools} of ${stats.pools.used} pools)`,
    );
  }
  return out.join('\n') + '\n';
}
