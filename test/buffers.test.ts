/**
 * Buffers and arrays at the seam (issue 9, items 1 and 2).
 *
 * - Source buffers: write() and releaseMany() take bytes from any
 *   ArrayBufferView, whatever its backing store: a SharedArrayBuffer (whose
 *   data the binding once asked for as an ArrayBuffer's, got null and
 *   wrote from there), a DataView, a detached or out-of-bounds buffer
 *   (covering no bytes).
 * - Result arrays: getObjects(), getReferrers(), getReferents(), garbage,
 *   getCount() and getThreshold() are built as own elements, as an array
 *   literal is. Built with [[Set]], they ran a setter a user put on
 *   Array.prototype while the binding still held raw block pointers; a
 *   setter that released the blocks made the next read touch unmapped
 *   memory. Those tests run in a child process (they change
 *   Array.prototype, and a crash must show as the child's signal).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { expectBuilt, expectExit, lastJson, requireBuilt, runNode } from './child';
import { expectConsistent, expectError } from './helpers';

describe('write() from any ArrayBufferView', () => {
  it('copies from a SharedArrayBuffer, through a typed array or a DataView, at any offset', () => {
    using heap = new Heap({ publish: false });
    const ref = heap.alloc(64);
    const shared = new SharedArrayBuffer(32);
    const bytes = new Uint8Array(shared);
    bytes.forEach((_, i) => (bytes[i] = i + 1));
    heap.write(ref, 0, new Uint8Array(shared));
    expect([...heap.read(ref, 0, 32)]).toEqual([...bytes]);
    heap.write(ref, 40, new DataView(shared, 4, 8));
    expect([...heap.read(ref, 40, 8)]).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
    heap.write(ref, 10, new Uint16Array(shared, 2, 3));  // 6 bytes from byte 2
    expect([...heap.read(ref, 10, 6)]).toEqual([3, 4, 5, 6, 7, 8]);
    heap.write(ref, 56, new Float64Array(shared, 8, 1));
    expect([...heap.read(ref, 56, 8)]).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
    expectConsistent(heap);
  });

  it('checks the range of a shared source like any other', () => {
    using heap = new Heap({ publish: false });
    const ref = heap.alloc(8);
    const err = expectError(() => heap.write(ref, 4, new Uint8Array(new SharedArrayBuffer(16))), RangeError, 'ERR_OUT_OF_RANGE');
    expect(err.message).toContain('Writing 16 bytes at offset 4');
    expect([...heap.read(ref)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('writes nothing from a view of a detached buffer, typed array or DataView alike', () => {
    using heap = new Heap({ publish: false });
    const ref = heap.alloc(8);
    heap.write(ref, 0, new Uint8Array(8).fill(9));
    const buffer = new ArrayBuffer(16);
    const sources = [new Uint8Array(buffer), new DataView(buffer), new Int32Array(buffer, 4, 2)];
    structuredClone(buffer, { transfer: [buffer] });
    for (const source of sources) {
      heap.write(ref, 0, source);
      heap.write(ref, 8, source);  // at the very end: no bytes, so in range
      expectError(() => heap.write(ref, 9, source), RangeError, 'ERR_OUT_OF_RANGE');
    }
    expect([...heap.read(ref)]).toEqual([9, 9, 9, 9, 9, 9, 9, 9]);
  });

  it('writes nothing from a length-tracking view that a resize left out of bounds', () => {
    const Resizable = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void };
    if (typeof (ArrayBuffer.prototype as { resize?: unknown }).resize !== 'function') return;  // not in this Node
    using heap = new Heap({ publish: false });
    const ref = heap.alloc(8);
    const buffer = new Resizable(16, { maxByteLength: 32 });
    const tracking = new Uint8Array(buffer, 8);
    tracking.fill(5);
    heap.write(ref, 0, tracking);
    expect([...heap.read(ref)]).toEqual([5, 5, 5, 5, 5, 5, 5, 5]);
    buffer.resize(4);  // byte 8 is now past the end: the view covers nothing
    heap.write(ref, 8, tracking);
    buffer.resize(12);
    heap.write(ref, 0, tracking);  // 4 bytes again, zeroed by the resize
    expect([...heap.read(ref)]).toEqual([0, 0, 0, 0, 5, 5, 5, 5]);
  });

  it('still refuses what is not a view', () => {
    using heap = new Heap({ publish: false });
    const ref = heap.alloc(8);
    for (const source of [new ArrayBuffer(4), new SharedArrayBuffer(4), [1, 2], 'ab', null, undefined]) {
      expectError(() => heap.write(ref, 0, source as unknown as ArrayBufferView), TypeError, 'ERR_INVALID_ARG_TYPE');
    }
  });
});

describe('releaseMany() from any Float64Array', () => {
  it('reads refs from a SharedArrayBuffer', () => {
    using heap = new Heap({ publish: false });
    const made = heap.allocMany(3, 8);
    const refs = new Float64Array(new SharedArrayBuffer(24));
    refs.set(made);
    heap.releaseMany(refs);
    for (const ref of made) expectError(() => heap.refcount(ref), RefheapError, 'ERR_INVALID_REF');
    expect(heap.stats().liveBlocks).toBe(0);
  });

  it('releases nothing from a detached Float64Array', () => {
    using heap = new Heap({ publish: false });
    const ref = heap.alloc(8);
    const refs = new Float64Array([ref]);
    structuredClone(refs.buffer, { transfer: [refs.buffer] });
    heap.releaseMany(refs);
    expect(heap.refcount(ref)).toBe(1);
  });
});

describe('argument conversion runs no user code', () => {
  it('an object with valueOf is a type error, and valueOf is never called', () => {
    using heap = new Heap({ publish: false });
    const ref = heap.alloc(16, 1);
    let calls = 0;
    const sneaky = { valueOf: () => (calls++, heap.release(ref), 0) };
    expectError(() => heap.getUint8(ref, sneaky as unknown as number), TypeError, 'ERR_INVALID_ARG_TYPE');
    expectError(() => heap.setUint32(ref, 0, sneaky as unknown as number), TypeError, 'ERR_INVALID_ARG_TYPE');
    expectError(() => heap.setRef(ref, 0, sneaky as unknown as number), TypeError, 'ERR_INVALID_ARG_TYPE');
    expectError(() => heap.read(ref, 0, sneaky as unknown as number), TypeError, 'ERR_INVALID_ARG_TYPE');
    expect(calls).toBe(0);
    expect(heap.refcount(ref)).toBe(1);
  });
});

/**
 * Runs `body` in a child whose Array.prototype has setters (and getters) at
 * indices 0..7 that call `onSet()`; the child prints `report()` as JSON.
 */
function withPrototypeSetters(setup: string, body: string) {
  const result = runNode(`
    ${requireBuilt()}
    const heap = new refheap.Heap({ publish: false, autoCollect: false });
    let setterCalls = 0;
    let onSet = () => {};
    ${setup}
    for (let i = 0; i < 8; i++) {
      Object.defineProperty(Array.prototype, i, {
        configurable: true,
        get() { return undefined; },
        set(value) { setterCalls++; onSet(); },
      });
    }
    const report = (() => { ${body} })();
    for (let i = 0; i < 8; i++) delete Array.prototype[i];
    console.log(JSON.stringify({ setterCalls, ...report }));
  `, { timeoutMs: 60_000 });
  expectExit(result, 0);
  return lastJson(result);
}

// Enough blocks to fill several 1 MiB arenas, so that releasing them all
// unmaps memory that a pointer kept by the binding would then read.
const MANY = 60_000;

describe('result arrays are built without running user code', () => {
  beforeAll(expectBuilt);

  it('gc.getObjects(): a setter on Array.prototype that frees every block neither runs nor crashes the process', () => {
    const report = withPrototypeSetters(`
      const refs = heap.allocMany(${MANY}, 48, 1);
      onSet = () => heap.releaseMany(refs);
    `, `
      const all = heap.gc.getObjects();
      const young = heap.gc.getObjects(0);
      const listed = new Set(all);
      return { length: all.length, youngLength: young.length, own: Object.hasOwn(all, 0), same: refs.every((r) => listed.has(r)),
               alive: refs.every((r) => heap.refcount(r) === 1) };
    `);
    expect(report).toEqual({ setterCalls: 0, length: MANY, youngLength: MANY, own: true, same: true, alive: true });
  });

  it('gc.getReferrers() and gc.getReferents(): the same', () => {
    const report = withPrototypeSetters(`
      const target = heap.alloc(8);
      const holder = heap.alloc(8, ${MANY});
      const refs = heap.allocMany(${MANY}, 48, 1);
      for (let i = 0; i < refs.length; i++) { heap.setRef(refs[i], 0, target); heap.setRef(holder, i, refs[i]); }
      onSet = () => { heap.releaseMany(refs); for (let i = 0; i < ${MANY}; i++) heap.setRef(holder, i, null); };
    `, `
      const referrers = heap.gc.getReferrers(target);
      const referents = heap.gc.getReferents(holder);
      return { referrers: referrers.length, referents: referents.length, sameReferents: referents.every((r, i) => r === refs[i]),
               holderFirst: heap.getRef(holder, 0) === refs[0] };
    `);
    expect(report).toEqual({ setterCalls: 0, referrers: MANY, referents: MANY, sameReferents: true, holderFirst: true });
  });

  it('gc.garbage: a setter that clears the garbage neither runs nor crashes the process', () => {
    const report = withPrototypeSetters(`
      const Keep = heap.defineType('keep', { uncollectable: true });
      const refs = heap.allocMany(${MANY}, 48, 1, Keep);
      for (let i = 0; i < refs.length; i++) heap.setRef(refs[i], 0, refs[(i + 1) % refs.length]);
      heap.releaseMany(refs);
      heap.gc.collect();
      // Gives the heap's counts back and breaks the ring: every block is freed.
      onSet = () => { heap.gc.clearGarbage(); heap.setRef(refs[0], 0, null); };
    `, `
      const garbage = heap.gc.garbage;
      return { length: garbage.length, stillThere: heap.gc.garbage.length };
    `);
    expect(report).toEqual({ setterCalls: 0, length: MANY, stillThere: MANY });
  });

  it('gc.getCount() and gc.getThreshold(): the same', () => {
    const report = withPrototypeSetters(`
      heap.gc.setThreshold(5, 6, 7);
      heap.alloc(8, 1);
    `, `
      return { count: heap.gc.getCount(), threshold: heap.gc.getThreshold() };
    `);
    expect(report).toEqual({ setterCalls: 0, count: [1, 0, 0], threshold: [5, 6, 7] });
  });

  it('the addon\'s own tables ignore setters put on Object.prototype before it loads', () => {
    // The names of the addon's table fields. (Not indices: a setter there
    // breaks Node's own arrays; and nothing counts the calls: Node's module
    // loader sets `path` itself.)
    const result = runNode(`
      for (const key of ['path', 'boolean', 'granule', 'poolSize', 'magic', 'offsets', 'version']) {
        Object.defineProperty(Object.prototype, key, { configurable: true, get() { return undefined; }, set() {} });
      }
      ${requireBuilt()}
      const heap = new refheap.Heap({ publish: false });
      heap.alloc(24, 1);
      const stats = heap.stats();
      const report = heap.debugMallocStats();
      console.log(JSON.stringify({ live: stats.liveBlocks, tracked: stats.trackedBlocks, enabled: stats.gc.enabled,
        classes: stats.sizeClasses.length, report: report.includes('# bytes in allocated blocks') }));
    `);
    expectExit(result, 0);
    expect(lastJson(result)).toEqual({ live: 1, tracked: 1, enabled: true, classes: 1, report: true });
  });

  it('errors get their code and index even with setters for them on Error.prototype', () => {
    const result = runNode(`
      let calls = 0;
      for (const key of ['code', 'index']) {
        Object.defineProperty(Error.prototype, key, { configurable: true, get() { return 'wrong'; }, set() { calls++; } });
      }
      ${requireBuilt()}
      const heap = new refheap.Heap({ publish: false });
      const codes = [];
      for (const call of [() => heap.alloc('x'), () => heap.alloc(-1), () => heap.releaseMany([heap.alloc(8), 0.5])]) {
        try { call(); } catch (e) { codes.push([e.constructor.name, e.code, Object.hasOwn(e, 'index') ? e.index : null]); }
      }
      console.log(JSON.stringify({ calls, codes }));
    `);
    expectExit(result, 0);
    expect(lastJson(result)).toEqual({
      calls: 0,
      codes: [['TypeError', 'ERR_INVALID_ARG_TYPE', null], ['RangeError', 'ERR_OUT_OF_RANGE', null], ['RefheapError', 'ERR_INVALID_REF', 1]],
    });
  });
});
