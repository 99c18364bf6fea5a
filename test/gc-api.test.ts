/**
 * The surface of `heap.gc` (SPEC sections 4, 6 and 8): argument checks,
 * getObjects / getReferrers / getReferents / isTracked, callbacks, debug
 * lines in CPython's format, diagnostics_channel messages, settings, the
 * full collection before ERR_HEAP_LIMIT, the module-level `gc`, and
 * stats().gc.
 */
import diagnostics from 'node:diagnostics_channel';
import { afterAll, describe, expect, it, vi } from 'vitest';
import {
  DEBUG_COLLECTABLE,
  DEBUG_LEAK,
  DEBUG_SAVEALL,
  DEBUG_STATS,
  DEBUG_UNCOLLECTABLE,
  gc,
  getDefaultHeap,
  Heap,
  RefheapError,
  type GcInfo,
  type Ref,
} from '../lib/index';
import { expectConsistent, expectError, snapshot, warningsDuring } from './helpers';
import { isLive, newHeap, pair } from './gc-setup';

const MiB = 1024 * 1024;
afterAll(() => getDefaultHeap().close());


function selfCycle(heap: Heap, type = 0): Ref {
  const ref = heap.alloc(8, 1, type);
  heap.setRef(ref, 0, ref);
  heap.release(ref);
  return ref;
}



const hex = (ref: Ref) => `0x${ref.toString(16)}`;

describe('argument checks (SPEC section 4)', () => {
  it('collect(generation): integers 0..2; undefined means 2', () => {
    const heap = newHeap();
    const generations: number[] = [];
    heap.gc.callbacks.push((phase, info) => phase === 'start' && generations.push(info.generation));
    heap.gc.collect();
    heap.gc.collect(undefined);
    heap.gc.collect(0);
    heap.gc.collect(1);
    expect(generations).toEqual([2, 2, 0, 1]);
    const before = snapshot(heap);
    for (const bad of [3, -1, 1.5, NaN, Infinity, 2 ** 53]) expectError(() => heap.gc.collect(bad), RangeError, 'ERR_OUT_OF_RANGE');
    for (const bad of ['x', '1', null, {}, [0], 1n]) {
      expectError(() => heap.gc.collect(bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
    }
    expect(generations).toHaveLength(4);
    expect(snapshot(heap)).toEqual(before);
  });

  it('getObjects(generation): 3, -1, 1.5 are RangeErrors, strings TypeErrors; undefined and null mean all (test_get_objects_arguments)', () => {
    const heap = newHeap();
    const refs = Array.from(heap.allocMany(3, 0, 1));
    heap.gc.collect(0);
    refs.push(heap.alloc(0, 1));
    expect(heap.gc.getObjects().length).toBe(4);
    expect(heap.gc.getObjects(null).sort()).toEqual(heap.gc.getObjects().sort());
    expect(heap.gc.getObjects(undefined).sort()).toEqual([...refs].sort());
    expect(heap.gc.getObjects(0)).toEqual([refs[3]]);
    expect(heap.gc.getObjects(1).sort()).toEqual(refs.slice(0, 3).sort());
    expect(heap.gc.getObjects(2)).toEqual([]);
    for (const bad of [3, -1, 1.5, 1000, -1000, NaN]) expectError(() => heap.gc.getObjects(bad), RangeError, 'ERR_OUT_OF_RANGE');
    for (const bad of ['x', '1', {}, true]) expectError(() => heap.gc.getObjects(bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
  });

  it('setThreshold: integers 0..2^31-1; t1 and t2 optional; a failed call changes nothing', () => {
    const heap = newHeap();
    expect(heap.gc.getThreshold()).toEqual([700, 10, 10]);
    heap.gc.setThreshold(5);
    expect(heap.gc.getThreshold()).toEqual([5, 10, 10]);
    heap.gc.setThreshold(2 ** 31 - 1, 0, 2 ** 31 - 1);
    expect(heap.gc.getThreshold()).toEqual([2 ** 31 - 1, 0, 2 ** 31 - 1]);
    heap.gc.setThreshold(0, 1);
    expect(heap.gc.getThreshold()).toEqual([0, 1, 2 ** 31 - 1]);
    heap.gc.setThreshold(1, 2, 3);
    for (const bad of [2 ** 31, -1, 1.5, NaN, Infinity]) {
      expectError(() => heap.gc.setThreshold(bad), RangeError, 'ERR_OUT_OF_RANGE');
      expectError(() => heap.gc.setThreshold(7, bad), RangeError, 'ERR_OUT_OF_RANGE');
      expectError(() => heap.gc.setThreshold(7, 7, bad), RangeError, 'ERR_OUT_OF_RANGE');
    }
    for (const bad of ['x', null, {}]) {
      expectError(() => heap.gc.setThreshold(bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
      expectError(() => heap.gc.setThreshold(7, 7, bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
    }
    expectError(() => (heap.gc.setThreshold as (...args: unknown[]) => void)(), TypeError, 'ERR_INVALID_ARG_TYPE');
    expect(heap.gc.getThreshold()).toEqual([1, 2, 3]);
    // The constructor option follows the same rules.
    expect(newHeap({ thresholds: [2 ** 31 - 1, 0] }).gc.getThreshold()).toEqual([2 ** 31 - 1, 0, 10]);
    expectError(() => new Heap({ publish: false, thresholds: [2 ** 31] }), RangeError, 'ERR_OUT_OF_RANGE');
    expectError(() => new Heap({ publish: false, thresholds: [1, -1] }), RangeError, 'ERR_OUT_OF_RANGE');
    expectError(() => new Heap({ publish: false, thresholds: ['1' as never] }), TypeError, 'ERR_INVALID_ARG_TYPE');
  });

  it('setDebug takes any non-negative integer and getDebug returns it', () => {
    const heap = newHeap();
    expect(heap.gc.getDebug()).toBe(0);
    for (const flags of [DEBUG_STATS, DEBUG_LEAK, 2 ** 40, 2 ** 40 + DEBUG_STATS, Number.MAX_SAFE_INTEGER, 0]) {
      heap.gc.setDebug(flags);
      expect(heap.gc.getDebug()).toBe(flags);
    }
    heap.gc.setDebug(DEBUG_SAVEALL);
    for (const bad of [-1, 1.5, NaN, 2 ** 53]) expectError(() => heap.gc.setDebug(bad), RangeError, 'ERR_OUT_OF_RANGE');
    for (const bad of ['x', null, undefined, {}]) expectError(() => heap.gc.setDebug(bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
    expect(heap.gc.getDebug()).toBe(DEBUG_SAVEALL);
  });

  it('the debug constants have the values of Python\'s gc module', () => {
    expect([DEBUG_STATS, DEBUG_COLLECTABLE, DEBUG_UNCOLLECTABLE, DEBUG_SAVEALL, DEBUG_LEAK]).toEqual([1, 2, 4, 32, 38]);
  });

  it('ref arguments: anything that names no live block is ERR_INVALID_REF, a non-number a TypeError', () => {
    const heap = newHeap();
    const ref = heap.alloc(8, 1);
    const freed = heap.alloc(8, 1);
    heap.release(freed);
    const other = newHeap().alloc(8, 1);
    for (const bad of [freed, other, 0, -1, 1.5, NaN, 2 ** 60]) {
      expectError(() => heap.gc.isTracked(bad), RefheapError, 'ERR_INVALID_REF');
      expectError(() => heap.gc.isFinalized(bad), RefheapError, 'ERR_INVALID_REF');
      expectError(() => heap.gc.getReferrers(ref, bad), RefheapError, 'ERR_INVALID_REF');
      expectError(() => heap.gc.getReferents(bad, ref), RefheapError, 'ERR_INVALID_REF');
    }
    for (const bad of ['1', null, undefined, {}]) {
      expectError(() => heap.gc.isTracked(bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
      expectError(() => heap.gc.isFinalized(bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
      expectError(() => heap.gc.getReferrers(bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
      expectError(() => heap.gc.getReferents(ref, bad as never), TypeError, 'ERR_INVALID_ARG_TYPE');
    }
  });
});

describe('getReferents, getReferrers, isTracked', () => {
  it('getReferents: the blocks the slots point at, in slot order, duplicates kept, over all the refs given', () => {
    const heap = newHeap();
    const a = heap.alloc(0, 5);
    const b = heap.alloc(8);
    const c = heap.alloc(0, 1);
    heap.setRef(a, 0, b);
    heap.setRef(a, 2, c);
    heap.setRef(a, 3, b);
    heap.setRef(a, 4, a);
    heap.setRef(c, 0, b);
    expect(heap.gc.getReferents(a)).toEqual([b, c, b, a]);
    expect(heap.gc.getReferents(c, a, c)).toEqual([b, b, c, b, a, b]);
    expect(heap.gc.getReferents(b)).toEqual([]); // no slots: no referents (get_referents(1, 'a', 4j) == [])
    expect(heap.gc.getReferents()).toEqual([]);
  });

  it('getReferrers: each tracked block with a slot pointing at any of the refs, once; never frozen ones', () => {
    const heap = newHeap();
    const target = heap.alloc(8);
    const other = heap.alloc(0, 1);
    const twice = heap.alloc(0, 3);
    heap.setRef(twice, 0, target);
    heap.setRef(twice, 2, target);
    const both = heap.alloc(0, 2);
    heap.setRef(both, 0, target);
    heap.setRef(both, 1, other);
    const self = heap.alloc(0, 1);
    heap.setRef(self, 0, self);
    heap.gc.collect(0); // referrers in several generations
    const young = heap.alloc(0, 1);
    heap.setRef(young, 0, other);
    expect(heap.gc.getReferrers(target).sort()).toEqual([twice, both].sort());
    expect(heap.gc.getReferrers(target, other).sort()).toEqual([twice, both, young].sort());
    expect(heap.gc.getReferrers(other, other)).toHaveLength(2);
    expect(heap.gc.getReferrers(self)).toEqual([self]);
    expect(heap.gc.getReferrers(young)).toEqual([]);
    expect(heap.gc.getReferrers()).toEqual([]);
    heap.gc.freeze();
    expect(heap.gc.getReferrers(target, other, self)).toEqual([]);
    const late = heap.alloc(0, 1);
    heap.setRef(late, 0, target);
    expect(heap.gc.getReferrers(target)).toEqual([late]);
    heap.gc.unfreeze();
    expect(heap.gc.getReferrers(target).sort()).toEqual([twice, both, late].sort());
  });

  it('isTracked is true exactly for blocks with at least one slot (test_is_tracked)', () => {
    const heap = newHeap();
    expect(heap.gc.isTracked(heap.alloc(0))).toBe(false);
    expect(heap.gc.isTracked(heap.alloc(64))).toBe(false);
    expect(heap.gc.isTracked(heap.alloc(100_000))).toBe(false);
    expect(heap.gc.isTracked(heap.alloc(0, 1))).toBe(true);
    expect(heap.gc.isTracked(heap.alloc(8, 40))).toBe(true);
    expect(heap.gc.isTracked(heap.alloc(100_000, 3))).toBe(true);
    const tracked = heap.gc.getObjects();
    expect(tracked).toHaveLength(3);
    expect(tracked.every((ref) => heap.gc.isTracked(ref))).toBe(true);
    expect(heap.stats().trackedBlocks).toBe(3);
    // Frozen blocks are still tracked.
    heap.gc.freeze();
    expect(tracked.every((ref) => heap.gc.isTracked(ref))).toBe(true);
  });

  it('isFinalized is false until the finalizer has run', () => {
    const heap = newHeap();
    const seen: boolean[] = [];
    const Node = heap.defineType('Node', { finalize: (ref) => seen.push(heap.gc.isFinalized(ref)) });
    const ref = heap.alloc(8, 1, Node);
    const plain = heap.alloc(8, 1);
    expect(heap.gc.isFinalized(ref)).toBe(false);
    heap.setRef(plain, 0, plain);
    heap.release(plain);
    heap.gc.collect();
    expect(heap.gc.isFinalized(ref)).toBe(false); // held: not collected
    heap.release(ref);
    expect(seen).toEqual([true]);
  });
});

describe('callbacks', () => {
  it('each is called with start (zeros) before and stop (the counts) after every collection, in array order', () => {
    const heap = newHeap();
    const Legacy = heap.defineType('Legacy', { uncollectable: true });
    const calls: [string, string, GcInfo][] = [];
    heap.gc.callbacks.push((phase, info) => calls.push(['first', phase, info]));
    heap.gc.callbacks.push((phase, info) => calls.push(['second', phase, info]));
    pair(heap);
    selfCycle(heap);
    selfCycle(heap, Legacy);
    expect(heap.gc.collect(1)).toBe(4);
    expect(calls.map(([who, phase]) => `${who} ${phase}`)).toEqual(['first start', 'second start', 'first stop', 'second stop']);
    expect(calls[0][2]).toEqual({ generation: 1, collected: 0, uncollectable: 0, durationMs: 0 });
    expect(calls[2][2]).toEqual({ generation: 1, collected: 3, uncollectable: 1, durationMs: expect.any(Number) });
    expect(calls[2][2].durationMs).toBeGreaterThanOrEqual(0);
    expect(calls[3][2]).toEqual(calls[2][2]);
    expect(calls[3][2]).not.toBe(calls[2][2]); // each callback gets its own object
    expect(Object.keys(calls[0][2]).sort()).toEqual(['collected', 'durationMs', 'generation', 'uncollectable']);
  });

  it('is a plain mutable array: a callback that removes itself or adds another affects the next phase, not this one', () => {
    const heap = newHeap();
    const calls: string[] = [];
    const added = (phase: string) => calls.push(`added ${phase}`);
    const once = (phase: string) => {
      calls.push(`once ${phase}`);
      heap.gc.callbacks.splice(heap.gc.callbacks.indexOf(once), 1);
      heap.gc.callbacks.push(added);
    };
    const always = (phase: string) => calls.push(`always ${phase}`);
    heap.gc.callbacks.push(once, always);
    heap.gc.collect();
    expect(calls).toEqual(['once start', 'always start', 'always stop', 'added stop']);
    expect(heap.gc.callbacks).toEqual([always, added]);
    heap.gc.callbacks = [];
    calls.length = 0;
    heap.gc.collect();
    expect(calls).toEqual([]);
  });

  it('collect() from a callback does nothing and returns 0', () => {
    const heap = newHeap();
    const nested: number[] = [];
    heap.gc.callbacks.push(() => nested.push(heap.gc.collect(), heap.gc.collect(0)));
    selfCycle(heap);
    expect(heap.gc.collect()).toBe(1);
    expect(nested).toEqual([0, 0, 0, 0]);
    expect(heap.gc.getStats().map((s) => s.collections)).toEqual([0, 0, 1]);
  });

  it('a throwing callback is reported as a REFHEAP_CALLBACK_ERROR warning; the others run and the collection completes', async () => {
    const heap = newHeap();
    const calls: string[] = [];
    heap.gc.callbacks.push(() => {
      throw new Error('callback failed');
    });
    heap.gc.callbacks.push((phase) => calls.push(phase));
    let result = -1;
    pair(heap);
    const warnings = await warningsDuring(() => {
      result = heap.gc.collect();
    });
    expect(result).toBe(2);
    expect(calls).toEqual(['start', 'stop']);
    expect(warnings).toHaveLength(2);
    expect(warnings.every((w) => w.code === 'REFHEAP_CALLBACK_ERROR' && w.message.includes('callback failed'))).toBe(true);
    expect(heap.stats().liveBlocks).toBe(0);
    expect(heap._verify()).toBe('');
  });

  it('close() from a start callback: nothing is collected, the stop still comes, later calls throw ERR_HEAP_CLOSED', () => {
    const heap = newHeap();
    const phases: string[] = [];
    heap.gc.callbacks.push((phase, info) => {
      phases.push(`${phase} ${info.collected}`);
      heap.close();
    });
    heap.gc.callbacks.push((phase) => phases.push(`second ${phase}`));
    pair(heap);
    expect(heap.gc.collect()).toBe(0);
    expect(phases).toEqual(['start 0', 'second start', 'stop 0', 'second stop']);
    expect(heap.closed).toBe(true);
    expectError(() => heap.gc.collect(), RefheapError, 'ERR_HEAP_CLOSED');
    expectError(() => heap.gc.getObjects(), RefheapError, 'ERR_HEAP_CLOSED');
    expectError(() => heap.alloc(8), RefheapError, 'ERR_HEAP_CLOSED');
  });

  it('a finalizer that closes the heap mid-collection: every start still has its stop, callbacks and channel alike (SPEC 6)', () => {
    const heap = newHeap();
    const Closer = heap.defineType('Closer', { finalize: () => heap.close() });
    const phases: string[] = [];
    heap.gc.callbacks.push((phase, info) => phases.push(`${phase} ${info.generation}`));
    const published: string[] = [];
    const onStart = (message: unknown) => (message as { heap: string }).heap === heap.name && published.push('start');
    const onStop = (message: unknown) => (message as { heap: string }).heap === heap.name && published.push('stop');
    diagnostics.subscribe('refheap:gc:start', onStart);
    diagnostics.subscribe('refheap:gc:stop', onStop);
    try {
      const [a, b] = [heap.alloc(8, 1, Closer), heap.alloc(8, 1, Closer)];
      heap.setRef(a, 0, b);
      heap.setRef(b, 0, a);
      heap.release(a);
      heap.release(b);
      heap.gc.collect(1);
    } finally {
      diagnostics.unsubscribe('refheap:gc:start', onStart);
      diagnostics.unsubscribe('refheap:gc:stop', onStop);
    }
    expect(heap.closed).toBe(true);
    expect(phases).toEqual(['start 1', 'stop 1']);
    expect(published).toEqual(['start', 'stop']);
  });

  it('close() from a stop callback, and from a callback of an automatic collection', () => {
    const heap = newHeap();
    heap.gc.callbacks.push((phase) => phase === 'stop' && heap.close());
    pair(heap);
    expect(heap.gc.collect()).toBe(2);
    expect(heap.closed).toBe(true);
    expectError(() => heap.gc.getCount(), RefheapError, 'ERR_HEAP_CLOSED');

    const auto = newHeap({ autoCollect: true, thresholds: [2, 10, 10] });
    auto.gc.callbacks.push(() => auto.close());
    auto.alloc(0, 1);
    auto.alloc(0, 1);
    expectError(() => auto.alloc(0, 1), RefheapError, 'ERR_HEAP_CLOSED');
    expect(auto.closed).toBe(true);
  });
});

describe('debug output', () => {
  function capture(heap: Heap): string[] {
    const lines: string[] = [];
    heap.gc.debugOutput = (line) => lines.push(line);
    return lines;
  }

  it('DEBUG_STATS: the header, the generation sizes and the done line, in CPython\'s format', () => {
    const heap = newHeap();
    const lines = capture(heap);
    heap.alloc(0, 1);
    heap.gc.freeze(); // 1 permanent
    heap.alloc(0, 1);
    heap.gc.collect(1); // 1 in generation 2
    heap.allocMany(2, 0, 1);
    heap.gc.collect(0); // 2 in generation 1
    pair(heap);
    heap.alloc(0, 1); // 3 in generation 0
    heap.alloc(64); // untracked: in no generation
    expect(lines).toEqual([]);
    heap.gc.setDebug(DEBUG_STATS);
    heap.gc.collect(2);
    expect(lines.slice(0, 3)).toEqual([
      'gc: collecting generation 2...',
      'gc: objects in each generation: 3 2 1',
      'gc: objects in permanent generation: 1',
    ]);
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatch(/^gc: done, 2 unreachable, 0 uncollectable, \d+\.\d{4}s elapsed$/);
    lines.length = 0;
    heap.gc.collect(0);
    expect(lines[0]).toBe('gc: collecting generation 0...');
    expect(lines[1]).toBe('gc: objects in each generation: 0 0 4');
    expect(lines[3]).toMatch(/^gc: done, 0 unreachable, 0 uncollectable, 0\.\d{4}s elapsed$/);
  });

  it('DEBUG_COLLECTABLE and DEBUG_UNCOLLECTABLE: one line per block, with its type name and ref in hex, collectable first', () => {
    const heap = newHeap();
    const lines = capture(heap);
    const Node = heap.defineType('Node');
    const Resource = heap.defineType('Resource', { uncollectable: true });
    const [a, b] = pair(heap, Node);
    const s = selfCycle(heap);
    const r = heap.alloc(8, 2, Resource);
    const kept = heap.alloc(8, 1, Node); // reached from r: uncollectable too
    heap.setRef(r, 0, r);
    heap.setRef(r, 1, kept);
    heap.release(kept);
    heap.release(r);
    heap.gc.setDebug(DEBUG_STATS | DEBUG_COLLECTABLE | DEBUG_UNCOLLECTABLE);
    expect(heap.gc.collect()).toBe(5);
    expect(lines.slice(0, 3).map((line) => line.split(':')[1])).toEqual([' collecting generation 2...', ' objects in each generation', ' objects in permanent generation']);
    expect(lines.slice(3, 6).sort()).toEqual(
      [`gc: collectable <Node ${hex(a)}>`, `gc: collectable <Node ${hex(b)}>`, `gc: collectable <block ${hex(s)}>`].sort(),
    );
    expect(lines.slice(6, 8).sort()).toEqual([`gc: uncollectable <Resource ${hex(r)}>`, `gc: uncollectable <Node ${hex(kept)}>`].sort());
    expect(lines[8]).toMatch(/^gc: done, 5 unreachable, 2 uncollectable, \d+\.\d{4}s elapsed$/);
    expect(lines).toHaveLength(9);
    // Each flag alone.
    heap.gc.clearGarbage();
    heap.gc.setDebug(DEBUG_UNCOLLECTABLE);
    lines.length = 0;
    pair(heap);
    expect(heap.gc.collect()).toBe(4);
    expect(lines.sort()).toEqual([`gc: uncollectable <Resource ${hex(r)}>`, `gc: uncollectable <Node ${hex(kept)}>`].sort());
    heap.gc.setDebug(DEBUG_COLLECTABLE);
    lines.length = 0;
    const t = selfCycle(heap);
    heap.gc.collect();
    expect(lines).toEqual([`gc: collectable <block ${hex(t)}>`]);
  });

  it('DEBUG_COLLECTABLE lines are whole for type names of any length, multi-byte ones too', () => {
    const heap = newHeap();
    const lines = capture(heap);
    heap.gc.setDebug(DEBUG_COLLECTABLE);
    for (const name of ['x'.repeat(300), '☃'.repeat(90), 'y'.repeat(5000)]) {
      lines.length = 0;
      const ref = selfCycle(heap, heap.defineType(name));
      heap.gc.collect();
      expect(lines).toEqual([`gc: collectable <${name} ${hex(ref)}>`]);
    }
  });

  it('DEBUG_LEAK: collectable and uncollectable lines, and everything saved in garbage', () => {
    const heap = newHeap();
    const lines = capture(heap);
    heap.gc.setDebug(DEBUG_LEAK);
    const [a, b] = pair(heap);
    expect(heap.gc.collect()).toBe(2);
    expect(lines.sort()).toEqual([`gc: collectable <block ${hex(a)}>`, `gc: collectable <block ${hex(b)}>`].sort());
    expect([...heap.gc.garbage].sort()).toEqual([a, b].sort());
    expect(heap.refcount(a)).toBe(2);
  });

  it('goes to standard error by default', () => {
    const heap = newHeap();
    const written: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => written.push(String(chunk)) > 0);
    try {
      heap.gc.setDebug(DEBUG_STATS);
      heap.gc.collect();
    } finally {
      write.mockRestore();
    }
    expect(written.slice(0, 3)).toEqual([
      'gc: collecting generation 2...\n',
      'gc: objects in each generation: 0 0 0\n',
      'gc: objects in permanent generation: 0\n',
    ]);
    expect(written[3]).toMatch(/^gc: done, 0 unreachable, 0 uncollectable, \d+\.\d{4}s elapsed\n$/);
  });

  it('a throwing debugOutput is reported as a warning and the collection completes', async () => {
    const heap = newHeap();
    heap.gc.debugOutput = () => {
      throw new Error('output failed');
    };
    heap.gc.setDebug(DEBUG_STATS | DEBUG_COLLECTABLE);
    pair(heap);
    let result = -1;
    const warnings = await warningsDuring(() => {
      result = heap.gc.collect();
    });
    expect(result).toBe(2);
    expect(warnings).toHaveLength(6);
    expect(warnings.every((w) => w.code === 'REFHEAP_CALLBACK_ERROR' && w.message.includes('output failed'))).toBe(true);
    expect(heap.stats().liveBlocks).toBe(0);
    expect(heap._verify()).toBe('');
  });
});

describe('diagnostics_channel', () => {
  it('publishes refheap:gc:start and refheap:gc:stop with the heap name and the info', () => {
    const heap = newHeap({ name: 'channel-test' });
    const messages: [string, unknown][] = [];
    const onStart = (message: unknown) => messages.push(['start', message]);
    const onStop = (message: unknown) => messages.push(['stop', message]);
    diagnostics.subscribe('refheap:gc:start', onStart);
    diagnostics.subscribe('refheap:gc:stop', onStop);
    try {
      pair(heap);
      const Legacy = heap.defineType('Legacy', { uncollectable: true });
      selfCycle(heap, Legacy);
      heap.gc.collect(1);
    } finally {
      diagnostics.unsubscribe('refheap:gc:start', onStart);
      diagnostics.unsubscribe('refheap:gc:stop', onStop);
    }
    expect(messages).toEqual([
      ['start', { heap: 'channel-test', generation: 1, collected: 0, uncollectable: 0, durationMs: 0 }],
      ['stop', { heap: 'channel-test', generation: 1, collected: 2, uncollectable: 1, durationMs: expect.any(Number) }],
    ]);
    heap.gc.collect();
    expect(messages).toHaveLength(2); // unsubscribed
  });

  it('publishes automatic collections', () => {
    const heap = newHeap({ autoCollect: true, thresholds: [3, 10, 10] });
    const generations: number[] = [];
    const onStop = (message: unknown) => generations.push((message as GcInfo).generation);
    diagnostics.subscribe('refheap:gc:stop', onStop);
    try {
      for (let i = 0; i < 8; i++) selfCycle(heap);
    } finally {
      diagnostics.unsubscribe('refheap:gc:stop', onStop);
    }
    expect(generations).toEqual([0, 0]); // at the 4th and the 8th allocation
    expect(heap.stats().liveBlocks).toBe(1);
  });
});

describe('settings', () => {
  it('enable(), disable(), isEnabled(); the autoCollect option; stats().gc.enabled', () => {
    const on = newHeap({ autoCollect: true });
    expect(on.gc.isEnabled()).toBe(true);
    expect(on.stats().gc.enabled).toBe(true);
    on.gc.disable();
    expect(on.gc.isEnabled()).toBe(false);
    expect(on.stats().gc.enabled).toBe(false);
    on.gc.enable();
    on.gc.enable();
    expect(on.gc.isEnabled()).toBe(true);
    const off = newHeap({ autoCollect: false });
    expect(off.gc.isEnabled()).toBe(false);
    expect(new Heap({ publish: false }).gc.isEnabled()).toBe(true);
    // Disabled, collect() still works.
    selfCycle(off);
    expect(off.gc.collect()).toBe(1);
  });
});

describe('maxBytes', () => {
  it('runs a full collection before refusing, even while disabled: a dropped cycle makes room', () => {
    const heap = newHeap({ maxBytes: 4 * MiB });
    const generations: number[] = [];
    heap.gc.callbacks.push((phase, info) => phase === 'stop' && generations.push(info.generation));
    const a = heap.alloc(1.5 * MiB, 1);
    const b = heap.alloc(1.5 * MiB, 1);
    heap.setRef(a, 0, b);
    heap.setRef(b, 0, a);
    heap.release(a);
    heap.release(b);
    heap.gc.disable();
    const c = heap.alloc(1.5 * MiB);
    expect(generations).toEqual([2]);
    expect([a, b].some((ref) => isLive(heap, ref))).toBe(false);
    expect(heap.gc.getStats()[2]).toEqual({ collections: 1, collected: 2, uncollectable: 0 });
    // Nothing to collect: ERR_HEAP_LIMIT after one more full collection, and the heap stays usable.
    const d = heap.alloc(1.5 * MiB);
    expectError(() => heap.alloc(1.5 * MiB), RangeError, 'ERR_HEAP_LIMIT');
    expect(generations).toEqual([2, 2]);
    heap.release(d);
    heap.release(heap.alloc(1.5 * MiB));
    heap.release(c);
    expectConsistent(heap);
  });

  it('small blocks too: a full arena of dropped cycles makes room for the next arena', () => {
    const heap = newHeap({ maxBytes: 2 * MiB });
    let made = 0;
    for (; heap.stats().mappedBytes <= MiB; made++) selfCycle(heap);
    expect(heap.stats().mappedBytes).toBe(2 * MiB);
    // Keep allocating: the cap would be hit, and the collector frees the cycles first.
    for (let i = 0; i < made * 2; i++) selfCycle(heap);
    expect(heap.stats().mappedBytes).toBeLessThanOrEqual(2 * MiB);
    expect(heap.gc.getStats()[2].collections).toBeGreaterThan(0);
    expectConsistent(heap);
  });

  it('finalizers of the pressure collection may allocate, or close the heap', () => {
    const heap = newHeap({ maxBytes: 3.5 * MiB });
    const made: Ref[] = [];
    const Maker = heap.defineType('Maker', { finalize: () => made.push(heap.alloc(100)) });
    const a = heap.alloc(MiB, 1, Maker);
    const b = heap.alloc(MiB, 1, Maker);
    heap.setRef(a, 0, b);
    heap.setRef(b, 0, a);
    heap.release(a);
    heap.release(b);
    const c = heap.alloc(1.5 * MiB);
    expect(made).toHaveLength(2);
    expect(made.every((ref) => heap.sizeOf(ref) === 100)).toBe(true);
    expect(isLive(heap, c)).toBe(true);
    expectConsistent(heap);

    const closing = newHeap({ maxBytes: 3 * MiB });
    const Closer = closing.defineType('Closer', { finalize: () => closing.close() });
    const x = closing.alloc(MiB, 1, Closer);
    const y = closing.alloc(MiB, 1);
    closing.setRef(x, 0, y);
    closing.setRef(y, 0, x);
    closing.release(x);
    closing.release(y);
    expectError(() => closing.alloc(1.5 * MiB), RefheapError, 'ERR_HEAP_CLOSED');
    expect(closing.closed).toBe(true);
  });
});

describe('the module-level gc', () => {
  it('works on a default heap, created on first use', () => {
    const heap = getDefaultHeap();
    expect(heap.name).toBe('default');
    expect(getDefaultHeap()).toBe(heap);
    gc.collect();
    const calls: string[] = [];
    const callback = (phase: string) => calls.push(phase);
    gc.callbacks.push(callback);
    const ref = selfCycle(heap);
    expect(gc.getObjects()).toContain(ref);
    expect(gc.isTracked(ref)).toBe(true);
    expect(gc.getReferrers(ref)).toEqual([ref]);
    expect(gc.getCount()[0]).toBeGreaterThanOrEqual(1);
    expect(gc.collect()).toBe(1);
    expect(calls).toEqual(['start', 'stop']);
    const lines: string[] = [];
    gc.debugOutput = (line) => lines.push(line);
    gc.setDebug(DEBUG_STATS);
    gc.collect(0);
    expect(lines[0]).toBe('gc: collecting generation 0...');
    gc.setDebug(0);
    gc.callbacks.splice(0);
    expect(heap.gc.callbacks).toEqual([]);
    gc.setThreshold(100, 5);
    expect(heap.gc.getThreshold()).toEqual([100, 5, 10]);
    gc.disable();
    expect(heap.gc.isEnabled()).toBe(false);
    gc.enable();
    expect(gc.isEnabled()).toBe(true);
    expect(gc.getStats()).toEqual(heap.gc.getStats());
    // Closed, it is replaced by a fresh default heap on next use.
    heap.close();
    expect(gc.getCount()).toEqual([0, 0, 0]);
    expect(getDefaultHeap()).not.toBe(heap);
    expect(getDefaultHeap().closed).toBe(false);
  });
});

describe('stats().gc', () => {
  it('mirrors counts, thresholds, generations, frozen, garbage and pauses', () => {
    const heap = newHeap({ thresholds: [50, 20, 30] });
    const Legacy = heap.defineType('Legacy', { uncollectable: true });
    heap.alloc(0, 1);
    heap.gc.freeze();
    selfCycle(heap, Legacy);
    pair(heap);
    heap.gc.collect(1);
    heap.allocMany(3, 0, 1);
    const stats = heap.stats().gc;
    expect(stats).toEqual({
      enabled: false,
      counts: [3, 0, 1],
      thresholds: [50, 20, 30],
      generations: [
        { collections: 0, collected: 0, uncollectable: 0 },
        { collections: 1, collected: 2, uncollectable: 1 },
        { collections: 0, collected: 0, uncollectable: 0 },
      ],
      frozen: 1,
      garbage: 1,
      pauses: { lastMs: expect.any(Number), maxMs: expect.any(Number), totalMs: expect.any(Number) },
    });
    expect(stats.counts).toEqual(heap.gc.getCount());
    expect(stats.thresholds).toEqual(heap.gc.getThreshold());
    expect(stats.generations).toEqual(heap.gc.getStats());
    expect(stats.pauses.lastMs).toBeGreaterThan(0);
    expect(stats.pauses.maxMs).toBe(stats.pauses.lastMs);
    expect(stats.pauses.totalMs).toBe(stats.pauses.lastMs);
    for (let i = 0; i < 5; i++) heap.gc.collect();
    const later = heap.stats().gc.pauses;
    expect(later.maxMs).toBeGreaterThanOrEqual(later.lastMs);
    expect(later.totalMs).toBeGreaterThanOrEqual(later.maxMs);
    expect(later.totalMs).toBeGreaterThan(stats.pauses.totalMs);
    heap.gc.setThreshold(0);
    heap.gc.enable();
    // isEnabled() stays true with threshold0 = 0, as gc.isenabled() does in
    // CPython 3.11 after gc.set_threshold(0) (printed: True); so does enabled.
    expect(heap.gc.isEnabled()).toBe(true);
    expect(heap.stats().gc.enabled).toBe(true);
  });
});
