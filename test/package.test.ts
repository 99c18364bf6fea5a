/**
 * The package as users load it (SPEC section 2): `require('refheap')` and
 * `import('refheap')` from outside, through package.json's "exports", give
 * the same module; types come first in every condition.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectBuilt, expectExit, lastJson, ROOT, runNode } from './child';

const EXPECTED_CONSTANTS = {
  DEBUG_STATS: 1,
  DEBUG_COLLECTABLE: 2,
  DEBUG_UNCOLLECTABLE: 4,
  DEBUG_SAVEALL: 32,
  DEBUG_LEAK: 38,
};

/** Prints what a loaded module exposes; `m` is the module namespace or exports. */
const describeModule = `
  const shape = (m) => {
    const heap = new m.Heap({ name: 'loaded' });
    const ref = heap.alloc(8);
    heap.setUint8(ref, 0, 42);
    const out = {
      Heap: typeof m.Heap, RefheapError: typeof m.RefheapError,
      constants: { DEBUG_STATS: m.DEBUG_STATS, DEBUG_COLLECTABLE: m.DEBUG_COLLECTABLE, DEBUG_UNCOLLECTABLE: m.DEBUG_UNCOLLECTABLE, DEBUG_SAVEALL: m.DEBUG_SAVEALL, DEBUG_LEAK: m.DEBUG_LEAK },
      works: heap.getUint8(ref, 0) === 42 && heap.name === 'loaded',
      errorIsError: m.RefheapError.prototype instanceof Error,
    };
    heap.close();
    return out;
  };
`;

describe('package', () => {
  let consumer: string;

  beforeAll(() => {
    expectBuilt();
    // A project that depends on refheap, the way npm would install it.
    consumer = mkdtempSync(path.join(tmpdir(), 'refheap-consumer-'));
    mkdirSync(path.join(consumer, 'node_modules'));
    symlinkSync(ROOT, path.join(consumer, 'node_modules', 'refheap'), 'dir');
  });

  afterAll(() => {
    if (consumer) rmSync(consumer, { recursive: true, force: true });
  });

  for (const where of ['a dependent project', 'the package itself (self-reference)']) {
    const cwd = () => (where === 'a dependent project' ? consumer : ROOT);

    it(`require('refheap') from ${where} exposes the API`, () => {
      const result = runNode(`${describeModule} console.log(JSON.stringify(shape(require('refheap'))));`, { cwd: cwd() });
      expectExit(result, 0);
      expect(lastJson(result)).toEqual({ Heap: 'function', RefheapError: 'function', constants: EXPECTED_CONSTANTS, works: true, errorIsError: true });
    });

    it(`import('refheap') from ${where} exposes the API`, () => {
      const result = runNode(`${describeModule} const m = await import('refheap'); console.log(JSON.stringify(shape(m)));`, {
        cwd: cwd(),
        esm: true,
      });
      expectExit(result, 0);
      expect(lastJson(result)).toEqual({ Heap: 'function', RefheapError: 'function', constants: EXPECTED_CONSTANTS, works: true, errorIsError: true });
    });
  }

  it('the ES module and CommonJS entries are one module: one Heap, one RefheapError', () => {
    const result = runNode(
      `
      import { createRequire } from 'node:module';
      import * as esm from 'refheap';
      import esmDefault from 'refheap';
      const cjs = createRequire(import.meta.url)('refheap');
      const codeAndClass = (fn) => {
        try { fn(); return null; } catch (e) {
          return { code: e.code, esm: e instanceof esm.RefheapError, cjs: e instanceof cjs.RefheapError, name: e.name };
        }
      };
      const fromEsm = new esm.Heap();
      const fromCjs = new cjs.Heap();
      const out = {
        sameHeap: esm.Heap === cjs.Heap,
        sameError: esm.RefheapError === cjs.RefheapError,
        defaultIsCjs: esmDefault === cjs,
        sameNames: Object.keys(cjs).filter((k) => k !== '__esModule').sort().join() === Object.keys(esm).filter((k) => k !== 'default').sort().join(),
        invalidRefFromEsm: codeAndClass(() => fromEsm.refcount(12345)),
        invalidRefFromCjs: codeAndClass(() => fromCjs.refcount(12345)),
        closed: (fromCjs.close(), codeAndClass(() => fromCjs.alloc(1))),
        // The two entries' heaps are distinct heaps, as any two are.
        foreign: codeAndClass(() => new cjs.Heap().refcount(fromEsm.alloc(1))),
      };
      console.log(JSON.stringify(out));
      `,
      { esm: true, cwd: consumer },
    );
    expectExit(result, 0);
    const ok = (code: string) => ({ code, esm: true, cjs: true, name: 'RefheapError' });
    expect(lastJson(result)).toEqual({
      sameHeap: true,
      sameError: true,
      defaultIsCjs: true,
      sameNames: true,
      invalidRefFromEsm: ok('ERR_INVALID_REF'),
      invalidRefFromCjs: ok('ERR_INVALID_REF'),
      closed: ok('ERR_HEAP_CLOSED'),
      foreign: ok('ERR_INVALID_REF'),
    });
  });

  it('exposes nothing but "." and "./package.json"', () => {
    const result = runNode(
      `const tries = ['refheap/dist/heap.js', 'refheap/lib/heap', 'refheap/build/Release/refheap.node'].map((s) => {
         try { require(s); return 'loaded'; } catch (e) { return e.code; }
       });
       console.log(JSON.stringify({ tries, version: require('refheap/package.json').version }));`,
      { cwd: consumer },
    );
    expectExit(result, 0);
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(lastJson(result)).toEqual({ tries: Array(3).fill('ERR_PACKAGE_PATH_NOT_EXPORTED'), version: pkg.version });
  });

  it('package.json: "types" comes first in every condition, and every target exists', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.name).toBe('refheap');
    expect(pkg.types).toBe('./dist/index.d.ts');
    const conditions = pkg.exports['.'];
    expect(Object.keys(conditions)[0]).toBe('types');
    expect(conditions).toEqual({ types: './dist/index.d.ts', import: './dist/index.mjs', require: './dist/index.js' });
    for (const target of [pkg.main, pkg.types, ...Object.values(conditions)] as string[]) {
      expect(() => readFileSync(path.join(ROOT, target)), target).not.toThrow();
    }
    const declarations = readFileSync(path.join(ROOT, 'dist', 'index.d.ts'), 'utf8');
    for (const name of ['Heap', 'RefheapError', 'DEBUG_STATS', 'DEBUG_LEAK', 'Ref', 'HeapStats']) {
      expect(declarations).toContain(name);
    }
  });
});
