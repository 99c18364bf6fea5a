/**
 * The JavaScript re-entrancy fuzzer (scripts/fuzz-js.js), bounded: seeded
 * random programs whose finalizers, gc callbacks, debugOutput, argument
 * getters and traps, options getters and Array.prototype / Object.prototype
 * accessors call back into the whole API, checked after every step (the
 * heap's own _verify(), held counts, error classes and codes, failed calls
 * that change nothing, freed refs that stay invalid...). The programs run in
 * child processes, so a crash is reported with its seed instead of taking
 * vitest down.
 *
 * REFHEAP_JS_FUZZ_PROGRAMS scales it (programs per child; default 120, two
 * children: 5-40 s, as loaded as the machine is); REFHEAP_JS_FUZZ_SEED moves
 * the seeds. Unbounded: `node scripts/fuzz-js.js --seconds N`. Actions that
 * hit a known finding are off here (scripts/fuzz-js.js FLAGS).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ROOT, expectBuilt } from './child';

const require = createRequire(import.meta.url);

interface BatchResult {
  seed: number;
  programs: number;
  steps: number;
  calls: number;
  finalizers: number;
  callbacks: number;
  collections: number;
  failure?: { kind: string; seed: number; findings?: { kind: string; message: string }[] };
}

interface Driver {
  runBatch(args: object, seed: number, programs: number, timeoutMs: number): Promise<BatchResult>;
  formatFailure(args: object, failure: object): string;
}

const driver = require(`${ROOT}/scripts/fuzz-js.js`) as Driver;

const PROGRAMS = Number(process.env.REFHEAP_JS_FUZZ_PROGRAMS ?? 120);
const SEED = Number(process.env.REFHEAP_JS_FUZZ_SEED ?? 20240601) >>> 0;
// Deliberately broken expectations (the driver expects ERR_OUT_OF_RANGE where
// ERR_INVALID_ARG_TYPE is due), to see this test fail: REFHEAP_JS_FUZZ_BREAK=1.
const BREAK = process.env.REFHEAP_JS_FUZZ_BREAK === '1';
const CHILDREN = 2;
// A child that takes this long is reported as a hang (with the seed it was at).
const CHILD_TIMEOUT_MS = Math.max(120_000, PROGRAMS * 3_000);

function options(extra: object = {}): object {
  return { enable: [], hostile: false, breakCheck: BREAK, ...extra };
}

describe('JavaScript re-entrancy fuzzer (bounded)', () => {
  it(`${CHILDREN} children x ${PROGRAMS} programs: no crash, no finding`, async () => {
    expectBuilt();
    const args = options();
    const timeoutMs = CHILD_TIMEOUT_MS;
    const batches = await Promise.all(
      Array.from({ length: CHILDREN }, (_, i) => driver.runBatch(args, (SEED + i * 100_003) >>> 0, PROGRAMS, timeoutMs)),
    );
    const failures = batches.filter((b) => b.failure !== undefined).map((b) => driver.formatFailure(args, b.failure!));
    expect(failures.join('\n\n'), 'the fuzzer found something (seeds and replay commands above)').toBe('');
    const programs = batches.reduce((n, b) => n + b.programs, 0);
    const steps = batches.reduce((n, b) => n + b.steps, 0);
    expect(programs).toBe(CHILDREN * PROGRAMS);
    expect(steps).toBeGreaterThan(programs * 20);
    // The programs really do re-enter: finalizers, callbacks and collections ran.
    expect(batches.reduce((n, b) => n + b.finalizers, 0)).toBeGreaterThan(0);
    expect(batches.reduce((n, b) => n + b.callbacks, 0)).toBeGreaterThan(0);
    expect(batches.reduce((n, b) => n + b.collections, 0)).toBeGreaterThan(0);
  }, CHILD_TIMEOUT_MS + 30_000);

  it('catches a wrong error code: a driver that expects one fails, with its seed', async () => {
    expectBuilt();
    const args = options({ breakCheck: true, hostile: true });
    const result = await driver.runBatch(args, SEED, 3, 60_000);
    expect(result.failure?.kind).toBe('finding');
    expect(result.failure?.findings?.[0]?.kind).toBe('wrong-code');
    expect(driver.formatFailure(args, result.failure!)).toMatch(/replay: node .*fuzz-js\.js --child --seed \d+/);
  }, 120_000);

  it('reports a child that dies by a signal as a crash, with the seed of the program it was running', async () => {
    expectBuilt();
    const args = options({ selfCrash: true, breakCheck: false });
    const result = await driver.runBatch(args, SEED, 3, 60_000);
    expect(result.failure?.kind).toBe('crash');
    expect(result.failure?.seed).toBe((SEED + 1) >>> 0);
    expect(result.programs).toBe(1);
  }, 120_000);
});
