/** `refheap show`: everything one heap's page says. */
import { formatMallocStats } from '../native';
import type { StatsPage } from '../stats-page';
import { bytes, count, duration, printable, table } from './format';
import { findPage, type Target } from './target';

function describe(page: StatsPage): string {
  const s = page.stats;
  const gc = s.gc;
  const now = Date.now();
  const generations = [['generation', 'collections', 'collected', 'uncollectable']];
  gc.generations.forEach((g, i) => generations.push([String(i), count(g.collections), count(g.collected), count(g.uncollectable)]));
  const lines = [
    `heap "${printable(page.name)}": pid ${page.pid}, heap ${page.heapId}, thread ${page.threadId}, ` +
      `up ${duration(now - page.createdMs)}, snapshot ${Math.max(0, Math.round(now - page.publishedMs))} ms old`,
    '',
    `mapped        ${bytes(s.mappedBytes)} (peak ${bytes(s.peakMappedBytes)})`,
    `allocated     ${bytes(s.allocatedBytes)} in ${count(s.liveBlocks)} blocks (${count(s.trackedBlocks)} tracked); requested ${bytes(s.requestedBytes)}`,
    `totals        ${count(s.allocations)} allocations, ${count(s.frees)} frees`,
    `arenas        ${count(s.arenas.current)} now, peak ${count(s.arenas.peak)}, ${count(s.arenas.allocatedTotal)} allocated and ${count(s.arenas.freedTotal)} freed in all`,
    `pools         ${count(s.pools.used)} used, ${count(s.pools.free)} free`,
    `large blocks  ${count(s.largeBlocks.count)}, ${bytes(s.largeBlocks.bytes)}`,
    '',
    `collector     ${gc.enabled && gc.thresholds[0] > 0 ? 'automatic' : 'manual only'}; counts ${gc.counts.join(' ')}, thresholds ${gc.thresholds.join(' ')}`,
    `              frozen ${count(gc.frozen)}, garbage ${count(gc.garbage)}; pauses last ${gc.pauses.lastMs.toFixed(3)} ms, ` +
      `max ${gc.pauses.maxMs.toFixed(3)} ms, total ${gc.pauses.totalMs.toFixed(1)} ms`,
    table(generations, 'rrrr'),
    '',
  ];
  try {
    lines.push(formatMallocStats(page.values));
  } catch (error) {
    // A page written by another build of refheap may not add up with this build's layout.
    lines.push(`(no size-class report: ${(error as Error).message})`);
  }
  return lines.join('\n');
}

export function show(target: Target, flags: { json?: boolean }): number {
  const page = findPage(target);
  console.log(flags.json ? JSON.stringify(page.stats, null, 2) : describe(page));
  return 0;
}
