/**
 * A heap's life (SPEC section 4): close() gives everything back and ends
 * the heap, `using` closes it, V8 closes the heaps it collects, and a process
 * may end at any stage of that life without crashing (classic-level's
 * exit-stage tests).
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { expectBuilt, expectExit, lastJson, requireBuilt, ROOT, runNode } from './child';
import { expectError, rssBytes } from './helpers';
import { statsDirectory } from '../lib/stats-dir';
import { scanPages } from '../lib/stats-scan';

const MiB = 1024 * 1024;

/** Source for a child: the built package, and an RSS reader. */
const prelude = `${requireBuilt()} const { Heap } = refheap;
const pageSize = require(${JSON.stringify(path.join(ROOT, 'dist', 'native.js'))}).layout.osPageSize;
const rss = () => Number(require('node:fs').readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * pageSize;
const collect = async (rounds = 4) => { for (let i = 0; i < rounds; i++) { gc(); await new Promise((r) => setImmediate(r)); } };
`;

/** Fills a heap with about `mib` MiB of touched memory: half pools, half large blocks. */
function fill(heap: Heap, mib: number): number[] {
  const refs = Array.from(heap.allocMany(Math.round((mib / 2) * 2048), 500)); // zeroed, so touched
  const chunk = new Uint8Array(MiB).fill(0xa5);
  for (let i = 0; i < mib / 2; i++) {
    const ref = heap.alloc(MiB);
    heap.write(ref, 0, chunk); // the OS hands large blocks out untouched
    refs.push(ref);
  }
  return refs;
}

describe('close', () => {
  it('returns all memory to the OS, blocks, cycles and views included', () => {
    const before = rssBytes();
    const heap = new Heap();
    const refs = fill(heap, 128);
    const a = heap.alloc(16, 1);
    const b = heap.alloc(16, 1);
    heap.setRef(a, 0, b);
    heap.setRef(b, 0, a);
    const view = heap.view(refs[refs.length - 1]);
    expect(view[0]).toBe(0xa5);
    expect(heap.stats().mappedBytes).toBeGreaterThan(120 * MiB);
    const peak = rssBytes();
    heap.close();
    const after = rssBytes();
    expect(heap.closed).toBe(true);
    expect(view.byteLength).toBe(0);
    expect(peak - before).toBeGreaterThan(110 * MiB);
    expect(after - before, `RSS before ${before}, peak ${peak}, after ${after}`).toBeLessThan(16 * MiB);
    // A second heap starts from nothing and does not see the first one's blocks.
    const second = new Heap();
    expect(second.stats()).toMatchObject({ mappedBytes: 0, liveBlocks: 0 });
    expectError(() => second.refcount(refs[0]), RefheapError, 'ERR_INVALID_REF');
    second.close();
  });

  it('makes every later call throw ERR_HEAP_CLOSED, whatever its arguments; close() again does nothing', () => {
    const heap = new Heap({ name: 'closing' });
    const ref = heap.alloc(16, 1);
    const type = heap.defineType('thing');
    const id = heap.id;
    heap.close();
    expect(heap.closed).toBe(true);
    const calls: Record<string, (...args: any[]) => unknown> = {
      alloc: heap.alloc, allocMany: heap.allocMany, retain: heap.retain, release: heap.release,
      releaseMany: heap.releaseMany, refcount: heap.refcount, setRef: heap.setRef, getRef: heap.getRef,
      slotCount: heap.slotCount, sizeOf: heap.sizeOf, typeOf: heap.typeOf,
      getUint8: heap.getUint8, setUint8: heap.setUint8, getInt32: heap.getInt32, setInt32: heap.setInt32,
      getUint32: heap.getUint32, setUint32: heap.setUint32, getFloat64: heap.getFloat64, setFloat64: heap.setFloat64,
      getBigInt64: heap.getBigInt64, setBigInt64: heap.setBigInt64, write: heap.write, read: heap.read,
      view: heap.view, defineType: (...a: any[]) => (heap.defineType as any)(...a), typeName: heap.typeName, trim: heap.trim,
      ...Object.fromEntries(
        ['collect', 'enable', 'disable', 'isEnabled', 'getCount', 'getThreshold', 'setThreshold', 'getDebug', 'setDebug',
          'clearGarbage', 'getObjects', 'getReferrers', 'getReferents', 'isTracked', 'isFinalized', 'freeze', 'unfreeze',
          'getFreezeCount', 'getStats'].map((m) => [`gc.${m}`, (...a: any[]) => (heap.gc as any)[m](...a)]),
      ),
      'gc.garbage': () => heap.gc.garbage,
      stats: () => heap.stats(), debugMallocStats: () => heap.debugMallocStats(),
      _verify: () => heap._verify(), _failNthMapping: (n: number) => heap._failNthMapping(n),
    };
    const argumentLists: unknown[][] = [
      [],
      [ref, 0, 1],
      [ref, 0, new Uint8Array(1)],
      [ref, 0, 1n],
      [1, 0, 0, type],
      [[ref]],
      ['x', null, {}],
      [NaN, -1, 2 ** 60],
      [undefined, Symbol('s')],
    ];
    for (const [name, call] of Object.entries(calls)) {
      for (const args of argumentLists) {
        const error = expectError(() => call(...args), RefheapError, 'ERR_HEAP_CLOSED');
        expect(error.message, name).toMatch(/closed/);
      }
    }
    heap.close();
    heap[Symbol.dispose]();
    expect(heap.closed).toBe(true);
    expect(heap.id).toBe(id);
    expect(heap.name).toBe('closing');
  });

  it('runs at the end of a `using` block, and when an exception leaves it', () => {
    let kept: Heap | undefined;
    let view: Uint8Array | undefined;
    {
      using heap = new Heap();
      kept = heap;
      view = heap.view(heap.alloc(32));
      expect(heap.closed).toBe(false);
    }
    expect(kept.closed).toBe(true);
    expect(view.byteLength).toBe(0);
    expectError(() => kept!.alloc(1), RefheapError, 'ERR_HEAP_CLOSED');

    expect(() => {
      using heap = new Heap();
      kept = heap;
      heap.alloc(8);
      throw new Error('leaving');
    }).toThrow('leaving');
    expect(kept.closed).toBe(true);
  });

  it('Symbol.dispose is close', () => {
    const heap = new Heap();
    heap.alloc(100);
    heap[Symbol.dispose]();
    expect(heap.closed).toBe(true);
    expectError(() => heap.stats(), RefheapError, 'ERR_HEAP_CLOSED');
  });
});

describe('a heap that becomes unreachable', () => {
  beforeAll(expectBuilt);

  it('is closed when V8 collects it: its memory goes back', () => {
    const result = runNode(
      `${prelude}
      (async () => {
        const base = rss();
        const chunk = new Uint8Array(2 << 20).fill(1);
        let heaps = [];
        for (let i = 0; i < 100; i++) {       // 100 heaps of 4 MiB, touched
          const heap = new Heap();
          heap.allocMany(4000, 500);
          heap.write(heap.alloc(chunk.length), 0, chunk);
          heaps.push(heap);
        }
        const peak = rss();
        heaps = null;
        await collect(6);
        console.log(JSON.stringify({ base, peak, after: rss() }));
      })();`,
      { flags: ['--expose-gc'] },
    );
    expectExit(result, 0);
    const { base, peak, after } = lastJson(result);
    expect(peak - base).toBeGreaterThan(350 * MiB);
    expect(after - base, `RSS base ${base}, peak ${peak}, after ${after}`).toBeLessThan(48 * MiB);
  });

  it('stays open while one of its functions is still held', () => {
    // The methods hold the heap: `const { alloc } = heap` must keep working
    // after the Heap object itself is gone (it once read freed memory).
    const result = runNode(
      `${prelude}
      (async () => {
        let heap = new Heap();
        let { alloc, refcount, release, view, read } = heap;
        const kept = alloc(64);
        heap = null;
        await collect();
        const out = { refcount: refcount(kept) };
        const fresh = alloc(1 << 20);
        view(fresh).fill(3);
        out.byte = read(fresh, 12345, 1)[0];
        release(fresh);
        // Dropping the functions too lets the heap go.
        alloc = refcount = release = view = read = null;
        await collect();
        console.log(JSON.stringify(out));
      })();`,
      { flags: ['--expose-gc'] },
    );
    expectExit(result, 0);
    expect(lastJson(result)).toEqual({ refcount: 1, byte: 3 });
  });

  it('still runs finalizers and gc callbacks while only its methods are held', () => {
    // The addon holds the dispatcher weakly; once the Heap object (and its
    // gc) were collected, finalizers were silently skipped.
    const result = runNode(
      `${prelude}
      (async () => {
        let heap = new Heap({ publish: false, thresholds: [3] });
        const out = { finalized: 0, callbacks: 0 };
        const type = heap.defineType('t', { finalize: () => out.finalized++ });
        heap.gc.callbacks.push((phase) => { if (phase === 'stop') out.callbacks++; });
        const { alloc, release, setRef } = heap;
        const kept = [alloc(16, 0, type), alloc(16, 1, type)];
        heap = null;
        await collect();
        release(kept[0]);
        setRef(kept[1], 0, kept[1]);
        release(kept[1]);
        for (let i = 0; i < 4; i++) alloc(16, 1);  // an automatic collection frees the cycle
        console.log(JSON.stringify(out));
      })();`,
      { flags: ['--expose-gc'] },
    );
    expectExit(result, 0);
    expect(lastJson(result).finalized).toBe(2);
    expect(lastJson(result).callbacks).toBeGreaterThan(0);
  });

  it('is collected with its functions, many times over, without a crash', () => {
    const result = runNode(
      `${prelude}
      (async () => {
        for (let round = 0; round < 20; round++) {
          for (let i = 0; i < 50; i++) {
            const heap = new Heap();
            const a = heap.alloc(100, 1);
            heap.setRef(a, 0, a);
            if (i % 2) heap.view(a);
            if (i % 5 === 0) heap.close();
          }
          await collect(1);
        }
        console.log('done');
      })();`,
      { flags: ['--expose-gc'] },
    );
    expectExit(result, 0);
    expect(result.stdout.trim()).toBe('done');
  });
});

describe('many heaps (issue 9.9)', () => {
  beforeAll(expectBuilt);

  it('cost a few KB of V8 heap each: 100,000 live heaps fit in 512 MB of it', () => {
    // Each heap once made ~55 native functions of its own (about 38 KB of
    // V8 heap): 100,000 of them ended the process under this limit.
    const result = runNode(
      `${prelude}
      const heaps = [];
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 100000; i++) heaps.push(new Heap({ publish: false }));
      let used = 0;
      for (let i = 0; i < heaps.length; i += 100) { const r = heaps[i].alloc(8); heaps[i].setUint32(r, 4, i); used += heaps[i].getUint32(r, 4) === i; heaps[i].release(r); }
      gc();
      const perHeap = (process.memoryUsage().heapUsed - before) / heaps.length;
      console.log(JSON.stringify({ heaps: heaps.length, used, perHeap }));`,
      { flags: ['--expose-gc', '--max-old-space-size=512'] },
    );
    expectExit(result, 0);
    const { heaps, used, perHeap } = lastJson(result);
    expect(heaps).toBe(100000);
    expect(used).toBe(1000);
    expect(perHeap).toBeLessThan(4096);
  });

  it('share one set of native functions, which refuse anything but a live heap of their thread', () => {
    // The addon loaded by hand: its functions take the heap as argument 0.
    const result = runNode(
      `${prelude}
      const addon = require(${JSON.stringify(path.join(ROOT, 'build/Release/refheap.node'))});
      const f = addon.heapFunctions;
      const heap = addon.createHeap();
      const ref = f.alloc(heap, 16);
      const codes = [];
      for (const forged of [undefined, null, 1, 2 ** 32, {}, [heap], () => heap, Object.create(heap)]) {
        for (const name of ['alloc', 'release', 'refcount', 'getUint32', 'setRef', 'close', 'isClosed', 'publishNow', 'gcCollect']) {
          try { f[name](forged, ref, 0, ref); codes.push('none'); } catch (e) { codes.push(e.code); }
        }
      }
      // A copy of the addon loaded by hand has tables of its own: the heaps
      // of one are not the other's.
      const copy = require('node:path').join(require('node:os').tmpdir(), 'refheap-copy-' + process.pid + '.node');
      require('node:fs').copyFileSync(${JSON.stringify(path.join(ROOT, 'build/Release/refheap.node'))}, copy);
      const other = require(copy).heapFunctions;
      require('node:fs').unlinkSync(copy);
      const theirs = require(copy).createHeap();
      for (let i = 0; i < 3; i++) other.alloc(theirs, 16);
      for (const name of ['refcount', 'close', 'isClosed']) {
        try { f[name](theirs, ref); codes.push('none'); } catch (e) { codes.push(e.code); }
        try { other[name](heap, ref); codes.push('none'); } catch (e) { codes.push(e.code); }
      }
      const alive = f.refcount(heap, ref);
      f.close(heap);
      let closed;
      try { f.refcount(heap, ref); } catch (e) { closed = e.code; }
      console.log(JSON.stringify({ codes: [...new Set(codes)], alive, closed, isClosed: f.isClosed(heap) }));`,
    );
    expectExit(result, 0);
    expect(lastJson(result)).toEqual({ codes: ['ERR_INVALID_ARG_TYPE'], alive: 1, closed: 'ERR_HEAP_CLOSED', isClosed: true });
  });
});

describe('a process that ends at any stage of its heaps\' lives', () => {
  beforeAll(expectBuilt);

  const blocks = `
    const heap = new Heap();
    const chain = heap.alloc(8, 1);
    let last = chain;
    for (let i = 0; i < 10000; i++) { const next = heap.alloc(24, 1); heap.setRef(last, 0, next); heap.release(next); last = next; }
    const a = heap.alloc(32, 1), b = heap.alloc(32, 1);
    heap.setRef(a, 0, b); heap.setRef(b, 0, a);
    heap.allocMany(5000, 100);
    heap.view(heap.alloc(${4 * MiB})).fill(7);
  `;
  const views = `
    const heap = new Heap();
    const views = [];
    for (const size of [0, 1, 100, 600, ${2 * MiB}]) { const ref = heap.alloc(size); views.push(heap.view(ref)); heap.release(ref); }
    views[4].fill(1);
  `;
  const stages: { name: string; source: string; status: number; flags?: string[]; stderr?: RegExp; stdout?: string }[] = [
    { name: 'right after creating a heap', source: `new Heap(); process.exit(0);`, status: 0 },
    { name: 'with live blocks, chains and cycles', source: `${blocks} process.exit(7);`, status: 7 },
    { name: 'with live views whose blocks only they hold', source: `${views} process.exit(0);`, status: 0 },
    {
      name: 'from inside a closure that holds views',
      source: `${views} setImmediate(() => { views.forEach((v) => v.fill(2)); process.exit(9); });`,
      status: 9,
    },
    {
      name: 'after close, with detached views about',
      source: `${views} heap.close(); new Heap().close(); process.exit(0);`,
      status: 0,
    },
    { name: 'by returning from the script with heaps alive', source: `${blocks} ${views.replace('const heap', 'const heap2').replaceAll('heap.', 'heap2.')}`, status: 0 },
    {
      name: 'with heaps still in use in an exit handler',
      source: `${blocks} process.on('exit', () => { const r = heap.alloc(10); heap.view(r)[0] = 1; console.log(heap.refcount(r)); });`,
      status: 0,
      stdout: '2',
    },
    {
      name: 'on an uncaught exception with heaps alive',
      source: `${blocks} ${views.replace('const heap', 'const heap2').replaceAll('heap.', 'heap2.')} throw new Error('boom');`,
      status: 1,
      stderr: /Error: boom/,
    },
    {
      name: 'on an unhandled rejection with heaps alive',
      source: `${views} Promise.reject(new Error('rejected'));`,
      status: 1,
      stderr: /rejected/,
    },
    {
      name: 'while collected heaps wait for their finalizers',
      source: `for (let i = 0; i < 50; i++) { const h = new Heap(); h.view(h.alloc(1000)); } gc(); process.exit(0);`,
      status: 0,
      flags: ['--expose-gc'],
    },
    {
      name: 'on SIGTERM with a handler that closes the heap',
      source: `${views} process.on('SIGTERM', () => { heap.close(); console.log(views[4].byteLength); process.exit(0); }); process.kill(process.pid, 'SIGTERM'); setInterval(() => {}, 1000);`,
      status: 0,
      stdout: '0',
    },
  ];

  /** The statistics pages a child left in the tests' directory (stats-dir-setup.ts). */
  const pagesOf = (pid: number) => fs.readdirSync(statsDirectory()).filter((file) => file.startsWith(`${pid}.`));

  for (const stage of stages) {
    it(stage.name, () => {
      const result = runNode(`${prelude} ${stage.source}`, { flags: stage.flags, timeoutMs: 20_000 });
      expectExit(result, stage.status);
      if (stage.stderr) expect(result.stderr).toMatch(stage.stderr);
      if (stage.stdout !== undefined) expect(result.stdout.trim()).toBe(stage.stdout);
      expect(pagesOf(result.pid), 'statistics pages left behind').toEqual([]);
    });
  }

  // SIGKILL runs nothing: the pages stay, and the CLI's next scan removes them.
  for (const stage of stages.slice(1, 3)) {
    it(`by SIGKILL ${stage.name}`, () => {
      const source = stage.source.replace(/process\.exit\(\d+\);/, '');
      const result = runNode(`${prelude} ${source} process.kill(process.pid, 'SIGKILL');`, { timeoutMs: 20_000 });
      expect(result.signal).toBe('SIGKILL');
      expect(pagesOf(result.pid).length).toBeGreaterThan(0);
      const scan = scanPages(statsDirectory(), { pid: result.pid });
      expect(scan.problems).toEqual([]);
      expect(scan.removed.length).toBeGreaterThan(0);
      expect(pagesOf(result.pid)).toEqual([]);
    });
  }

  it('on SIGTERM with the default action, with heaps and views alive', () => {
    const result = runNode(`${prelude} ${blocks} ${views.replace('const heap', 'const heap2').replaceAll('heap.', 'heap2.')}
      process.kill(process.pid, 'SIGTERM'); setInterval(() => {}, 1000);`);
    expect(result.error).toBeUndefined();
    expect(result.status).toBeNull();
    expect(result.signal).toBe('SIGTERM');
    expect(result.stderr).not.toMatch(/Segmentation fault|Aborted|AddressSanitizer|FATAL ERROR/);
  });
});
