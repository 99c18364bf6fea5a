/**
 * `heap.view(ref)` (SPEC section 4): a zero-copy Uint8Array over a block's
 * data that holds a count on the block until V8 collects it, and that is
 * detached when the heap closes, so no view ever reaches unmapped memory.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { expectBuilt, expectExit, lastJson, requireBuilt, runNode } from './child';
import { expectConsistent, expectError } from './helpers';

const MiB = 1024 * 1024;

/** Source for a child: the built package and a "let V8 collect and finalize" helper. */
const prelude = `${requireBuilt()} const { Heap } = refheap;
const collect = async (rounds = 4) => { for (let i = 0; i < rounds; i++) { gc(); await new Promise((r) => setImmediate(r)); } };
// V8 frees array buffers' memory on a background thread and Node then calls
// the finalizer from the event loop: when, is V8's business. Polls, bounded.
const collectUntil = async (done) => {
  for (let i = 0; i < 200 && !done(); i++) { gc(); await new Promise((r) => (i % 10 === 9 ? setTimeout(r, 5) : setImmediate(r))); }
  return done();
};
`;

/** Runs `body` (an async function body) in a child with --expose-gc; returns what it printed as JSON. */
function inChild(body: string): any {
  const result = runNode(`${prelude} (async () => { ${body} })();`, { flags: ['--expose-gc'] });
  expectExit(result, 0);
  return lastJson(result);
}

describe('view', () => {
  it('is zero-copy in both directions', () => {
    using heap = new Heap();
    const ref = heap.alloc(64);
    const view = heap.view(ref);
    expect(view).toBeInstanceOf(Uint8Array);
    expect(view.length).toBe(64);
    expect(view.byteOffset).toBe(0);
    view[0] = 0x11;
    view[63] = 0xff;
    expect(heap.getUint8(ref, 0)).toBe(0x11);
    expect(heap.getUint8(ref, 63)).toBe(0xff);
    heap.setUint8(ref, 5, 0x42);
    heap.setUint32(ref, 8, 0xdeadbeef);
    heap.write(ref, 20, new Uint8Array([1, 2, 3]));
    expect(view[5]).toBe(0x42);
    expect(Array.from(view.subarray(8, 12))).toEqual([0xef, 0xbe, 0xad, 0xde]);
    expect(Array.from(view.subarray(20, 23))).toEqual([1, 2, 3]);
    // Through a DataView over the same buffer, too.
    new DataView(view.buffer, view.byteOffset, view.byteLength).setFloat64(32, Math.PI, true);
    expect(heap.getFloat64(ref, 32)).toBe(Math.PI);
    expect(Array.from(heap.read(ref))).toEqual(Array.from(view));
    heap.release(ref);
  });

  it('holds one count per view, on top of the caller\'s', () => {
    using heap = new Heap();
    const ref = heap.alloc(16);
    const views = [heap.view(ref), heap.view(ref), heap.view(ref)];
    expect(heap.refcount(ref)).toBe(4);
    views[0][3] = 9;
    expect(views[1][3]).toBe(9);
    expect(views[2][3]).toBe(9);
    expect(views[0].buffer).not.toBe(views[1].buffer);
  });

  it('keeps a block whose only count is its own alive and usable', () => {
    using heap = new Heap();
    const ref = heap.alloc(100, 2);
    const view = heap.view(ref);
    heap.release(ref);
    expect(heap.refcount(ref)).toBe(1);
    view.fill(0x5a);
    expect(heap.getUint8(ref, 99)).toBe(0x5a);
    expect(heap.stats().liveBlocks).toBe(1);
    expectConsistent(heap);
  });

  it('covers the data only: filling it leaves the block\'s slots intact', () => {
    using heap = new Heap();
    const target = heap.alloc(8);
    const ref = heap.alloc(40, 3);
    heap.setRef(ref, 1, target);
    const view = heap.view(ref);
    expect(view.length).toBe(40);
    view.fill(0xff);
    expect(heap.getRef(ref, 0)).toBeNull();
    expect(heap.getRef(ref, 1)).toBe(target);
    expect(heap.refcount(target)).toBe(2);
    expectConsistent(heap);
  });

  it('of a 0-byte block is empty and still holds a count', () => {
    using heap = new Heap();
    const ref = heap.alloc(0, 1);
    const view = heap.view(ref);
    expect(view.length).toBe(0);
    expect(view.byteLength).toBe(0);
    expect(view[0]).toBeUndefined();
    expect(heap.refcount(ref)).toBe(2);
    heap.release(ref);
    expect(heap.refcount(ref)).toBe(1);
  });

  it.each([513, 600, 4096, 64 * 1024, 3 * MiB + 7])('of a large block (%i bytes) covers all of it', (size) => {
    using heap = new Heap();
    const ref = heap.alloc(size);
    const view = heap.view(ref);
    expect(view.length).toBe(size);
    expect(view[size - 1]).toBe(0);
    for (let i = 0; i < size; i += 4093) view[i] = (i * 31) & 0xff;
    view[size - 1] = 0x77;
    for (let i = 0; i < size; i += 4093) expect(heap.getUint8(ref, i)).toBe((i * 31) & 0xff);
    expect(heap.getUint8(ref, size - 1)).toBe(0x77);
    heap.setUint8(ref, size - 2, 0x66);
    expect(view[size - 2]).toBe(0x66);
    expect(heap.refcount(ref)).toBe(2);
    expectConsistent(heap);
  });

  it('can be the source of a write into its own block (overlapping copy)', () => {
    using heap = new Heap();
    const ref = heap.alloc(16);
    const view = heap.view(ref);
    view.set([0, 1, 2, 3, 4, 5, 6, 7]);
    heap.write(ref, 2, view.subarray(0, 8));
    expect(Array.from(view.subarray(0, 10))).toEqual([0, 1, 0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('needs a live ref of this heap', () => {
    using heap = new Heap();
    using other = new Heap();
    const ref = heap.alloc(8);
    expectError(() => other.view(ref), RefheapError, 'ERR_INVALID_REF');
    heap.release(ref);
    expectError(() => heap.view(ref), RefheapError, 'ERR_INVALID_REF');
    expectError(() => heap.view(0), RefheapError, 'ERR_INVALID_REF');
    expectError(() => heap.view('1' as any), TypeError, 'ERR_INVALID_ARG_TYPE');
  });
});

describe('views of a closed heap', () => {
  it('are detached: empty, and no access reaches the unmapped memory', () => {
    const heap = new Heap();
    const small = heap.alloc(100);
    const large = heap.alloc(2 * MiB);
    const views = [heap.view(small), heap.view(small), heap.view(large), heap.view(heap.alloc(0))];
    views[2].fill(1);
    const sub = views[2].subarray(10, 20);
    heap.close();
    for (const view of views) {
      expect(view.byteLength).toBe(0);
      expect(view.length).toBe(0);
      expect(view.buffer.byteLength).toBe(0);
      expect(view[0]).toBeUndefined();
      view[0] = 1; // ignored, as on any detached buffer
      expect(view[0]).toBeUndefined();
    }
    expect(sub.length).toBe(0);
    expect(sub[0]).toBeUndefined();
    expect(() => views[2].fill(3)).toThrow(TypeError);
    expect(() => new DataView(views[2].buffer)).toThrow(TypeError);
    expect(() => structuredClone(views[2])).toThrow();
  });
});

describe('views and V8\'s collector', () => {
  beforeAll(expectBuilt);

  it('a collected view gives its count back', () => {
    const out = inChild(`
      const heap = new Heap();
      const ref = heap.alloc(64);
      let view = heap.view(ref);
      let more = [heap.view(ref), heap.view(ref)];
      const held = heap.refcount(ref);
      view = null;
      const one = await collectUntil(() => heap.refcount(ref) === 3);
      more = null;
      const all = await collectUntil(() => heap.refcount(ref) === 1);
      // Nothing more comes back than was held.
      await collect();
      console.log(JSON.stringify({ held, one, all, after: heap.refcount(ref), verify: heap._verify() }));
    `);
    expect(out).toEqual({ held: 4, one: true, all: true, after: 1, verify: '' });
  });

  it('a block held only by a view lives until the view is collected, then is freed', () => {
    const out = inChild(`
      const heap = new Heap();
      const child = heap.alloc(8);
      const ref = heap.alloc(${MiB}, 1);
      heap.setRef(ref, 0, child);
      heap.release(child);
      let view = heap.view(ref);
      heap.release(ref);
      view.fill(9);
      await collect(2);
      const whileHeld = { count: heap.refcount(ref), byte: heap.getUint8(ref, 1000), live: heap.stats().liveBlocks, sum: view.reduce((a, b) => a + b, 0) };
      view = null;
      await collectUntil(() => heap.stats().liveBlocks === 0);
      let after;
      try { heap.refcount(ref); after = 'still valid'; } catch (e) { after = e.code; }
      let childAfter;
      try { heap.refcount(child); childAfter = 'still valid'; } catch (e) { childAfter = e.code; }
      console.log(JSON.stringify({ whileHeld, after, childAfter, stats: { liveBlocks: heap.stats().liveBlocks, largeBlocks: heap.stats().largeBlocks.count }, verify: heap._verify() }));
    `);
    expect(out).toEqual({
      whileHeld: { count: 1, byte: 9, live: 2, sum: 9 * MiB },
      after: 'ERR_INVALID_REF',
      childAfter: 'ERR_INVALID_REF',
      stats: { liveBlocks: 0, largeBlocks: 0 },
      verify: '',
    });
  });

  it('views collected after their heap was closed are harmless', () => {
    const out = inChild(`
      let heap = new Heap();
      let views = [];
      for (let i = 0; i < 1000; i++) views.push(heap.view(heap.alloc(i % 700)));
      heap.close();
      const lengths = new Set(views.map((v) => v.byteLength));
      views = null;
      heap = null;
      await collect();
      const next = new Heap();
      const ref = next.alloc(10);
      console.log(JSON.stringify({ lengths: [...lengths], count: next.refcount(ref), verify: next._verify() }));
    `);
    expect(out).toEqual({ lengths: [0], count: 1, verify: '' });
  });

  it('a view that outlives its collected Heap object keeps the heap\'s memory mapped', () => {
    // The heap closes only when its functions and its views are all gone: a
    // view must never be left over unmapped memory (it once was, and crashed).
    const out = inChild(`
      let heap = new Heap();
      const ref = heap.alloc(${4 * MiB});
      const small = heap.alloc(32);
      const views = [heap.view(ref), heap.view(small)];
      heap.release(ref);
      heap = null;
      await collect(6);
      views[0].fill(5);
      views[1].fill(6);
      const sums = views.map((v) => v.reduce((a, b) => a + b, 0));
      console.log(JSON.stringify({ lengths: views.map((v) => v.length), sums }));
    `);
    expect(out).toEqual({ lengths: [4 * MiB, 32], sums: [5 * 4 * MiB, 6 * 32] });
  });

  it('many views made and dropped under collection pressure keep counts exact', () => {
    const out = inChild(`
      const heap = new Heap();
      const refs = Array.from(heap.allocMany(200, 48));
      // Views made in a function of their own: an async function's frame
      // would keep its last one alive.
      const touch = (round) => { for (const ref of refs) { const v = heap.view(ref); v[0] = round; } };
      for (let round = 0; round < 20; round++) {
        touch(round);
        if (round % 5 === 4) await collect(2);
      }
      await collectUntil(() => refs.every((ref) => heap.refcount(ref) === 1));
      await collect();
      const counts = new Set(refs.map((ref) => heap.refcount(ref)));
      console.log(JSON.stringify({ counts: [...counts], first: heap.getUint8(refs[0], 0), verify: heap._verify() }));
    `);
    expect(out).toEqual({ counts: [1], first: 19, verify: '' });
  });
});
