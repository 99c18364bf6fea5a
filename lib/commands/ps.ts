/** `refheap ps`: the heaps that publish live statistics, one line each. */
import { statsDirectory } from '../stats-dir';
import { scanPages } from '../stats-scan';
import { bytes, count, duration, printable, table } from './format';

export function ps(flags: { json?: boolean }): number {
  const scan = scanPages(statsDirectory());
  for (const problem of scan.problems) process.stderr.write(`refheap: ${problem}\n`);
  const heaps = scan.pages.map((page) => ({
    pid: page.pid,
    heapId: page.heapId,
    name: page.name,
    mappedBytes: page.stats.mappedBytes,
    liveBlocks: page.stats.liveBlocks,
    collections: page.stats.gc.generations.reduce((sum, generation) => sum + generation.collections, 0),
  }));
  if (flags.json) {
    console.log(JSON.stringify(heaps, null, 2));
    return 0;
  }
  const now = Date.now();
  const rows = [['PID', 'HEAP', 'NAME', 'MAPPED', 'BLOCKS', 'GCS', 'UPTIME']];
  scan.pages.forEach((page, i) => {
    const heap = heaps[i]!;
    rows.push([
      String(heap.pid),
      String(heap.heapId),
      printable(heap.name),
      bytes(heap.mappedBytes),
      count(heap.liveBlocks),
      count(heap.collections),
      duration(now - page.createdMs),
    ]);
  });
  console.log(table(rows, 'rrlrrrr'));
  return 0;
}
