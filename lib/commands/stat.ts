/**
 * `refheap stat`: one heap sampled every interval, a row per sample, in the
 * manner of `jstat -gcutil`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError } from 'commander';
import type { HeapStats } from '../stats';
import type { StatsPage } from '../stats-page';
import { bytes, count, percent, printable } from './format';
import { statsDirectory } from '../stats-dir';
import { processAlive, scanPages } from '../stats-scan';
import { CommandError } from './command-error';
import { findPage, type Target } from './target';

// Each column and its width (values wider than that push the row out).
const COLUMNS: [string, number][] = [
  ['UTIL%', 6], ['POOL%', 6], ['MAPPED', 10], ['BLOCKS', 12], ['TRACKED', 12], ['ALLOC/s', 11],
  ['GC0', 6], ['GC1', 5], ['GC2', 5], ['COLLECTED', 12], ['GARBAGE', 8], ['LAST_MS', 8], ['GCT_S', 8],
];
const HEADER = COLUMNS.map(([name]) => name);

function line(cells: string[]): string {
  return cells.map((cell, i) => cell.padStart(COLUMNS[i]![1])).join(' ');
}

/** The longest interval a Node.js timer can wait. */
const MAX_INTERVAL_MS = 2 ** 31 - 1;
/** How long a process may show no heap (or several) before stat stops following it. */
const PATIENCE_MS = 2000;

/** "500", "500ms", "2s", "0.5s": milliseconds. */
export function parseInterval(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value);
  const ms = match ? Number(match[1]) * (match[2] === 's' ? 1000 : 1) : NaN;
  if (!(ms >= 1 && ms <= MAX_INTERVAL_MS)) {
    throw new InvalidArgumentError('interval must be a duration from 1 ms to 24 days, such as 500, 250ms or 2s.');
  }
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
 * new one. undefined: nothing to sample this time (between two heaps);
 * a string: why sampling ends.
 */
function nextPage(target: Target, current: StatsPage): StatsPage | undefined | string {
  const fixed = { pid: current.pid, heapId: current.heapId };
  try {
    return findPage(fixed);
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
  }
  if (target.heapId !== undefined) return `heap ${fixed.pid}.${fixed.heapId} is gone`;
  if (!processAlive(current.pid, current.processStart)) return `process ${current.pid} has exited`;
  const { pages } = scanPages(statsDirectory(), { pid: current.pid });
  return pages.length === 1 ? pages[0] : undefined;
}

export async function stat(target: Target, intervalMs: number, samples: number, headerEvery: number): Promise<number> {
  let page: StatsPage = findPage(target);
  let previous: StatsPage | undefined;
  let rows = 0;
  let lastSeen = Date.now();
  const start = Date.now();
  for (let n = 0; rows < samples; n++) {
    if (n > 0) {
      await sleep(Math.max(0, start + n * intervalMs - Date.now()));
      const next = nextPage(target, page);
      if (typeof next === 'string') {
        process.stderr.write(`refheap: ${next}\n`);
        return 0;
      }
      if (next === undefined) {
        // Between two heaps, or with several: wait a little, not forever.
        if (Date.now() - lastSeen < Math.max(PATIENCE_MS, 3 * intervalMs)) continue;
        const { pages } = scanPages(statsDirectory(), { pid: page.pid });
        const why = pages.length === 0 ? 'no heap any more' : `${pages.length} heaps; name one, as in ${page.pid}.${pages[0]!.heapId}`;
        throw new CommandError(`process ${page.pid} has ${why}`);
      }
      if (next.heapId !== page.heapId) {
        console.log(`# now heap ${next.pid}.${next.heapId} "${printable(next.name)}"`);
        previous = undefined;
      }
      page = next;
      lastSeen = Date.now();
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
