/**
 * `refheap stat`: one heap sampled every interval, a row per sample, in the
 * manner of `jstat -gcutil`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from 'commander';
import type { HeapStats } from '../stats';
import type { StatsPage } from '../stats-page';
import { bytes, count, percent } from './format';
import { statsDirectory } from '../stats-dir';
import { processAlive, scanPages } from '../stats-scan';
import { CommandError, findPage, type Target } from './target';

// Each column and its width (values wider than that push the row out).
const COLUMNS: [string, number][] = [
  ['UTIL%', 6], ['POOL%', 6], ['MAPPED', 10], ['BLOCKS', 12], ['TRACKED', 12], ['ALLOC/s', 11],
  ['GC0', 6], ['GC1', 5], ['GC2', 5], ['COLLECTED', 12], ['GARBAGE', 8], ['LAST_MS', 8], ['GCT_S', 8],
];
const HEADER = COLUMNS.map(([name]) => name);

function line(cells: string[]): string {
  return cells.map((cell, i) => cell.padStart(COLUMNS[i]![1])).join(' ');
}

/** "500", "500ms", "2s", "0.5s": milliseconds. */
export function parseInterval(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value);
  const ms = match ? Number(match[1]) * (match[2] === 's' ? 1000 : 1) : NaN;
  if (!(ms >= 1)) throw new InvalidArgumentError('interval must be a duration of at least 1 ms, such as 500, 250ms or 2s.');
  return ms;
}

function row(stats: HeapStats, allocationsPerSecond: number | undefined): string[] {
  const gc = stats.gc;
  const poolsTotal = stats.pools.used + stats.pools.free;
  return [
    percent(stats.allocatedBytes, stats.mappedBytes),
    percent(stats.pools.used, poolsTotal),
    bytes(stats.mappedBytes),
    count(stats.liveBlocks),
    count(stats.trackedBlocks),
    allocationsPerSecond === undefined ? '-' : count(Math.round(allocationsPerSecond)),
    ...gc.generations.map((g) => count(g.collections)),
    count(gc.generations.reduce((sum, g) => sum + g.collected, 0)),
    count(gc.garbage),
    gc.pauses.lastMs.toFixed(2),
    (gc.pauses.totalMs / 1000).toFixed(3),
  ];
}

/**
 * The page to sample next: the same heap while it lives. Given a pid alone,
 * stat follows the process rather than one heap: when its heap is replaced
 * by another (as `refheap stress` does for each shape), it goes on with the
 * new one. undefined: nothing to sample this time; null: the end.
 */
function nextPage(target: Target, current: StatsPage): StatsPage | undefined | null {
  const fixed = { pid: current.pid, heapId: current.heapId };
  try {
    return findPage(fixed);
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
  }
  if (target.heapId === undefined && processAlive(current.pid, current.processStart)) {
    const scan = scanPages(statsDirectory(), { pid: current.pid });
    return scan.pages.length === 1 ? scan.pages[0] : undefined;  // between heaps, or several: wait
  }
  const what = target.heapId === undefined ? `process ${current.pid} has exited` : `heap ${fixed.pid}.${fixed.heapId} is gone`;
  process.stderr.write(`refheap: ${what}\n`);
  return null;
}

export async function stat(target: Target, intervalMs: number, samples: number, headerEvery: number): Promise<number> {
  let page: StatsPage = findPage(target);
  let previous: StatsPage | undefined;
  let rows = 0;
  const start = Date.now();
  for (let n = 0; rows < samples; n++) {
    if (n > 0) {
      await sleep(Math.max(0, start + n * intervalMs - Date.now()));
      const next = nextPage(target, page);
      if (next === null) return 0;
      if (next === undefined) continue;
      if (next.heapId !== page.heapId) {
        console.log(`# now heap ${next.pid}.${next.heapId} "${next.name}"`);
        previous = undefined;
      }
      page = next;
    }
    if (rows % headerEvery === 0 || previous === undefined) console.log(line(HEADER));
    // The rate between the two snapshots' own times; the first row has none.
    const seconds = previous ? (page.publishedMs - previous.publishedMs) / 1000 : 0;
    const allocations = previous ? page.stats.allocations - previous.stats.allocations : 0;
    console.log(line(row(page.stats, previous ? (seconds > 0 ? allocations / seconds : 0) : undefined)));
    previous = page;
    rows++;
  }
  return 0;
}
