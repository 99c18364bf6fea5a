/**
 * Fault sweeps (SPEC section 8): a scripted workload - small blocks of every
 * size class across many arenas, large blocks, slots and setRef, allocMany,
 * collections, trim, views and reads - is run once to count the OS mappings
 * it makes (no counter is exposed: see countMappings), then once per mapping
 * with that mapping failing (heap._failNthMapping). The OS layer has no other
 * injectable failure point (native/core/os.h). A second script does the same
 * under maxBytes, where some mappings come right after the full collection
 * that a request past the cap runs first. Each faulted run must:
 *
 *   - see exactly one ERR_OS_MEMORY, thrown by the failing call or caught by
 *     a finalizer whose own alloc failed; never a crash, never an uncoded
 *     error (the requests past maxBytes throw ERR_HEAP_LIMIT in every run,
 *     as they must);
 *   - leave heap._verify() at '' and every block the workload still
 *     references intact (size, slots, type, the pattern written into it, the
 *     blocks its slots point at);
 *   - stay usable: the failed step is retried and the rest of the script run,
 *     after which the heap must hold exactly what the fault-free run held
 *     (the same blocks, contents, slots and counts), and then allocate and
 *     free small and large blocks.
 *
 * The workload refers to blocks by the order the script makes them, so a
 * faulted run can be compared with the fault-free one block by block.
 *
 * Last, failures that are real: a child process with its address space
 * capped, where the OS refuses a mapping and V8 cannot get an ArrayBuffer.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Heap } from '../lib/index';
import { expectBuilt, requireBuilt, ROOT } from './child';
import { seededRandom } from './helpers';

const KiB = 1024;
const MiB = 2 ** 20;
const PATTERN_BYTES = 4 * MiB;
const PATTERN = (() => {
  const random = seededRandom(0xfa017);
  const words = new Uint32Array(PATTERN_BYTES / 4);
  for (let i = 0; i < words.length; i++) words[i] = (random() * 2 ** 32) >>> 0;
  return new Uint8Array(words.buffer);
})();
const PLAIN = 0;
const FINAL = 1; // defined first on every heap: id 1
const LOG_BYTES = 8;

/** Where block `id`'s pattern starts (a different one after a write through a view). */
const patternOffset = (id: number, size: number, version = 0) =>
  ((Math.imul(id + 1, 0x9e3779b1) ^ (version * 0x85ebca6b)) >>> 0) % (PATTERN_BYTES - size + 1);

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** What the model knows of one block the script made. */
interface Block {
  id: number;
  ref: number;
  size: number;
  slots: number;
  type: number;
  version: number;
  js: number; // counts JavaScript holds (alloc, views)
  targets: (number | null)[]; // ids
}

/** One call that may map (first), and what follows it; `kind` says what maps, for the report. */
type Step = { name: string; kind?: string; run: (w: Workload) => void; expect?: string };

/** A heap running the script, with the model of what it must hold. */
class Workload {
  readonly heap: Heap;
  readonly blocks = new Map<number, Block>(); // by id, every block made (live or not)
  readonly byRef = new Map<number, number>(); // ref -> id
  readonly views: Uint8Array[] = []; // kept referenced: a view's count goes only when V8 collects it
  readonly logs: number[] = []; // blocks finalizers made, each holding the id it logged
  readonly finalized = new Set<number>();
  readonly faults: { where: string; code: string }[] = [];
  readonly problems: string[] = [];
  limited = 0; // finalizer allocs refused for maxBytes
  step = ''; // the kind of step running
  readonly finalizedDuring: Record<string, number> = {};
  readonly fullCollectionsDuring: Record<string, number> = {};
  nextId = 0;

  constructor(options: { maxBytes?: number; autoCollect?: boolean; finalizerAllocates: 'keep' | 'temporary' }) {
    const heap = new Heap({ maxBytes: options.maxBytes, autoCollect: options.autoCollect, publish: false });
    this.heap = heap;
    const type = heap.defineType('Logged', {
      finalize: (ref) => {
        const id = this.byRef.get(ref);
        if (id === undefined) return void this.problems.push(`finalizer got ${ref}, which the script never made`);
        if (this.finalized.has(id)) this.problems.push(`block ${id} was finalized twice`);
        this.finalized.add(id);
        this.finalizedDuring[this.step] = (this.finalizedDuring[this.step] ?? 0) + 1;
        // A finalizer that allocates: its alloc may be the mapping that fails.
        // The fault fires once, so a retry succeeds.
        for (let attempt = 0; attempt < 2; attempt++) {
          try {
            const log = heap.alloc(LOG_BYTES, 0, PLAIN);
            heap.setUint32(log, 0, id);
            if (options.finalizerAllocates === 'keep') this.logs.push(log);
            else heap.release(log);
            return;
          } catch (error) {
            const code = codeOf(error);
            if (code !== 'ERR_OS_MEMORY' && code !== 'ERR_HEAP_LIMIT') {
              this.problems.push(`a finalizer's alloc threw ${String(error)}`);
              return;
            }
            if (code === 'ERR_HEAP_LIMIT') {
              // run by the pressure collection of a request past maxBytes: no room, no retry
              this.limited++;
              return;
            }
            this.faults.push({ where: 'finalizer', code });
          }
        }
      },
    });
    if (type !== FINAL) throw new Error(`expected type id ${FINAL}, got ${type}`);
    heap.gc.callbacks.push((phase, info) => {
      if (phase === 'start' && info.generation === 2) this.fullCollectionsDuring[this.step] = (this.fullCollectionsDuring[this.step] ?? 0) + 1;
    });
  }

  // ----- the operations the script is made of; each makes at most one mapping
  // call, first, so a step that throws has changed nothing and can be retried.
  private made(ref: number, size: number, slots: number, type: number): Block {
    const block: Block = { id: this.nextId++, ref, size, slots, type, version: 0, js: 1, targets: new Array(slots).fill(null) };
    this.blocks.set(block.id, block);
    this.byRef.set(ref, block.id);
    if (size > 0) {
      const offset = patternOffset(block.id, size);
      this.heap.write(ref, 0, PATTERN.subarray(offset, offset + size));
    }
    return block;
  }

  alloc(size: number, slots: number, type: number): void {
    this.made(this.heap.alloc(size, slots, type), size, slots, type);
  }

  allocMany(count: number, size: number, slots: number, type: number, keepEvery: number): void {
    const refs = this.heap.allocMany(count, size, slots, type);
    const dropped: number[] = [];
    refs.forEach((ref, i) => {
      const block = this.made(ref, size, slots, type);
      if (i % keepEvery !== 0) dropped.push(block.id);
    });
    this.heap.releaseMany(dropped.map((id) => this.blocks.get(id)!.ref));
    for (const id of dropped) this.blocks.get(id)!.js--;
  }

  /** A new block held only by `parent`'s slot. */
  allocChild(parent: number, slot: number, size: number): void {
    const child = this.made(this.heap.alloc(size, 0, PLAIN), size, 0, PLAIN);
    this.setRef(parent, slot, child.id);
    this.release(child.id);
  }

  setRef(id: number, slot: number, target: number | null): void {
    const block = this.blocks.get(id)!;
    this.heap.setRef(block.ref, slot, target === null ? null : this.blocks.get(target)!.ref);
    block.targets[slot] = target;
  }

  releaseMany(ids: number[]): void {
    this.heap.releaseMany(ids.map((id) => this.blocks.get(id)!.ref));
    for (const id of ids) this.blocks.get(id)!.js--;
  }

  release(id: number): void {
    const block = this.blocks.get(id)!;
    this.heap.release(block.ref);
    block.js--;
  }

  /** A view, kept; a new pattern written through it. */
  view(id: number): void {
    const block = this.blocks.get(id)!;
    const view = this.heap.view(block.ref);
    this.views.push(view);
    block.js++;
    block.version++;
    const offset = patternOffset(id, block.size, block.version);
    view.set(PATTERN.subarray(offset, offset + block.size));
  }

  // ----- checks
  /** The blocks JavaScript still reaches: held by it, or through slots of such blocks. */
  reachable(): Block[] {
    const seen = new Set<number>();
    const stack = [...this.blocks.values()].filter((b) => b.js > 0).map((b) => b.id);
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      for (const target of this.blocks.get(id)!.targets) if (target !== null) stack.push(target);
    }
    return [...seen].sort((a, b) => a - b).map((id) => this.blocks.get(id)!);
  }

  /** Every reachable block as the model says; the problems found (none: []). */
  intact(): string[] {
    const heap = this.heap;
    const found: string[] = [...this.problems];
    for (const block of this.reachable()) {
      const where = `block ${block.id} (${block.size} bytes, ${block.slots} slots)`;
      try {
        if (this.finalized.has(block.id)) found.push(`${where} is still referenced but was finalized`);
        if (heap.sizeOf(block.ref) !== block.size) found.push(`${where}: sizeOf ${heap.sizeOf(block.ref)}`);
        if (heap.slotCount(block.ref) !== block.slots) found.push(`${where}: slotCount ${heap.slotCount(block.ref)}`);
        if (heap.typeOf(block.ref) !== block.type) found.push(`${where}: typeOf ${heap.typeOf(block.ref)}`);
        const offset = patternOffset(block.id, block.size, block.version);
        if (Buffer.compare(heap.read(block.ref), PATTERN.subarray(offset, offset + block.size)) !== 0) found.push(`${where}: its data changed`);
        block.targets.forEach((target, slot) => {
          const want = target === null ? null : this.blocks.get(target)!.ref;
          if (heap.getRef(block.ref, slot) !== want) found.push(`${where}: slot ${slot} holds ${heap.getRef(block.ref, slot)}, not ${want}`);
        });
      } catch (error) {
        found.push(`${where}: ${String(error)}`);
      }
      if (found.length > 10) break;
    }
    for (const log of this.logs) {
      if (heap.sizeOf(log) !== LOG_BYTES || !this.finalized.has(heap.getUint32(log, 0))) found.push(`log block ${log} changed`);
    }
    return found;
  }

  /**
   * After a full collection: what the heap holds, by script order, for
   * comparing runs (refs differ from run to run, ids do not).
   */
  digest(): string {
    const heap = this.heap;
    const reachable = this.reachable();
    const lines = reachable.map((b) => `${b.id}:${b.size}:${b.slots}:${b.type}:${b.version}:${heap.refcount(b.ref)}:${b.targets.join(',')}`);
    const logged = this.logs.map((log) => heap.getUint32(log, 0)).sort((a, b) => a - b);
    const { liveBlocks, trackedBlocks, requestedBytes } = heap.stats();
    lines.push(`live ${liveBlocks} tracked ${trackedBlocks} requested ${requestedBytes}`);
    lines.push(`finalized ${[...this.finalized].sort((a, b) => a - b).join(',')}`, `logged ${logged.join(',')}`);
    return createHash('sha256').update(lines.join('\n')).digest('hex');
  }
}

/**
 * Writes a script: a deterministic list of steps. It keeps its own count of
 * the JavaScript holds (as the Workload's model does) so that it only ever
 * names blocks that are alive.
 */
class Script {
  readonly steps: Step[] = [];
  readonly held: number[] = []; // ids JavaScript holds once, in order made
  private readonly slotsOf = new Map<number, number>();
  private nextId = 0;
  readonly random = seededRandom(0x5ca1ab1e);

  pick<T>(list: T[]): T {
    return list[Math.floor(this.random() * list.length)];
  }

  private make(slots: number): number {
    this.slotsOf.set(this.nextId, slots);
    return this.nextId++;
  }

  private static kind(call: string, size: number, slots: number): string {
    return `${call}, ${(slots > 0 ? 16 : 8) + 8 * slots + size > 512 ? 'large' : 'small'}`;
  }

  /** A data size that keeps a block with `slots` slots in a size class. */
  smallSize(slots: number): number {
    return Math.floor(this.random() * (512 - (slots > 0 ? 16 : 8) - 8 * slots + 1));
  }

  large(): number {
    return 513 + Math.floor(this.random() ** 3 * 300 * KiB);
  }

  step(name: string, run: (w: Workload) => void, more: Partial<Step> = {}): void {
    this.steps.push({ name, run, ...more });
  }

  alloc(size: number, slots: number, type: number): number {
    const id = this.make(slots);
    this.held.push(id);
    this.step(`alloc(${size}, ${slots}, ${type})`, (w) => w.alloc(size, slots, type), { kind: Script.kind('alloc', size, slots) });
    return id;
  }

  /** Keeps every `keepEvery`-th block; returns the ids kept. */
  allocMany(count: number, size: number, slots: number, type: number, keepEvery: number): number[] {
    const kept: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = this.make(slots);
      if (i % keepEvery === 0) kept.push(id);
    }
    this.held.push(...kept);
    this.step(`allocMany(${count}, ${size}, ${slots}, ${type})`, (w) => w.allocMany(count, size, slots, type, keepEvery), {
      kind: Script.kind('allocMany', size, slots),
    });
    return kept;
  }

  private withSlots(): number[] {
    return this.held.filter((id) => this.slotsOf.get(id)! > 0);
  }

  /** Random setRefs among held blocks: chains, cycles, self-references, some emptied slots. */
  link(times: number): void {
    const parents = this.withSlots();
    for (let i = 0; i < times; i++) {
      const a = this.pick(parents);
      const slot = Math.floor(this.random() * this.slotsOf.get(a)!);
      const b = this.random() < 0.1 ? null : this.pick(this.held);
      this.step(`setRef(${a}, ${slot}, ${b})`, (w) => w.setRef(a, slot, b));
    }
  }

  /** Blocks held only by a slot of a held block. */
  child(times: number, size: () => number): void {
    const parents = this.withSlots();
    for (let i = 0; i < times; i++) {
      const parent = this.pick(parents);
      const slot = Math.floor(this.random() * this.slotsOf.get(parent)!);
      const bytes = size();
      this.make(0);
      this.step(`allocChild(${parent}, ${slot}, ${bytes})`, (w) => w.allocChild(parent, slot, bytes), { kind: Script.kind('alloc', bytes, 0) });
    }
  }

  release(ids: number[]): void {
    const set = new Set(ids);
    this.held.splice(0, this.held.length, ...this.held.filter((id) => !set.has(id)));
    this.step(`releaseMany(${ids.length} blocks)`, (w) => w.releaseMany(ids));
  }

  dropSome(fraction: number): void {
    for (let i = this.held.length - 1; i >= 0; i--) {
      if (this.random() >= fraction) continue;
      const [id] = this.held.splice(i, 1);
      this.step(`release(${id})`, (w) => w.release(id));
    }
  }

  /** Pairs of blocks pointing at each other (slot 0), dropped: cyclic garbage. */
  garbagePairs(ids: number[]): void {
    for (let i = 0; i + 1 < ids.length; i += 2) {
      const [a, b] = [ids[i], ids[i + 1]];
      this.step(`setRef(${a}, 0, ${b})`, (w) => w.setRef(a, 0, b));
      this.step(`setRef(${b}, 0, ${a})`, (w) => w.setRef(b, 0, a));
    }
    this.release(ids);
  }

  collect(generation: number): void {
    this.step(`collect(${generation})`, (w) => void w.heap.gc.collect(generation));
  }

  trim(): void {
    this.step('trim()', (w) => void w.heap.trim());
  }

  view(id: number): void {
    this.step(`view(${id})`, (w) => w.view(id));
  }
}

/** The main script: every kind of block and operation, across many arenas. */
function mainScript(): Step[] {
  const s = new Script();
  const { random } = s;
  // Small blocks of every size class, with and without slots, plain and finalized.
  for (let i = 0; i < 1500; i++) {
    const slots = Math.floor(random() * 4);
    s.alloc(s.smallSize(slots), slots, random() < 0.3 ? FINAL : PLAIN);
  }
  s.link(800);
  s.allocMany(2200, 496, 0, PLAIN, 2); // 1 MiB in one call: across an arena boundary
  for (let i = 0; i < 6; i++) s.allocMany(1000, 240 + 40 * i, 1, i % 2 === 0 ? PLAIN : FINAL, 1 + i);
  // Single allocs that fill arenas one after another; all but the first few
  // are released, so the arenas go back to the OS and the next round maps again.
  for (let round = 0; round < 2; round++) {
    const made: number[] = [];
    for (let i = 0; i < 2100; i++) made.push(s.alloc(496 - 16 * round - (i % 8), 0, PLAIN)); // more than an arena's worth
    s.release(made.slice(50));
  }
  for (let i = 0; i < 16; i++) s.alloc(s.large(), Math.floor(random() * 3), PLAIN);
  s.child(16, () => s.large()); // large blocks held by slots only
  s.dropSome(0.5); // cycles among the dropped become garbage
  s.collect(2);
  s.trim();
  for (let i = 0; i < 1500; i++) {
    const slots = Math.floor(random() * 2);
    s.alloc(s.smallSize(slots), slots, random() < 0.3 ? FINAL : PLAIN);
  }
  s.allocMany(3000, 200, 2, FINAL, 3);
  s.link(400);
  s.child(400, () => Math.floor(random() * 500));
  s.dropSome(0.4);
  s.trim();
  for (let i = 0; i < 800; i++) {
    const slots = Math.floor(random() * 3);
    s.alloc(s.smallSize(slots), slots, random() < 0.3 ? FINAL : PLAIN);
  }
  for (let i = 0; i < 12; i++) s.view(s.pick(s.held));
  s.allocMany(5, 100_000, 1, PLAIN, 2); // large blocks through allocMany
  s.link(500);
  s.collect(0);
  s.dropSome(0.6);
  s.collect(1);
  s.trim();
  s.allocMany(2000, 496, 0, PLAIN, 4); // into the pools trim() emptied
  s.child(300, () => Math.floor(random() * 500));
  s.dropSome(0.3);
  return s.steps;
}

/**
 * Under maxBytes, with automatic collection off: requests that fit only
 * once the pressure collection (finalizers included) has freed cyclic
 * garbage, so the mapping after it is one of those that fail; and requests
 * that cannot fit at all (ERR_HEAP_LIMIT).
 */
function limitScript(maxBytes: number): Step[] {
  const s = new Script();
  const { random } = s;
  for (let i = 0; i < 800; i++) {
    const slots = Math.floor(random() * 3);
    s.alloc(s.smallSize(slots), slots, PLAIN);
  }
  s.link(300);
  for (let i = 0; i < 8; i++) s.alloc(200 * KiB + Math.floor(random() * 100 * KiB), 1, PLAIN); // 2 MiB kept
  for (let round = 0; round < 3; round++) {
    // 2.5 MiB of garbage: large and small blocks in cycles, finalized
    const large: number[] = [];
    for (let i = 0; i < 6; i++) large.push(s.alloc(300 * KiB + Math.floor(random() * 100 * KiB), 1, FINAL));
    s.garbagePairs(large);
    s.garbagePairs(s.allocMany(1000, 300, 1, FINAL, 1));
    // fits only after the pressure collection
    const big = s.alloc(0.6 * maxBytes, 0, PLAIN);
    s.step(`alloc(${maxBytes}) past maxBytes`, (w) => w.alloc(maxBytes, 0, PLAIN), { kind: 'past maxBytes', expect: 'ERR_HEAP_LIMIT' });
    s.release([big]);
    s.dropSome(0.3);
    for (let i = 0; i < 300; i++) s.alloc(s.smallSize(1), 1, PLAIN);
    s.link(100);
  }
  s.trim();
  return s.steps;
}

/** Runs steps from `from`; stops at the first error. */
function runSteps(w: Workload, steps: Step[], from: number): { stoppedAt: number; code?: string; error?: unknown } {
  for (let i = from; i < steps.length; i++) {
    const step = steps[i];
    w.step = step.kind ?? step.name;
    try {
      step.run(w);
      if (step.expect !== undefined) return { stoppedAt: i, error: new Error(`${step.name} should have thrown ${step.expect}`) };
    } catch (error) {
      if (step.expect !== undefined && codeOf(error) === step.expect) continue; // the outcome the script asked for
      return { stoppedAt: i, code: codeOf(error), error };
    }
  }
  return { stoppedAt: steps.length };
}

/** After the whole script: one full collection, then the heap must hold what the model says. */
function finish(w: Workload, context = 'the fault-free run'): string {
  w.heap.gc.collect();
  expect(w.heap._verify(), context).toBe('');
  expect(w.intact(), context).toEqual([]);
  expect(w.heap.stats().liveBlocks, `${context}: liveBlocks`).toBe(w.reachable().length + w.logs.length);
  return w.digest();
}

/** The heap still works: small and large blocks, one by one and in bulk. */
function expectUsable(heap: Heap): void {
  const small = heap.alloc(100, 1);
  const big = heap.alloc(200 * KiB);
  const many = heap.allocMany(1000, 496);
  heap.setRef(small, 0, big);
  heap.write(big, 200 * KiB - 4, Uint8Array.of(1, 2, 3, 4));
  expect(Array.from(heap.read(big, 200 * KiB - 4))).toEqual([1, 2, 3, 4]);
  heap.releaseMany(many);
  heap.release(big);
  heap.release(small);
  expect(heap._verify()).toBe('');
}

/**
 * How many mappings the script makes (no counter is exposed): arm the fault
 * `ahead` mappings away, run the script without it firing, then count the
 * page-sized large blocks (one mapping each) that can still be made before
 * it fires. If it fired during the script, try again further ahead.
 */
function countMappings(make: () => Workload, steps: Step[]): number {
  for (let ahead = 512; ahead <= 65_536; ahead *= 2) {
    const w = make();
    w.heap._failNthMapping(ahead);
    const outcome = runSteps(w, steps, 0);
    if (outcome.error !== undefined || w.faults.length > 0) {
      expect(outcome.error === undefined || outcome.code === 'ERR_OS_MEMORY', String(outcome.error)).toBe(true);
      w.heap.close();
      continue;
    }
    const probes: number[] = [];
    for (;;) {
      try {
        probes.push(w.heap.alloc(1024));
      } catch (error) {
        expect(codeOf(error)).toBe('ERR_OS_MEMORY');
        break;
      }
    }
    w.heap.releaseMany(probes);
    w.heap.close();
    return ahead - (probes.length + 1);
  }
  throw new Error('the script makes more than 65,536 mappings');
}

interface SweepReport {
  peakMappedBytes: number;
  finalizedDuring: Record<string, number>; // in the fault-free run
  fullCollectionsDuring: Record<string, number>; // likewise
  limited: number;
  mappings: number;
  runs: number;
  byCode: Record<string, number>;
  where: Record<string, number>;
}

function sweep(make: () => Workload, steps: Step[]): SweepReport {
  // the fault-free run: what every faulted run must end up holding
  const reference = make();
  const clean = runSteps(reference, steps, 0);
  expect(clean.error, String(clean.error)).toBeUndefined();
  const want = finish(reference);
  const peakMappedBytes = reference.heap.stats().peakMappedBytes;
  reference.heap.close();

  const mappings = countMappings(make, steps);
  expect(mappings).toBeGreaterThan(20);
  const report: SweepReport = { peakMappedBytes, finalizedDuring: reference.finalizedDuring, fullCollectionsDuring: reference.fullCollectionsDuring, limited: reference.limited, mappings, runs: 0, byCode: {}, where: {} };
  for (let n = 1; n <= mappings; n++) {
    const w = make();
    w.heap._failNthMapping(n);
    const first = runSteps(w, steps, 0);
    const context = `mapping ${n} of ${mappings} failing, stopped at step ${first.stoppedAt} ` +
      `(${steps[first.stoppedAt]?.name ?? 'the end'}): ${String(first.error)}`;
    // one coded error: thrown by the failing step, or caught in a finalizer
    if (first.error !== undefined) {
      expect(first.code, context).toBe('ERR_OS_MEMORY');
      const step = steps[first.stoppedAt];
      w.faults.push({ where: step.kind ?? step.name, code: first.code! });
    }
    expect(w.faults.length, context).toBe(1);
    report.byCode[w.faults[0].code] = (report.byCode[w.faults[0].code] ?? 0) + 1;
    report.where[w.faults[0].where] = (report.where[w.faults[0].where] ?? 0) + 1;
    // nothing lost, nothing broken
    expect(w.heap._verify(), context).toBe('');
    expect(w.intact(), context).toEqual([]);
    // still usable: retry the failed step, run the rest, and end where the fault-free run ended
    if (first.error !== undefined) {
      const rest = runSteps(w, steps, first.stoppedAt);
      expect(rest.error, `${context}; then the retry: ${String(rest.error)}`).toBeUndefined();
    }
    expect(finish(w, context), `${context}: what the heap holds at the end`).toBe(want);
    expectUsable(w.heap);
    w.heap.close();
    report.runs++;
  }
  return report;
}

describe('fault sweep: every OS mapping of a scripted workload fails once', () => {
  it('without a limit: one ERR_OS_MEMORY per run, nothing lost, the heap usable and the same as without the fault', () => {
    const steps = mainScript();
    const report = sweep(() => new Workload({ finalizerAllocates: 'keep' }), steps);
    console.log(`fault sweep (no limit): ${report.runs} mapping failures swept; peak mapped ${report.peakMappedBytes}`, report.where);
    expect(report.runs).toBe(report.mappings);
    expect(report.byCode).toEqual({ ERR_OS_MEMORY: report.mappings });
    for (const kind of ['alloc, small', 'alloc, large', 'allocMany, small', 'allocMany, large']) {
      expect(report.where[kind], kind).toBeGreaterThan(0);
    }
  });

  it('under maxBytes: mappings right after a pressure collection (whose finalizers allocate), and requests past the cap', () => {
    const maxBytes = 10 * MiB;
    const steps = limitScript(maxBytes);
    const report = sweep(() => new Workload({ maxBytes, autoCollect: false, finalizerAllocates: 'temporary' }), steps);
    console.log(`fault sweep (maxBytes ${maxBytes}): ${report.runs} mapping failures swept`, report.where,
      'full collections by step:', report.fullCollectionsDuring, 'blocks finalized by step:', report.finalizedDuring);
    expect(report.runs).toBe(report.mappings);
    expect(report.byCode).toEqual({ ERR_OS_MEMORY: report.mappings });
    // the large requests that fit only after a pressure collection, which ran finalizers
    expect(report.fullCollectionsDuring['alloc, large']).toBeGreaterThanOrEqual(3);
    expect(report.finalizedDuring['alloc, large']).toBeGreaterThan(0);
    expect(report.fullCollectionsDuring['past maxBytes']).toBe(3);
  });

  it('a mapping that fails inside an allocating finalizer is caught there, the collection goes on', () => {
    // the finalizer runs inside release(); its alloc needs a new arena, which fails
    const w = new Workload({ finalizerAllocates: 'keep' });
    const perPool = Math.floor((16384 - 48) / 512);
    w.allocMany(1, 8, 1, FINAL, 1); // a 32-byte block: the first pool of the arena
    w.allocMany(63 * perPool, 496, 0, PLAIN, 1); // the other 63 pools, full
    // the log block (16 bytes) needs a pool, so an arena: the mapping that fails
    w.heap._failNthMapping(1);
    w.release(0);
    expect(w.faults).toEqual([{ where: 'finalizer', code: 'ERR_OS_MEMORY' }]);
    expect(w.finalized.has(0)).toBe(true);
    expect(w.logs.length).toBe(1); // the retry made it
    expect(w.heap._verify()).toBe('');
    expect(w.intact()).toEqual([]);
    w.heap.close();
  });
});

/**
 * Real allocation failures, in a child process whose address space is
 * capped (ulimit -v) at what node needs plus 1.8 GiB: one 1 GiB block fits,
 * a second is refused by the OS, a 512 MiB one fits, and about 300 MiB are
 * left for V8 (which ends the process when it cannot grow its own heap).
 * Then refheap calls that make V8 objects are tried, against what plain
 * JavaScript does when an ArrayBuffer cannot be allocated.
 */
const CHILD = `
${requireBuilt()}
const MiB = 2 ** 20, GiB = 2 ** 30;
const heap = new refheap.Heap({ publish: false });
if (process.argv[1] === 'size') {
  process.stdout.write(/VmSize:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1] + '\\n');
  process.exit(0);
}
const out = {};
const attempt = (fn) => { try { fn(); return 'ok'; } catch (e) { return e.constructor.name + (e.code ? ' ' + e.code : ''); } };
const keep = heap.alloc(100, 1);
heap.write(keep, 0, Uint8Array.of(1, 2, 3));
const big = heap.alloc(GiB); // never touched but for two bytes: address space only
heap.write(big, GiB - 2, Uint8Array.of(4, 5));
out.second = attempt(() => heap.alloc(GiB));
out.half = attempt(() => heap.alloc(GiB / 2));
out.verify = heap._verify();
out.kept = Array.from(heap.read(keep, 0, 3)).join() + '/' + Array.from(heap.read(big, GiB - 2)).join();
out.usable = attempt(() => heap.release(heap.alloc(10 * MiB)));
out.jsBuffer = attempt(() => new Uint8Array(GiB)); // what plain JavaScript does
out.view = attempt(() => heap.view(big));
out.stats = attempt(() => heap.stats());
process.stdout.write(JSON.stringify(out) + '\\n');
const call = process.argv[1];
if (call === 'read') out.call = attempt(() => heap.read(big)); // a 1 GiB Uint8Array
if (call === 'allocMany') out.call = attempt(() => heap.allocMany(2 ** 27 - 1, 0)); // a 1 GiB Float64Array
if (call) process.stdout.write(JSON.stringify({ call: out.call, verify: heap._verify() }) + '\\n');
`;

let capKiB = 0;
function underAddressCap(call: string) {
  if (capKiB === 0) {
    const size = spawnSync(process.execPath, ['-e', CHILD, 'size'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(size.status, size.stderr).toBe(0);
    capKiB = Number(size.stdout.trim()) + (1.8 * 2 ** 30) / 1024;
  }
  const result = spawnSync('/bin/sh', ['-c', `ulimit -v ${Math.round(capKiB)} && exec "$0" "$@"`, process.execPath, '-e', CHILD, call], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const context = `status ${result.status}, signal ${result.signal}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr.slice(0, 3000)}`;
  const lines = result.stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line));
  return { result, context, lines };
}

describe('allocation failures for real: a child process with its address space capped', () => {
  it('a mapping the OS refuses throws ERR_OS_MEMORY; the heap stays consistent and usable; view() and stats() still work', () => {
    expectBuilt();
    const { result, context, lines } = underAddressCap('');
    expect(result.status, context).toBe(0);
    expect(lines[0], context).toEqual({
      second: 'RefheapError ERR_OS_MEMORY',
      half: 'ok',
      verify: '',
      kept: '1,2,3/4,5',
      usable: 'ok',
      jsBuffer: 'RangeError', // "Array buffer allocation failed"
      view: 'ok',
      stats: 'ok',
    });
  });

  // A result buffer made with napi_create_arraybuffer (v8::ArrayBuffer::New)
  // ends the process when its memory is refused ("FATAL ERROR:
  // v8::ArrayBuffer::New Allocation failed - process out of memory"), where
  // `new Uint8Array(n)` throws a RangeError: so it did until 55d11c2
  // (issue 9.5) gave results of 64 KiB and more calloc'd memory.
  it.each(['read', 'allocMany'])('%s(): a result buffer that cannot be allocated throws a coded error, the process lives on', (call) => {
    const { result, context, lines } = underAddressCap(call);
    expect(result.status, context).toBe(0);
    expect(lines[1]?.call, context).toMatch(/^\w*Error ERR_[A-Z_]+$/);
    expect(lines[1]?.verify).toBe('');
  });
});
