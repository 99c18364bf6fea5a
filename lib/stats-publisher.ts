/**
 * Starts each heap's live statistics page and keeps it current while the
 * event loop is idle. (While JavaScript is busy calling into a heap, the
 * core refreshes the page itself, about every 10 ms.) One timer per thread
 * serves every heap of that thread; it never keeps the process alive.
 */
import { prepareStatsDirectory, statsDirectory } from './stats-dir';
import type { NativeHeap } from './native';
import { emitWarning } from './errors';

const REFRESH_MS = 250;
const heaps = new Set<WeakRef<NativeHeap>>();
const warned = new Set<string>();
let timer: NodeJS.Timeout | undefined;

function refresh(): void {
  for (const ref of heaps) {
    const native = ref.deref();
    if (native === undefined || native.isClosed()) heaps.delete(ref);
    else native.publishNow();  // runs no JavaScript and never throws (see heap_functions.cc)
  }
  if (heaps.size === 0 && timer !== undefined) {
    clearInterval(timer);
    timer = undefined;
  }
}

/**
 * Publishes `native`'s statistics under `name`. A heap works without its
 * page, so a failure is a warning (once per directory), not an error.
 */
export function publishHeap(native: NativeHeap, name: string): void {
  const dir = statsDirectory();
  const problem = prepareStatsDirectory(dir);
  try {
    if (problem !== undefined) throw new Error(`cannot use ${dir}: ${problem}`);
    native.publishTo(dir, name);
  } catch (error) {
    // Once per directory, not per heap: a program making many heaps gets one
    // warning, naming the first heap and its reason.
    if (!warned.has(dir)) {
      warned.add(dir);
      emitWarning(`refheap: heap "${name}" has no live statistics page: ${(error as Error).message}`, 'REFHEAP_STATS_PAGE');
    }
    return;
  }
  heaps.add(new WeakRef(native));
  timer ??= setInterval(refresh, REFRESH_MS).unref();
}
