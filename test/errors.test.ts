/**
 * Argument checking and errors of every `Heap` member (SPEC sections 3 and 4):
 * the wrong type is a TypeError ERR_INVALID_ARG_TYPE, a number that is not an
 * integer or lies outside its range is a RangeError ERR_OUT_OF_RANGE, a number
 * that names no live block is a RefheapError ERR_INVALID_REF, a closed heap is
 * ERR_HEAP_CLOSED whatever the arguments; and a failed call changes nothing.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { expectConsistent, expectError, snapshot } from './helpers';

/** Lets the tests pass what the types forbid. */
type Loose = (...args: unknown[]) => unknown;

const MAX_DATA = 2 ** 30;
const MAX_SLOTS = 2 ** 24;

/** A heap with a few blocks of every kind, filled with recognisable data. */
function makeFixture() {
  const heap = new Heap({ publish: false });
  const plain = heap.alloc(16);
  heap.write(plain, 0, Uint8Array.from({ length: 16 }, (_, i) => i + 1));
  const slotted = heap.alloc(24, 2);
  heap.setRef(slotted, 0, plain);
  heap.setUint32(slotted, 4, 0xdeadbeef);
  const large = heap.alloc(1000, 1);
  heap.setRef(large, 0, slotted);
  heap.setFloat64(large, 992, Math.PI);
  const empty = heap.alloc(0);
  const freed = heap.alloc(16);
  heap.release(freed);
  const freedLarge = heap.alloc(5000);
  heap.release(freedLarge);
  const other = new Heap({ publish: false });
  const foreign = other.alloc(16);
  return { heap, plain, slotted, large, empty, freed, freedLarge, other, foreign, refs: [plain, slotted, large, empty] };
}
type Fixture = ReturnType<typeof makeFixture>;

let f: Fixture;
beforeEach(() => {
  f = makeFixture();
});
afterEach(() => {
  f.heap.close();
  f.other.close();
});

/** `fn` must throw `errorClass` with `code` and leave the heap exactly as it was, and consistent. */
function expectFails(fn: () => unknown, errorClass: typeof TypeError | typeof RefheapError, code: string) {
  const before = snapshot(f.heap, f.refs);
  const error = expectError(fn, errorClass, code);
  expect(snapshot(f.heap, f.refs)).toEqual(before);
  expectConsistent(f.heap);
  return error;
}

/** f.heap, callable with any arguments. */
const loose = (): Record<string, Loose> => f.heap as unknown as Record<string, Loose>;

/** Values of the wrong type, for any argument that wants a number. */
const NOT_NUMBERS: [string, unknown][] = [
  ['a string', '1'],
  ['an empty string', ''],
  ['null', null],
  ['an object', {}],
  ['an array', [1]],
  ['a boolean', true],
  ['a bigint', 1n],
  ['a symbol', Symbol('x')],
  ['a function', () => 1],
  ['a Number object', new Number(1)],
];

/** Numbers that are no valid integer argument whatever the range. */
const NOT_INTEGERS = [-1, -0.5, 0.5, 1.5, NaN, Infinity, -Infinity, -(2 ** 53), Number.MAX_VALUE, -Number.MIN_VALUE];

describe('refs: every member that takes one', () => {
  // [member, call with the ref under test]
  const members: [string, (ref: unknown) => unknown][] = [
    ['retain', (r) => loose().retain(r)],
    ['release', (r) => loose().release(r)],
    ['releaseMany', (r) => loose().releaseMany([r])],
    ['refcount', (r) => loose().refcount(r)],
    ['setRef (ref)', (r) => loose().setRef(r, 0, null)],
    ['setRef (target)', (r) => loose().setRef(f.slotted, 1, r)],
    ['getRef', (r) => loose().getRef(r, 0)],
    ['slotCount', (r) => loose().slotCount(r)],
    ['sizeOf', (r) => loose().sizeOf(r)],
    ['typeOf', (r) => loose().typeOf(r)],
    ['getUint8', (r) => loose().getUint8(r, 0)],
    ['setUint8', (r) => loose().setUint8(r, 0, 1)],
    ['getInt32', (r) => loose().getInt32(r, 0)],
    ['setInt32', (r) => loose().setInt32(r, 0, 1)],
    ['getUint32', (r) => loose().getUint32(r, 0)],
    ['setUint32', (r) => loose().setUint32(r, 0, 1)],
    ['getFloat64', (r) => loose().getFloat64(r, 0)],
    ['setFloat64', (r) => loose().setFloat64(r, 0, 1)],
    ['getBigInt64', (r) => loose().getBigInt64(r, 0)],
    ['setBigInt64', (r) => loose().setBigInt64(r, 0, 1n)],
    ['write', (r) => loose().write(r, 0, new Uint8Array(1))],
    ['read', (r) => loose().read(r)],
    ['read (offset, length)', (r) => loose().read(r, 0, 1)],
    ['view', (r) => loose().view(r)],
  ];

  // Numbers that name no live block of f.heap.
  const invalidRefs: [string, () => number][] = [
    ['0', () => 0],
    ['-0', () => -0],
    ['-1', () => -1],
    ['1', () => 1],
    ['NaN', () => NaN],
    ['Infinity', () => Infinity],
    ['-Infinity', () => -Infinity],
    ['1.5', () => 1.5],
    ['a live ref + 0.5', () => f.plain + 0.5],
    ['a live ref - 0.25', () => f.large - 0.25],
    ['a live ref, negated', () => -f.plain],
    ['a live ref with the next tag (forged)', () => f.plain + 1],
    ['a live ref with the previous tag (forged)', () => f.plain - 1],
    ['a live ref, next granule (forged)', () => f.plain + 65536],
    ['a live large ref, next granule (forged)', () => f.large + 65536],
    ['a live ref in the next registry slot (forged)', () => f.plain + 2 ** 32],
    ['2^52 - 1', () => 2 ** 52 - 1],
    ['2^52', () => 2 ** 52],
    ['a live ref + 2^52', () => f.plain + 2 ** 52],
    ['2^53', () => 2 ** 53],
    ['Number.MAX_VALUE', () => Number.MAX_VALUE],
    ['Number.MIN_VALUE', () => Number.MIN_VALUE],
    ['a freed block', () => f.freed],
    ['a freed large block', () => f.freedLarge],
    ["another heap's live block", () => f.foreign],
  ];

  describe.each(members)('%s', (member, call) => {
    const wrongTypes = member === 'setRef (target)' ? NOT_NUMBERS.filter(([, v]) => v !== null) : NOT_NUMBERS;
    it.each([...wrongTypes, ['undefined', undefined]])('%s → ERR_INVALID_ARG_TYPE', (_label, value) => {
      const error = expectFails(() => call(value), TypeError, 'ERR_INVALID_ARG_TYPE');
      expect(error.message).toMatch(/^The "(ref|target|refs\[0\])" argument must be /);
    });

    it.each(invalidRefs)('%s → ERR_INVALID_REF', (_label, value) => {
      const error = expectFails(() => call(value()), RefheapError, 'ERR_INVALID_REF') as RefheapError;
      expect(error.name).toBe('RefheapError');
      expect(error.index).toBe(member === 'releaseMany' ? 0 : undefined);
    });
  });

  it('a ref stays valid in its own heap while the other heap rejects it', () => {
    expect(f.other.refcount(f.foreign)).toBe(1);
    expectFails(() => f.heap.refcount(f.foreign), RefheapError, 'ERR_INVALID_REF');
    expectError(() => f.other.refcount(f.plain), RefheapError, 'ERR_INVALID_REF');
    expect(f.other.refcount(f.foreign)).toBe(1);
  });
});

describe('integer arguments', () => {
  interface IntegerArgument {
    name: string; // as the error message names it
    call: (value: unknown) => unknown;
    max: () => number; // the largest value allowed
    optional?: boolean; // undefined means the default
  }
  const scalarOffsets = (['Uint8', 'Int32', 'Uint32', 'Float64', 'BigInt64'] as const).flatMap((type) => {
    const width = { Uint8: 1, Int32: 4, Uint32: 4, Float64: 8, BigInt64: 8 }[type];
    const value = type === 'BigInt64' ? 1n : 1;
    return [
      [`get${type} offset`, { name: 'offset', call: (v: unknown) => loose()[`get${type}`](f.plain, v), max: () => 16 - width }],
      [`set${type} offset`, { name: 'offset', call: (v: unknown) => loose()[`set${type}`](f.plain, v, value), max: () => 16 - width }],
    ] as [string, IntegerArgument][];
  });
  const table: [string, IntegerArgument][] = [
    ['alloc size', { name: 'size', call: (v) => loose().alloc(v), max: () => MAX_DATA }],
    ['alloc slots', { name: 'slots', call: (v) => loose().alloc(8, v), max: () => MAX_SLOTS, optional: true }],
    ['alloc type', { name: 'type', call: (v) => loose().alloc(8, 0, v), max: () => 0, optional: true }],
    ['allocMany count', { name: 'count', call: (v) => loose().allocMany(v, 8), max: () => 2 ** 27 }],
    ['allocMany size', { name: 'size', call: (v) => loose().allocMany(2, v), max: () => MAX_DATA }],
    ['allocMany slots', { name: 'slots', call: (v) => loose().allocMany(2, 8, v), max: () => MAX_SLOTS, optional: true }],
    ['allocMany type', { name: 'type', call: (v) => loose().allocMany(2, 8, 0, v), max: () => 0, optional: true }],
    ['setRef slot', { name: 'slot', call: (v) => loose().setRef(f.slotted, v, f.empty), max: () => 1 }],
    ['getRef slot', { name: 'slot', call: (v) => loose().getRef(f.slotted, v), max: () => 1 }],
    ...scalarOffsets,
    ['write offset', { name: 'offset', call: (v) => loose().write(f.plain, v, new Uint8Array(0)), max: () => 16 }],
    ['read offset', { name: 'offset', call: (v) => loose().read(f.plain, v), max: () => 16, optional: true }],
    ['read length', { name: 'length', call: (v) => loose().read(f.plain, 0, v), max: () => 16, optional: true }],
    ['read length after an offset', { name: 'length', call: (v) => loose().read(f.plain, 5, v), max: () => 11, optional: true }],
    ['typeName type', { name: 'type', call: (v) => loose().typeName(v), max: () => 0 }],
  ];

  describe.each(table)('%s', (_label, arg) => {
    const wrongTypes: [string, unknown][] = arg.optional ? NOT_NUMBERS : [...NOT_NUMBERS, ['undefined', undefined]];
    it.each(wrongTypes)('%s → ERR_INVALID_ARG_TYPE', (_l, value) => {
      const error = expectFails(() => arg.call(value), TypeError, 'ERR_INVALID_ARG_TYPE');
      expect(error.message).toContain(`"${arg.name}"`);
    });

    it('non-integers, negatives and max + 1 → ERR_OUT_OF_RANGE', () => {
      const max = arg.max();
      for (const value of [...NOT_INTEGERS, max + 1, max + 0.5, max + 2 ** 20, 2 ** 32, 2 ** 53]) {
        const error = expectFails(() => arg.call(value), RangeError, 'ERR_OUT_OF_RANGE');
        expect(error.message, String(value)).toContain(`"${arg.name}"`);
      }
    });
  });

  it('slots of a block without slots: any slot → ERR_OUT_OF_RANGE, a non-number → ERR_INVALID_ARG_TYPE', () => {
    for (const ref of [f.plain, f.empty]) {
      for (const slot of [0, 1, -1, 0.5, MAX_SLOTS]) {
        expectFails(() => f.heap.getRef(ref, slot), RangeError, 'ERR_OUT_OF_RANGE');
        expectFails(() => f.heap.setRef(ref, slot, f.plain), RangeError, 'ERR_OUT_OF_RANGE');
        expectFails(() => f.heap.setRef(ref, slot, null), RangeError, 'ERR_OUT_OF_RANGE');
      }
      expectFails(() => loose().getRef(ref, '0'), TypeError, 'ERR_INVALID_ARG_TYPE');
    }
  });
});

describe('exact bounds', () => {
  it('alloc and allocMany take 2^30 data bytes and 2^24 slots, not one more', () => {
    const big = f.heap.alloc(MAX_DATA);
    expect(f.heap.sizeOf(big)).toBe(MAX_DATA);
    f.heap.release(big);
    const [bigToo] = f.heap.allocMany(1, MAX_DATA);
    f.heap.release(bigToo);
    const wide = f.heap.alloc(0, MAX_SLOTS);
    expect(f.heap.slotCount(wide)).toBe(MAX_SLOTS);
    f.heap.release(wide);
    expectFails(() => f.heap.alloc(MAX_DATA + 1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.alloc(0, MAX_SLOTS + 1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.alloc(MAX_DATA + 1, MAX_SLOTS + 1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.allocMany(1, MAX_DATA + 1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.allocMany(1, 0, MAX_SLOTS + 1), RangeError, 'ERR_OUT_OF_RANGE');
    expect(f.heap.stats().largeBlocks.count).toBe(1);
  });

  it('allocMany(0, ...) is an empty array; its arguments are still checked', () => {
    const before = snapshot(f.heap, f.refs);
    expect(f.heap.allocMany(0, 8)).toEqual(new Float64Array(0));
    expect(snapshot(f.heap, f.refs)).toEqual(before);
    expectFails(() => f.heap.allocMany(0, -1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.allocMany(0, 8, 0, 1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => loose().allocMany(0, '8'), TypeError, 'ERR_INVALID_ARG_TYPE');
  });

  it('type ids: the defined ones only, at most 256 types; a failed defineType defines nothing', () => {
    expectFails(() => f.heap.alloc(8, 0, 1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.typeName(1), RangeError, 'ERR_OUT_OF_RANGE');
    expect(f.heap.typeName(0)).toBe('block');
    for (let i = 1; i <= 255; i++) expect(f.heap.defineType(`t${i}`)).toBe(i);
    expect(f.heap.typeName(255)).toBe('t255');
    const last = f.heap.alloc(8, 0, 255);
    expect(f.heap.typeOf(last)).toBe(255);
    f.heap.release(last);
    expect(f.heap.allocMany(1, 8, 0, 255).length).toBe(1);
    expectFails(() => f.heap.defineType('one too many'), RangeError, 'ERR_OUT_OF_RANGE');
    for (const type of [256, 257, 2 ** 32]) {
      expectFails(() => f.heap.typeName(type), RangeError, 'ERR_OUT_OF_RANGE');
      expectFails(() => f.heap.alloc(8, 0, type), RangeError, 'ERR_OUT_OF_RANGE');
      expectFails(() => f.heap.allocMany(1, 8, 0, type), RangeError, 'ERR_OUT_OF_RANGE');
    }
    expect(f.heap.typeName(255)).toBe('t255');
  });

  it.each([0, 1, 3, 4, 7, 8, 9, 16, 1000])('scalars in a %i-byte block: offset size - width is the last allowed', (size) => {
    const ref = f.heap.alloc(size);
    f.refs.push(ref);
    const widths: [string, number, number | bigint][] = [
      ['Uint8', 1, 0xab],
      ['Int32', 4, -5],
      ['Uint32', 4, 0x89abcdef],
      ['Float64', 8, -1.25],
      ['BigInt64', 8, -(2n ** 62n) - 3n],
    ];
    for (const [type, width, value] of widths) {
      if (size >= width) {
        loose()[`set${type}`](ref, size - width, value);
        expect(loose()[`get${type}`](ref, size - width)).toBe(value);
      }
      for (const offset of size >= width ? [size - width + 1, size] : [0, size]) {
        expectFails(() => loose()[`get${type}`](ref, offset), RangeError, 'ERR_OUT_OF_RANGE');
        expectFails(() => loose()[`set${type}`](ref, offset, value), RangeError, 'ERR_OUT_OF_RANGE');
      }
    }
  });

  it.each([0, 1, 16, 1000])('write into a %i-byte block: up to the end, never past it', (size) => {
    const ref = f.heap.alloc(size);
    f.refs.push(ref);
    for (const n of [0, 1, size]) {
      if (n > size) continue;
      f.heap.write(ref, size - n, new Uint8Array(n).fill(7));
      expectFails(() => f.heap.write(ref, size - n + 1, new Uint8Array(n)), RangeError, 'ERR_OUT_OF_RANGE');
    }
    expectFails(() => f.heap.write(ref, 0, new Uint8Array(size + 1)), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.write(ref, size + 1, new Uint8Array(0)), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.write(ref, 0, new Float64Array(Math.floor(size / 8) + 1)), RangeError, 'ERR_OUT_OF_RANGE');
  });

  it.each([0, 1, 16, 1000])('read from a %i-byte block: offset up to size, length up to what is left', (size) => {
    const ref = f.heap.alloc(size);
    f.refs.push(ref);
    expect(f.heap.read(ref).length).toBe(size);
    expect(f.heap.read(ref, size).length).toBe(0);
    expect(f.heap.read(ref, 0, size).length).toBe(size);
    expect(f.heap.read(ref, undefined, size).length).toBe(size);
    expectFails(() => f.heap.read(ref, size + 1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.read(ref, 0, size + 1), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.read(ref, size, 1), RangeError, 'ERR_OUT_OF_RANGE');
    if (size >= 1) {
      expect(f.heap.read(ref, 1, size - 1).length).toBe(size - 1);
      expectFails(() => f.heap.read(ref, 1, size), RangeError, 'ERR_OUT_OF_RANGE');
    }
  });

  it('getRef and setRef take slot count - 1, not slot count', () => {
    expect(f.heap.getRef(f.slotted, 1)).toBe(null);
    f.heap.setRef(f.slotted, 1, f.empty);
    expect(f.heap.getRef(f.slotted, 1)).toBe(f.empty);
    expectFails(() => f.heap.setRef(f.slotted, 2, f.empty), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.getRef(f.slotted, 2), RangeError, 'ERR_OUT_OF_RANGE');
    expectFails(() => f.heap.getRef(f.large, 1), RangeError, 'ERR_OUT_OF_RANGE');
  });
});

describe('other arguments of the wrong type', () => {
  it('scalar setters want a number (BigInt64: a bigint) for the value', () => {
    for (const type of ['Uint8', 'Int32', 'Uint32', 'Float64']) {
      for (const [, value] of [...NOT_NUMBERS, ['undefined', undefined]]) {
        const error = expectFails(() => loose()[`set${type}`](f.plain, 0, value), TypeError, 'ERR_INVALID_ARG_TYPE');
        expect(error.message).toContain('"value"');
      }
    }
    for (const value of [1, 0, NaN, '1', null, undefined, {}, true, Symbol('x'), Object(1n)]) {
      const error = expectFails(() => loose().setBigInt64(f.plain, 0, value), TypeError, 'ERR_INVALID_ARG_TYPE');
      expect(error.message).toContain('"value"');
    }
  });

  it('write wants an ArrayBufferView', () => {
    for (const src of [new ArrayBuffer(4), [1, 2], '12', null, undefined, { length: 1, 0: 1 }, 5, 1n]) {
      const error = expectFails(() => loose().write(f.plain, 0, src), TypeError, 'ERR_INVALID_ARG_TYPE');
      expect(error.message).toContain('"src"');
    }
    // Every kind of view is accepted, with its byteOffset honoured.
    const bytes = Uint8Array.from({ length: 24 }, (_, i) => 100 + i);
    f.heap.write(f.plain, 0, new DataView(bytes.buffer, 4, 8));
    expect(Array.from(f.heap.read(f.plain, 0, 8))).toEqual(Array.from(bytes.subarray(4, 12)));
    f.heap.write(f.plain, 8, new Float64Array(bytes.buffer, 16, 1));
    expect(Array.from(f.heap.read(f.plain, 8, 8))).toEqual(Array.from(bytes.subarray(16, 24)));
    f.heap.write(f.plain, 2, Buffer.from([9, 9]));
    expect(f.heap.getUint8(f.plain, 3)).toBe(9);
  });

  it('releaseMany wants an array-like of numbers', () => {
    for (const refs of [5, '12', null, undefined, true, 1n, Symbol('x'), () => 1, {}, { length: -1 }, { length: 1.5 }, { length: '1' }, new Set([1])]) {
      expectFails(() => loose().releaseMany(refs), TypeError, 'ERR_INVALID_ARG_TYPE');
    }
    // A length the caller only claims is neither trusted nor allocated up front.
    const error = expectFails(() => loose().releaseMany({ length: 2 ** 32 - 1 }), TypeError, 'ERR_INVALID_ARG_TYPE');
    expect(error.message).toContain('"refs[0]"');
  });

  it('defineType wants a string name', () => {
    for (const [, name] of [...NOT_NUMBERS.filter(([, v]) => typeof v !== 'string'), ['a number', 1], ['undefined', undefined]]) {
      const error = expectFails(() => loose().defineType(name), TypeError, 'ERR_INVALID_ARG_TYPE');
      expect(error.message).toContain('"name"');
    }
    expectFails(() => f.heap.typeName(1), RangeError, 'ERR_OUT_OF_RANGE');
  });

  it('setRef wants a ref or null as the target, and changes nothing on a bad one', () => {
    const count = f.heap.refcount(f.plain);
    for (const target of [f.freed, f.foreign, NaN, f.plain + 1]) {
      expectFails(() => f.heap.setRef(f.slotted, 0, target), RefheapError, 'ERR_INVALID_REF');
    }
    for (const target of [undefined, '1', {}, 1n]) {
      expectFails(() => loose().setRef(f.slotted, 0, target), TypeError, 'ERR_INVALID_ARG_TYPE');
    }
    // A bad slot with a good target: the target's count must not move.
    expectFails(() => f.heap.setRef(f.slotted, 2, f.empty), RangeError, 'ERR_OUT_OF_RANGE');
    expect(f.heap.getRef(f.slotted, 0)).toBe(f.plain);
    expect(f.heap.refcount(f.plain)).toBe(count);
    expect(f.heap.refcount(f.empty)).toBe(1);
  });
});

describe('releaseMany', () => {
  /** Four blocks with two counts each, so releasing one does not free it. */
  function fourHeld(): number[] {
    const refs = Array.from({ length: 4 }, (_, i) => f.heap.alloc(8 + i, i % 2));
    for (const ref of refs) f.heap.retain(ref);
    f.refs.push(...refs);
    return refs;
  }

  it.each([0, 1, 3])('a non-number at position %i releases nothing', (k) => {
    for (const bad of ['1', null, undefined, {}, 1n, true]) {
      const list: unknown[] = fourHeld();
      list[k] = bad;
      const error = expectFails(() => loose().releaseMany(list), TypeError, 'ERR_INVALID_ARG_TYPE');
      expect(error.message).toContain(`"refs[${k}]"`);
    }
  });

  it('a hole in a sparse array is a non-number: nothing released', () => {
    const [a, b] = fourHeld();
    // eslint-disable-next-line no-sparse-arrays
    expectFails(() => loose().releaseMany([a, , b]), TypeError, 'ERR_INVALID_ARG_TYPE');
  });

  it.each([0, 1, 2, 3])('an invalid ref at position %i: index is set and the refs before it stay released', (k) => {
    for (const bad of [0, -1, NaN, 1.5, Infinity, f.freed, f.foreign, f.plain + 1]) {
      const held = fourHeld();
      const list = [...held];
      list[k] = bad;
      const before = held.map((ref) => f.heap.refcount(ref));
      const error = expectError(() => f.heap.releaseMany(list), RefheapError, 'ERR_INVALID_REF') as RefheapError;
      expect(error.index).toBe(k);
      expect(error.message).toContain(`Element ${k}`);
      held.forEach((ref, i) => {
        const expected = i < k ? before[i] - 1 : before[i];
        expect(f.heap.refcount(ref), `position ${i}`).toBe(expected);
      });
      expectConsistent(f.heap);
    }
  });

  it('an invalid ref in a Float64Array reports its index too', () => {
    const held = fourHeld();
    const list = Float64Array.from([held[0], held[1], NaN, held[3]]);
    const error = expectError(() => f.heap.releaseMany(list), RefheapError, 'ERR_INVALID_REF') as RefheapError;
    expect(error.index).toBe(2);
    expect(held.map((ref) => f.heap.refcount(ref))).toEqual([1, 1, 2, 2]);
  });

  it('an element getter that throws: its error, nothing released', () => {
    const [a, b] = fourHeld();
    const boom = new Error('boom');
    const list = { length: 2, 0: a, get 1(): number { throw boom; } };
    const before = snapshot(f.heap, f.refs);
    expect(() => f.heap.releaseMany(list)).toThrow(boom);
    expect(snapshot(f.heap, f.refs)).toEqual(before);
    expect(f.heap.refcount(b)).toBe(2);
  });

  it('an element getter that closes the heap: ERR_HEAP_CLOSED', () => {
    const list = { length: 2, 0: f.plain, get 1(): number { f.heap.close(); return f.empty; } };
    expectError(() => f.heap.releaseMany(list), RefheapError, 'ERR_HEAP_CLOSED');
    expect(f.heap.closed).toBe(true);
  });

  it('a ref listed twice whose block the first release frees is invalid the second time', () => {
    const a = f.heap.alloc(8);
    const b = f.heap.alloc(8);
    const error = expectError(() => f.heap.releaseMany([b, a, a]), RefheapError, 'ERR_INVALID_REF') as RefheapError;
    expect(error.index).toBe(2);
    expect(f.heap.stats().liveBlocks).toBe(4);
    expectConsistent(f.heap);
  });
});

describe('constructor options', () => {
  const cases: [string, unknown, typeof TypeError, string][] = [
    ['options: a string', 'x', TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['options: null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['options: a number', 1, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['name: a number', { name: 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['name: null', { name: null }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['maxBytes: a string', { maxBytes: '1' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['maxBytes: null', { maxBytes: null }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['maxBytes: a bigint', { maxBytes: 1n }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['maxBytes: -1', { maxBytes: -1 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxBytes: 1.5', { maxBytes: 1.5 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxBytes: NaN', { maxBytes: NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxBytes: Infinity', { maxBytes: Infinity }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['maxBytes: 2^53', { maxBytes: 2 ** 53 }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['thresholds: a number', { thresholds: 700 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['thresholds: null', { thresholds: null }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['thresholds: []', { thresholds: [] }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['thresholds: four', { thresholds: [1, 2, 3, 4] }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['thresholds: [undefined]', { thresholds: [undefined] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['thresholds: a string', { thresholds: ['700'] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['thresholds: null element', { thresholds: [700, null] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['thresholds: -1', { thresholds: [-1] }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['thresholds: 1.5', { thresholds: [700, 1.5] }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['thresholds: 2^31', { thresholds: [700, 10, 2 ** 31] }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['thresholds: NaN', { thresholds: [NaN] }, RangeError, 'ERR_OUT_OF_RANGE'],
    ['autoCollect: 1', { autoCollect: 1 }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['autoCollect: null', { autoCollect: null }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    ['publish: "yes"', { publish: 'yes' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ];

  it.each(cases)('%s', (_label, options, errorClass, code) => {
    const before = new Heap({ publish: false });
    expectError(() => new Heap(options as never), errorClass, code);
    // No heap was made: the next one gets the very next id.
    const after = new Heap({ publish: false });
    expect(after.id).toBe(before.id + 1);
    before.close();
    after.close();
  });

  it('words a bad option as the addon words a bad argument: one form for each value', () => {
    const heap = new Heap({ publish: false });
    const received = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return (error as Error).message.replace(/^.*Received /, '');
      }
      throw new Error('no error');
    };
    for (const value of [() => 1, true, false, 1n, Symbol('s'), 'a string longer than twenty-eight letters', {}, [], null]) {
      // options.name and autoCollect are checked in lib/heap.ts, alloc's size in the binding.
      const options = typeof value === 'string' ? { autoCollect: value } : { name: value };
      expect(received(() => new Heap({ publish: false, ...options } as never))).toBe(received(() => heap.alloc(value as never)));
    }
    expect(received(() => new Heap({ thresholds: [NaN] }))).toBe(received(() => heap.alloc(NaN)));
    heap.close();
  });

  it('argumentError, reached by loading the addon by hand, refuses what is not its own call', async () => {
    const { default: load } = await import('node-gyp-build');
    const addon = load(path.join(__dirname, '..')) as { argumentError: (...args: unknown[]) => Error };
    expectError(() => addon.argumentError(1, 'x', 'y'), TypeError, 'ERR_INVALID_ARG_TYPE');
    expectError(() => addon.argumentError('ERR_OTHER', 'x', 'y', 1), RangeError, 'ERR_OUT_OF_RANGE');
    const made = addon.argumentError('ERR_OUT_OF_RANGE', 'n'.repeat(100_000), 'y', 1);
    expect(made).toBeInstanceOf(RangeError);
    expect(made.message.length).toBeLessThan(400);  // a huge name is cut, not copied whole
  });

  it('accepts the extremes: maxBytes 2^53 - 1 and 0, thresholds 0 and 2^31 - 1, holes after the first', () => {
    for (const options of [
      { maxBytes: 2 ** 53 - 1 },
      { maxBytes: 0 },
      { thresholds: [0, 0, 0] },
      { thresholds: [2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1] },
      { thresholds: [5, undefined, 7] },
      { name: '', autoCollect: false, publish: false },
      undefined,
      {},
    ] as const) {
      const heap = new Heap(options as never);
      expect(heap.refcount(heap.alloc(8))).toBe(1);
      heap.close();
    }
  });
});

describe('scalar setters convert like DataView', () => {
  const numbers = [
    0, -0, 1, -1, 127, 128, 255, 256, -128, -129, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32 - 1, 2 ** 32,
    2 ** 32 + 5, -(2 ** 32) - 5, 1.9, -1.9, 0.5, -0.5, 255.999, 4294967296.7, -4294967296.7, 123456789.123, NaN,
    Infinity, -Infinity, 2 ** 53, 2 ** 53 - 1, -(2 ** 53), 2 ** 53 + 2, 2 ** 64, 2 ** 64 + 2 ** 12, 1e21, -1e21, 1e300,
    Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, Math.PI,
  ];
  const bigints = [
    0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, 2n ** 64n, 2n ** 64n + 1n, -(2n ** 63n) - 1n, -(2n ** 64n),
    2n ** 100n + 7n, -(2n ** 100n) - 7n, 0x0123456789abcdefn,
  ];
  const cases: [string, (number | bigint)[]][] = [
    ['Uint8', numbers],
    ['Int32', numbers],
    ['Uint32', numbers],
    ['Float64', numbers],
    ['BigInt64', bigints],
  ];

  it.each(cases)('set%s: the bytes and the value read back match DataView (little-endian, unaligned)', (type, values) => {
    const ref = f.heap.alloc(16);
    for (const value of values) {
      for (const offset of [0, 3]) {
        // Both start from the same bytes, so a write past its width would show.
        const expected = new DataView(new ArrayBuffer(16));
        for (let i = 0; i < 16; i++) expected.setUint8(i, 0xa0 + i);
        f.heap.write(ref, 0, new Uint8Array(expected.buffer));
        (expected as unknown as Record<string, Loose>)[`set${type}`](offset, value, true);
        loose()[`set${type}`](ref, offset, value);
        const label = `${type} ${String(value)} at ${offset}`;
        expect(Array.from(f.heap.read(ref)), label).toEqual(Array.from(new Uint8Array(expected.buffer)));
        const got = loose()[`get${type}`](ref, offset);
        expect(Object.is(got, (expected as unknown as Record<string, Loose>)[`get${type}`](offset, true)), label).toBe(true);
      }
    }
    f.heap.release(ref);
  });

  it('a few conversions spelled out', () => {
    const ref = f.heap.alloc(8);
    const check = (set: string, get: string, value: number | bigint, expected: number | bigint) => {
      loose()[set](ref, 0, value);
      expect(loose()[get](ref, 0), `${set}(${String(value)})`).toBe(expected);
    };
    check('setUint8', 'getUint8', -1, 255);
    check('setUint8', 'getUint8', 2 ** 32 + 5, 5);
    check('setUint8', 'getUint8', -1.9, 255);
    check('setUint8', 'getUint8', NaN, 0);
    check('setInt32', 'getInt32', 2 ** 31, -(2 ** 31));
    check('setInt32', 'getInt32', 1.9, 1);
    check('setInt32', 'getInt32', -1.9, -1);
    check('setUint32', 'getUint32', -1, 2 ** 32 - 1);
    check('setUint32', 'getUint32', Infinity, 0);
    check('setUint32', 'getUint32', 2 ** 53, 0);
    check('setBigInt64', 'getBigInt64', 2n ** 64n + 1n, 1n);
    check('setBigInt64', 'getBigInt64', -(2n ** 63n) - 1n, 2n ** 63n - 1n);
    check('setBigInt64', 'getBigInt64', 2n ** 63n, -(2n ** 63n));
    f.heap.release(ref);
  });
});

describe('a closed heap', () => {
  // Every member with good arguments and with bad ones; `r` is a ref taken before close().
  const calls: [string, unknown[][]][] = [
    ['alloc', [[8], [], ['x'], [-1], [8, 1, 99]]],
    ['allocMany', [[2, 8], [], [null, 8], [-1, -1]]],
    ['retain', [['r'], [], ['x'], [NaN]]],
    ['release', [['r'], [], [null], [0]]],
    ['releaseMany', [[['r']], [[]], [], [5], [['x']], [[NaN]]]],
    ['refcount', [['r'], [], [-1]]],
    ['setRef', [['r', 0, null], ['r', 0, 'r'], [], ['r', 9, 'x'], [0, 0, 0]]],
    ['getRef', [['r', 0], [], ['r', -1], ['x', 'y']]],
    ['slotCount', [['r'], [], [1.5]]],
    ['sizeOf', [['r'], [], [{}]]],
    ['typeOf', [['r'], [], [true]]],
    ...(['Uint8', 'Int32', 'Uint32', 'Float64'].flatMap((t) => [
      [`get${t}`, [['r', 0], [], ['r', 99], ['r', 'x']]],
      [`set${t}`, [['r', 0, 1], [], ['r', 99, 1], ['r', 0, 'x']]],
    ]) as [string, unknown[][]][]),
    ['getBigInt64', [['r', 0], [], ['r', -8]]],
    ['setBigInt64', [['r', 0, 1n], [], ['r', 0, 1]]],
    ['write', [['r', 0, new Uint8Array(1)], [], ['r', 0, 'x'], ['r', 99, new Uint8Array(1)]]],
    ['read', [['r'], ['r', 0, 1], [], ['r', 99], [null]]],
    ['view', [['r'], [], ['x']]],
    ['defineType', [['T'], [], [1]]],
    ['typeName', [[0], [], [999], ['x']]],
    ['trim', [[], [1]]],
    ['stats', [[], ['x']]],
    ['debugMallocStats', [[]]],
    ['_verify', [[]]],
    ['_failNthMapping', [[1], ['x']]],
  ];

  it('covers every member of Heap', () => {
    const heap = new Heap({ publish: false });
    const own = Object.keys(heap).filter((key) => typeof (heap as unknown as Record<string, unknown>)[key] === 'function');
    const inherited = Object.getOwnPropertyNames(Heap.prototype).filter(
      (key) => key !== 'constructor' && typeof Object.getOwnPropertyDescriptor(Heap.prototype, key)?.value === 'function',
    );
    const members = new Set([...own, ...inherited]);
    members.delete('close');
    expect(new Set(calls.map(([name]) => name))).toEqual(members);
    heap.close();
  });

  it.each(calls)('%s throws ERR_HEAP_CLOSED whatever its arguments', (member, argLists) => {
    const heap = new Heap({ publish: false });
    const r = heap.alloc(16, 1);
    heap.close();
    for (const args of argLists) {
      const resolved = args.map((a) => (a === 'r' ? r : Array.isArray(a) ? a.map((b) => (b === 'r' ? r : b)) : a));
      const error = expectError(
        () => (heap as unknown as Record<string, Loose>)[member](...resolved),
        RefheapError,
        'ERR_HEAP_CLOSED',
      );
      expect(error.name).toBe('RefheapError');
    }
  });

  it('close() and [Symbol.dispose]() a second time do nothing; views are detached; other heaps go on', () => {
    const heap = new Heap({ publish: false });
    const ref = heap.alloc(32);
    const view = heap.view(ref);
    expect(view.length).toBe(32);
    const id = heap.id;
    heap.close();
    expect(heap.closed).toBe(true);
    expect(view.length).toBe(0);
    expect(view.buffer.byteLength).toBe(0);
    expect(() => heap.close()).not.toThrow();
    expect(() => heap[Symbol.dispose]()).not.toThrow();
    expect(heap.closed).toBe(true);
    expect(heap.id).toBe(id);
    expectError(() => heap.refcount(ref), RefheapError, 'ERR_HEAP_CLOSED');
    // f.heap is another heap: untouched, its refs still good, and this ref invalid there.
    expect(f.heap.refcount(f.plain)).toBe(2);
    expectFails(() => f.heap.refcount(ref), RefheapError, 'ERR_INVALID_REF');
  });

  it('a heap closed by `using` is closed', () => {
    let escaped: Heap;
    {
      using heap = new Heap({ publish: false });
      heap.alloc(8);
      escaped = heap;
    }
    expect(escaped.closed).toBe(true);
    expectError(() => escaped.alloc(8), RefheapError, 'ERR_HEAP_CLOSED');
  });
});
