/**
 * What lib builds and hands back — statistics, the malloc report, gc stats,
 * argument errors — is made of own data properties: setters a program put
 * on Array.prototype or Object.prototype (at indices, or under the names
 * lib uses) neither run nor take a value, and the plan lib caches at the
 * first stats() of the process is not poisoned by them (fuzzer findings
 * protoStats and protoCode, scripts/fuzz-js.js).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { expectBuilt, expectExit, lastJson, requireBuilt, runNode } from './child';

/**
 * Accessors on both prototypes, at the indices 0..8 and under `names`: the
 * getter returns junk, the setter swallows the value and counts.
 */
const INSTALL = (names: string[]) => `
  let setterCalls = 0;
  let getterCalls = 0;
  const installed = [];
  for (const proto of [Array.prototype, Object.prototype]) {
    for (const key of [0, 1, 2, 3, 4, 5, 6, 7, 8, ...${JSON.stringify(names)}]) {
      if (proto === Array.prototype && typeof key === 'string') continue;
      Object.defineProperty(proto, key, {
        __proto__: null,
        configurable: true,
        get() { getterCalls++; return 'junk'; },
        set(value) { setterCalls++; },
      });
      Object.defineProperty(installed, installed.length, { __proto__: null, value: [proto, key], writable: true, enumerable: true, configurable: true });
    }
  }
  const uninstall = () => { for (const [proto, key] of installed) delete proto[key]; };
`;

/** Every array in `value` has exactly its own elements 0..length-1; every key path, for comparison. */
const SHAPE = `
  const shape = (value, path = '', out = []) => {
    if (Array.isArray(value)) {
      const own = Object.getOwnPropertyNames(value).filter((k) => k !== 'length');
      if (own.length !== value.length || own.some((k, i) => k !== String(i))) out.push(path + ': not own elements ' + own.join(','));
    }
    if (typeof value === 'object' && value !== null) for (const key of Object.keys(value)) shape(value[key], path + '.' + key, out);
    else out.push(path + '=' + typeof value);
    return out;
  };
`;

describe('statistics under prototype accessors', () => {
  beforeAll(expectBuilt);

  it('the first stats() of the process, debugMallocStats() and gc.getStats() run no setter and are right, for every heap after', () => {
    const names = ['liveBlocks', 'counts', 'generations', 'sizeClasses', 'collections', 'gc', 'arenas', 'blocksInUse', 'pauses', 'kind', 'make', 'get', 'set', 'value', 'writable', 'enumerable', 'configurable'];
    const result = runNode(`
      ${requireBuilt()}
      ${SHAPE}
      const heap = new refheap.Heap({ publish: false, autoCollect: false });
      const refs = [heap.alloc(8), heap.alloc(8), heap.alloc(100, 1)];
      heap.gc.collect(0);
      ${INSTALL(names)}
      let under, report, gcStats, error;
      try {
        under = heap.stats();        // the first stats() of this process: the plan is made now
        report = heap.debugMallocStats();
        gcStats = heap.gc.getStats();
      } catch (e) {
        error = String(e) + ' code ' + e.code;
      }
      uninstall();
      if (error) { console.log(JSON.stringify({ error, setterCalls })); process.exit(0); }
      const after = heap.stats();
      const other = new refheap.Heap({ publish: false });
      other.alloc(8);
      const otherStats = other.stats();
      console.log(JSON.stringify({
        setterCalls,
        shapeUnder: shape(under),
        shapeAfter: shape(after),
        same: JSON.stringify(under) === JSON.stringify({ ...after, peakMappedBytes: under.peakMappedBytes }),
        liveBlocks: [under.liveBlocks, after.liveBlocks, otherStats.liveBlocks],
        sizeClasses: under.sizeClasses.map((row) => [row.blockSize, row.blocksInUse]),
        generations: under.gc.generations.length,
        collections0: under.gc.generations[0].collections,
        counts: under.gc.counts,
        keys: Object.keys(after),
        otherKeys: Object.keys(otherStats),
        reportSame: report === heap.debugMallocStats(),
        reportLines: report.split('\\n').length,
        gcStats,
      }));
    `);
    expectExit(result, 0);
    const report = lastJson(result);
    // Before the fix: a TypeError without a code (the plan's steps went to the setters), or junk values.
    expect(report.error).toBeUndefined();
    expect(report.setterCalls).toBe(0);
    expect(report.shapeUnder).toEqual(report.shapeAfter);
    expect(report.shapeUnder.filter((line: string) => line.includes('not own'))).toEqual([]);
    expect(report.same).toBe(true);
    expect(report.liveBlocks).toEqual([3, 3, 1]);
    expect(report.sizeClasses.length).toBeGreaterThanOrEqual(2);
    expect(report.generations).toBe(3);
    expect(report.collections0).toBe(1);
    expect(report.counts).toEqual([0, 1, 0]);
    expect([...report.keys].sort()).toEqual(['name', 'pid', 'heapId', 'mappedBytes', 'peakMappedBytes', 'allocatedBytes', 'requestedBytes', 'liveBlocks', 'trackedBlocks', 'allocations', 'frees', 'arenas', 'pools', 'sizeClasses', 'largeBlocks', 'gc'].sort());
    expect(report.otherKeys).toEqual(report.keys);
    expect(report.reportSame).toBe(true);
    expect(report.reportLines).toBeGreaterThan(20);
    expect(report.gcStats).toEqual([
      { collections: 1, collected: 0, uncollectable: 0 },
      { collections: 0, collected: 0, uncollectable: 0 },
      { collections: 0, collected: 0, uncollectable: 0 },
    ]);
  });
});

describe('argument errors under an Object.prototype "code" accessor', () => {
  it('every error has its own code, as Node\'s own errors do (writable, enumerable, configurable)', () => {
    const heap = new Heap({ publish: false });
    const ref = heap.alloc(8);
    let ran = 0;
    const store = new WeakMap<object, unknown>();
    for (const key of ['code', 'index']) {
      Object.defineProperty(Object.prototype, key, {
        configurable: true,
        get() { ran++; return store.get(this as object); },
        set(value) { ran++; store.set(this as object, value); },
      });
    }
    const attempts: [string, () => unknown, string][] = [
      ['new Heap({ name: 5 })', () => new Heap({ name: 5 as unknown as string, publish: false }), 'ERR_INVALID_ARG_TYPE'],
      ['new Heap({ thresholds: [-1] })', () => new Heap({ thresholds: [-1], publish: false }), 'ERR_OUT_OF_RANGE'],
      ['new Heap({ autoCollect: 1 })', () => new Heap({ autoCollect: 1 as unknown as boolean, publish: false }), 'ERR_INVALID_ARG_TYPE'],
      ['defineType("x", 5)', () => heap.defineType('x', 5 as never), 'ERR_INVALID_ARG_TYPE'],
      ['alloc("8")', () => heap.alloc('8' as unknown as number), 'ERR_INVALID_ARG_TYPE'],
      ['alloc(-1)', () => heap.alloc(-1), 'ERR_OUT_OF_RANGE'],
      ['release(0.5)', () => heap.release(0.5), 'ERR_INVALID_REF'],
      ['releaseMany([ref, 0.5])', () => heap.releaseMany([heap.retain(ref), 0.5]), 'ERR_INVALID_REF'],
    ];
    const found: [string, PropertyDescriptor | undefined, PropertyDescriptor | undefined][] = [];
    try {
      for (const [label, thunk] of attempts) {
        try {
          thunk();
          found.push([label, undefined, undefined]);
        } catch (error) {
          found.push([label, Object.getOwnPropertyDescriptor(error, 'code'), Object.getOwnPropertyDescriptor(error, 'index')]);
        }
      }
    } finally {
      delete (Object.prototype as Record<string, unknown>)['code'];
      delete (Object.prototype as Record<string, unknown>)['index'];
    }
    for (const [i, [label, code]] of found.entries()) {
      // Before the fix: no own code on lib's TypeError / RangeError (the setter took it).
      expect(code, label).toEqual({ value: attempts[i]![2], writable: true, enumerable: true, configurable: true });
    }
    expect(found[7]![2]?.value).toBe(1); // releaseMany's index, own too
    expect(ran).toBe(0);
    expect(heap.refcount(ref)).toBe(1);
    heap.close();
    expect(RefheapError).toBeDefined();
  });

  it('a callback error\'s warning keeps its own code (fuzzer finding, seed 100909)', async () => {
    const heap = new Heap({ publish: false });
    const type = heap.defineType('thrower', { finalize: () => { throw new Error('on purpose'); } });
    const warnings: Error[] = [];
    const listener = (warning: Error) => warnings.push(warning);
    process.on('warning', listener);
    const store = new WeakMap<object, unknown>();
    Object.defineProperty(Object.prototype, 'code', {
      configurable: true,
      get() { return store.get(this as object); },
      set(value) { store.set(this as object, value); },
    });
    try {
      heap.release(heap.alloc(8, 0, type));  // the finalizer throws: a warning, emitted now
    } finally {
      delete (Object.prototype as Record<string, unknown>)['code'];
    }
    await new Promise((resolve) => setImmediate(resolve));  // warnings go out on the next tick
    process.off('warning', listener);
    const ours = warnings.filter((w) => w.message.includes('on purpose'));
    expect(ours).toHaveLength(1);
    // Before: process.emitWarning assigned { code } and the setter took it.
    expect(Object.getOwnPropertyDescriptor(ours[0], 'code')?.value).toBe('REFHEAP_CALLBACK_ERROR');
    expect(ours[0]!.name).toBe('Warning');
    heap.close();
  });
});
