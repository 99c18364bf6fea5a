#!/usr/bin/env node
/**
 * `npm run soak -- [--minutes M | --seconds S] [--gib G] [--leak-every N]
 *                  [--seed N] [--samples FILE] [--no-page] [--json]`
 *
 * A long-running, checked workload: the reliability soak. It builds and
 * drops graphs on one heap, in cycles, for the given time, and fails (exit 1,
 * with the reason) when the heap's memory creeps, its counters disagree with
 * what the workload holds, or its invariants break. Exit 2 is a usage error.
 *
 * One cycle:
 *   build     graphs of every shape (pairs, ring, tree, random, chain, and one
 *             long chain held by its head) until the blocks allocated in this
 *             cycle hold about G GiB less the baseline (below). Blocks come in
 *             every size class, with and without slots, and large ones
 *             (> 512 bytes, a mapping each: about half the bytes), of three
 *             types: the built-in one, one with a finalizer (which checks the
 *             block and resurrects one block in 1009) and an uncollectable
 *             one. A quarter of the graphs are dropped as soon as they are
 *             built, so the automatic collector has cyclic garbage to find
 *             while the heap grows; every 16 graphs the uncollectable garbage
 *             is broken up (its slots emptied) and cleared, and resurrected
 *             blocks are released.
 *   peak      RSS is sampled ("peak phase"); the counters are checked against
 *             what the workload holds. In the warm-up cycles, heap._verify()
 *             then checks the whole heap. (Only then: it builds hash tables
 *             of about 80 bytes a block, and the malloc heap they leave
 *             behind can stay resident - 180 MiB at 1 GiB - from any cycle
 *             on, which would read as drift.)
 *   teardown  sampled blocks of every graph are checked (the marker in each
 *             node, the pattern in each payload), every graph is released,
 *             full collections run until no garbage and no resurrected block
 *             is left, trim() runs; then the heap must be back at its
 *             baseline exactly (liveBlocks, trackedBlocks, requestedBytes,
 *             allocatedBytes, large blocks, garbage, frozen), the cycle's
 *             allocations must match the workload's count and every block of
 *             the finalizer type allocated in the cycle must have been
 *             finalized exactly once. RSS is sampled ("trough phase") and
 *             heap._verify() runs.
 * The baseline is a frozen tree and ring with payloads (2 % of G, at most
 * 32 MiB) that lives through the whole run; at the end it is released and
 * the heap must be empty, with nothing mapped after trim().
 *
 * Every second, VmRSS (/proc/self/status) and heap.stats() are sampled and
 * checked (allocations - frees = liveBlocks, liveBlocks at least what the
 * workload holds, mapped >= allocated >= requested). Alongside, a second,
 * small heap (at most 20,000 blocks) gets a burst of the same kinds of work
 * every second and a heap._verify() every 5 seconds.
 *
 * Drift, precisely. Warm-up lasts until three cycles have completed and 10 %
 * of the run has passed, whichever is later; the cycles that start before
 * then are warm-up (the process's own memory - JIT code, the collector's
 * work lists, malloc's pools - settles within the first three). Let
 * W = min(60 s, (run length - end of warm-up) / 3). The reference is the
 * mean peak-phase RSS of the completed cycles that peak within W after
 * warm-up, the end value the same mean over the cycles that peak within the
 * last W of the run (the two sets are disjoint). A run with fewer than 3 completed cycles after warm-up
 * cannot be judged and fails as too short: run longer, or with less --gib.
 *   drift    = (end - reference) / reference                  (peak phase)
 *   retained = (end trough - reference trough) / reference     (trough phase,
 *              against the peak reference: memory that teardown stopped
 *              giving back, as a share of the working set)
 * Either above 5 % fails the run. Peak RSS is compared with peak RSS only,
 * trough with trough: RSS swings by G GiB within every cycle.
 *
 * The shapes are those of `refheap stress` (lib/stress.ts), written again
 * here on the public Heap API: lib/stress.ts exports only runStress(), whose
 * graphs are of one shape and one block size, with no payloads.
 *
 * --leak-every N tests the checker: every N-th payload block is kept (retained
 * and never released), as a leaking program would. The workload counts what
 * it keeps, so the counter checks still pass and the drift check must fail.
 *
 * Each cycle's RSS is that of the soak's own process, which the command
 * starts for it (see relaunch) and whose exit status it passes on.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { seededRandom } = require('../dist/random.js');
const { link } = require('../dist/stress.js');

// The soak runs in a child process whose memory moves only with refheap's:
// V8's young generation has its final size from the start (by default it
// doubles twice, by 24 MiB, at some cycle of the run), glibc's mmap threshold
// is fixed (by default it rises the first time a large buffer is freed, after
// which freed buffers stay resident), and the phase samples are taken right
// after a full V8 collection (--expose-gc).
const CHILD_FLAGS = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];
const CHILD_ENV = { REFHEAP_SOAK_CHILD: '1', MALLOC_MMAP_THRESHOLD_: String(128 * 1024) };

function relaunch() {
  const child = spawn(process.execPath, [...CHILD_FLAGS, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, ...CHILD_ENV },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
}

const USAGE = `usage: npm run soak -- [--minutes M | --seconds S] [--gib G] [--leak-every N]
                     [--seed N] [--samples FILE] [--no-page] [--json]
  --minutes M       run length in minutes (default 10)
  --seconds S       run length in seconds
  --gib G           live data at the peak of each cycle, in GiB (default 1)
  --leak-every N    keep every N-th payload block, to see the drift check fail
  --seed N          seed of the workload's random choices (default 1)
  --samples FILE    write the per-second samples there, one JSON object a line
  --no-page         no live statistics page (refheap ps/stat/show cannot see the soak)
  --json            end with the summary as one line of JSON
`;

const DRIFT_LIMIT = 0.05;
const WARMUP_CYCLES = 3;
const MiB = 2 ** 20;
const GiB = 2 ** 30;

// ---------------------------------------------------------------- arguments

function usageError(message) {
  process.stderr.write(`soak: ${message}\n${USAGE}`);
  process.exit(2);
}

function positiveNumber(name, text, { integer = false } = {}) {
  const value = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    usageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not ${JSON.stringify(text)}`);
  }
  return value;
}

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        minutes: { type: 'string' },
        seconds: { type: 'string' },
        gib: { type: 'string' },
        'leak-every': { type: 'string' },
        seed: { type: 'string' },
        samples: { type: 'string' },
        'no-page': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    usageError(error.message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (values.minutes !== undefined && values.seconds !== undefined) usageError('give --minutes or --seconds, not both');
  const seconds =
    values.seconds !== undefined ? positiveNumber('seconds', values.seconds)
    : values.minutes !== undefined ? positiveNumber('minutes', values.minutes) * 60
    : 600;
  return {
    seconds,
    gib: values.gib === undefined ? 1 : positiveNumber('gib', values.gib),
    leakEvery: values['leak-every'] === undefined ? 0 : positiveNumber('leak-every', values['leak-every'], { integer: true }),
    seed: values.seed === undefined ? 1 : positiveNumber('seed', values.seed, { integer: true }),
    samples: values.samples,
    publish: values['no-page'] !== true,
    json: values.json === true,
  };
}

// ------------------------------------------------------------------ helpers

/** Resident set size, from VmRSS in /proc/self/status. */
function vmRss() {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no VmRSS line in /proc/self/status');
  return Number(match[1]) * 1024;
}


/** A 32-bit mix of an id (murmur3's finalizer): what a node's payload is follows from its id. */
function mix(id) {
  let h = id >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
const count = (n) => n.toLocaleString('en-US');
const percent = (fraction) => `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(2)} %`;
const mean = (values) => values.reduce((sum, v) => sum + v, 0) / values.length;

class CheckFailed extends Error {}
function check(condition, message) {
  if (!condition) throw new CheckFailed(typeof message === 'function' ? message() : message);
}

// ----------------------------------------------------------------- workload

// Block layout (README): an 8-byte header, 16 with slots, then 8 bytes per
// slot, then the data; blocks up to 512 bytes come from the size classes.
const SMALL_LIMIT = 512;
const PATTERN_BYTES = 6 * MiB;
const LARGE_MAX = 2 * MiB;
const SHAPES = ['pairs', 'ring', 'tree', 'random', 'chain'];
const SHAPE_SLOTS = { pairs: 1, ring: 1, tree: 4, random: 3, chain: 1 };
const LONG_CHAIN = 50_000;
const RESURRECT_EVERY = 1009;
const CHUNK = 1 << 16; // refs per chunk of the ref store

class Soak {
  constructor(options) {
    this.options = options;
    this.random = seededRandom(options.seed);
    const { Heap } = require(path.join(__dirname, '..'));
    this.heap = new Heap({ name: 'soak', publish: options.publish });
    const heap = this.heap;
    this.pattern = new Uint8Array(PATTERN_BYTES);
    const words = new Uint32Array(this.pattern.buffer);
    const patternRandom = seededRandom(options.seed ^ 0x9e3779b9);
    for (let i = 0; i < words.length; i++) words[i] = (patternRandom() * 4294967296) >>> 0;

    this.problem = undefined; // the first failed check seen inside a callback
    this.finalized = 0; // in all
    this.finalizedInCycle = 0;
    this.resurrected = []; // refs the finalizer kept
    this.resurrectedTotal = 0;
    this.plain = 0;
    this.final = heap.defineType('SoakFinal', {
      finalize: (ref) => {
        this.finalized++;
        this.finalizedInCycle++;
        if (heap.getUint32(ref, 0) !== this.magic[this.final] || heap.typeOf(ref) !== this.final) {
          this.problem ??= `the finalizer was handed block ${ref}, which does not hold a SoakFinal node`;
        }
        if (this.finalized % RESURRECT_EVERY === 0) {
          this.resurrected.push(heap.retain(ref));
          this.resurrectedTotal++;
        }
      },
    });
    this.resource = heap.defineType('SoakResource', { uncollectable: true });
    this.magic = { [this.plain]: 0x504c4149, [this.final]: 0x46494e41, [this.resource]: 0x5245534f };

    this.pauses = { automaticMaxMs: 0, explicitMaxMs: 0 };
    this.explicit = false;
    heap.gc.callbacks.push((phase, info) => {
      if (phase !== 'stop') return;
      if (this.explicit) this.pauses.explicitMaxMs = Math.max(this.pauses.explicitMaxMs, info.durationMs);
      else this.pauses.automaticMaxMs = Math.max(this.pauses.automaticMaxMs, info.durationMs);
    });
    process.on('warning', (warning) => {
      if (warning.code === 'REFHEAP_CALLBACK_ERROR') this.problem ??= `a callback threw: ${warning.message}`;
    });

    this.nextId = 1;
    this.payloads = 0; // payload blocks made, for --leak-every
    this.leaked = []; // { ref, id }
    this.leakedBytes = 0; // requested bytes of the leaked blocks
    this.leakedLarge = 0;
    this.garbageCleared = 0;
    this.allocsInCycle = 0;
    this.finalBlocksInCycle = 0;
    this.held = 0; // blocks the kept graphs of this cycle hold (nodes and their payloads)
    this.chunks = [];
    this.chunkIndex = 0;
    this.chunkUsed = 0;

    this.samples = [];
    this.samplesOut = options.samples ? fs.openSync(options.samples, 'w') : undefined;
    this.cycles = []; // { index, start, peakAt, peakRss, troughRss, complete }
    this.verify = { count: 0, totalMs: 0, maxMs: 0 };
    this.side = { heap: new Heap({ name: 'soak-side' }), graphs: [], verifies: 0, nextBurst: 0, nextVerify: 5,
      random: seededRandom(options.seed ^ 0x51de) }; // its own PRNG: the main workload's choices stay those of the seed
  }

  now() {
    return (performance.now() - this.start) / 1000;
  }

  // ----- the ref store: chunks of refs, kept from cycle to cycle so the
  // JavaScript side's memory stays the same once the first cycle has grown it.
  place(n) {
    if (this.chunkIndex < this.chunks.length && this.chunkUsed + n > CHUNK) {
      this.chunkIndex++;
      this.chunkUsed = 0;
    }
    if (this.chunkIndex === this.chunks.length) this.chunks.push(new Float64Array(CHUNK));
    const start = this.chunkUsed;
    this.chunkUsed += n;
    return { refs: this.chunks[this.chunkIndex].subarray(start, start + n) };
  }

  resetStore() {
    for (let i = 0; i <= this.chunkIndex && i < this.chunks.length; i++) this.chunks[i].fill(0);
    this.chunkIndex = 0;
    this.chunkUsed = 0;
  }

  // ----- blocks
  /** The payload a node of this id has: its size, or -1 for none. Follows from the id alone. */
  payloadSize(id) {
    const h = mix(id);
    if ((h & 1) === 0) return -1;
    const r = (h >>> 1) % 4096;
    if (r < 60) {
      // large: log-uniform from 505 bytes to 256 KiB, a few up to 2 MiB
      const top = r === 0 ? LARGE_MAX : 256 * 1024;
      return Math.floor(505 * Math.pow(top / 505, ((h >>> 13) & 0xffff) / 0x10000)) + 1;
    }
    // small: one of the 32 size classes (an 8-byte header), anywhere inside it
    const sizeClass = 1 + ((h >>> 13) & 31);
    return Math.max(0, sizeClass * 16 - 8 - ((h >>> 18) & 15));
  }

  patternOffset(id, length) {
    return mix(id ^ 0xa5a5a5a5) % (PATTERN_BYTES - length + 1);
  }

  /** A node's data size: any size class its slots leave room for. */
  nodeSize(slots) {
    const sizeClass = 1 + Math.floor(this.random() * 32);
    return Math.max(8, sizeClass * 16 - 16 - 8 * slots);
  }

  /** Marks a node and gives it its payload (in its last slot). */
  fillNode(ref, type, slots) {
    const heap = this.heap;
    const id = this.nextId++;
    heap.setUint32(ref, 0, this.magic[type]);
    heap.setUint32(ref, 4, id);
    const size = this.payloadSize(id);
    if (size < 0) return 1;
    const payload = heap.alloc(size, 0, this.plain);
    this.allocsInCycle++;
    if (size > 0) {
      const offset = this.patternOffset(id, size);
      heap.write(payload, 0, this.pattern.subarray(offset, offset + size));
    }
    heap.setRef(ref, slots - 1, payload);
    this.payloads++;
    if (this.options.leakEvery !== 0 && this.payloads % this.options.leakEvery === 0) {
      // kept: counted with the leaked blocks, not with its graph
      this.leaked.push({ ref: payload, id });
      this.leakedBytes += size;
      if (8 + size > SMALL_LIMIT) this.leakedLarge++;
      return 1;
    }
    heap.release(payload);
    return 2;
  }

  checkPayload(payload, id, where) {
    const heap = this.heap;
    const size = this.payloadSize(id);
    check(size >= 0, () => `${where}: node ${id} has a payload it was never given`);
    check(heap.sizeOf(payload) === size, () => `${where}: the payload of node ${id} has ${heap.sizeOf(payload)} bytes, not ${size}`);
    if (size === 0) return;
    const offset = this.patternOffset(id, size);
    const span = Math.min(size, 32);
    for (const at of [0, size - span]) {
      const got = heap.read(payload, at, span);
      for (let i = 0; i < span; i++) {
        check(got[i] === this.pattern[offset + at + i], () => `${where}: byte ${at + i} of node ${id}'s payload changed`);
      }
    }
  }

  checkNode(ref, type, slots, where) {
    const heap = this.heap;
    check(heap.getUint32(ref, 0) === this.magic[type], () => `${where}: node ${ref} lost its marker`);
    check(heap.slotCount(ref) === slots, () => `${where}: node ${ref} has ${heap.slotCount(ref)} slots, not ${slots}`);
    const id = heap.getUint32(ref, 4);
    const payload = heap.getRef(ref, slots - 1);
    if (payload === null) check(this.payloadSize(id) < 0, () => `${where}: node ${id} lost its payload`);
    else this.checkPayload(payload, id, where);
  }

  // ----- graphs
  pickType() {
    const r = this.random();
    return r < 0.6 ? this.plain : r < 0.85 ? this.final : this.resource;
  }

  /** Builds one graph; returns what teardown needs to check and release it. */
  buildGraph(shape) {
    const heap = this.heap;
    const n = 256 + Math.floor(this.random() * 3841);
    const type = this.pickType();
    const slots = SHAPE_SLOTS[shape] + 1;
    const { refs } = this.place(n);
    let blocks = n;
    if (shape === 'random') {
      // one size for the whole graph: allocMany
      refs.set(heap.allocMany(n, this.nodeSize(slots), slots, type));
    } else {
      for (let i = 0; i < n; i++) refs[i] = heap.alloc(this.nodeSize(slots), slots, type);
    }
    this.allocsInCycle += n;
    if (type === this.final) this.finalBlocksInCycle += n;
    for (let i = 0; i < n; i++) blocks += this.fillNode(refs[i], type, slots) - 1;
    if (shape === 'chain') {
      for (let i = 0; i + 1 < n; i++) heap.setRef(refs[i], 0, refs[i + 1]);
    } else {
      link(heap, refs, shape, this.random, 3);
    }
    return { shape, type, slots, refs, blocks };
  }

  releaseGraph(graph) {
    // what JavaScript held goes; cyclic graphs stay until collected
    if (graph.kept) this.held -= graph.blocks;
    if (graph.shape === 'chain') {
      // tail first: the head's release then frees the whole chain in one go
      for (let i = graph.refs.length - 1; i >= 0; i--) this.heap.release(graph.refs[i]);
    } else {
      this.heap.releaseMany(graph.refs);
    }
  }

  /** A chain held by its head only: its release frees LONG_CHAIN blocks in one call. */
  buildLongChain() {
    const heap = this.heap;
    const head = heap.alloc(8, 1, this.plain);
    heap.setUint32(head, 0, this.magic[this.plain]);
    let previous = head;
    for (let i = 1; i < LONG_CHAIN; i++) {
      const node = heap.alloc(8, 1, this.plain);
      heap.setUint32(node, 0, this.magic[this.plain]);
      heap.setUint32(node, 4, i);
      heap.setRef(previous, 0, node);
      heap.release(node);
      previous = node;
    }
    this.allocsInCycle += LONG_CHAIN;
    return head;
  }

  checkLongChain(head) {
    let node = head;
    for (let i = 1; i < 200; i++) {
      node = this.heap.getRef(node, 0);
      check(node !== null && this.heap.getUint32(node, 4) === i, `the long chain lost its link ${i}`);
    }
  }

  /** Breaks the uncollectable garbage up (empties its slots) and clears it. */
  drainGarbage() {
    const heap = this.heap;
    const garbage = heap.gc.garbage;
    if (garbage.length === 0) return 0;
    for (const ref of garbage) {
      const slots = heap.slotCount(ref);
      for (let s = 0; s < slots; s++) if (heap.getRef(ref, s) !== null) heap.setRef(ref, s, null);
    }
    const cleared = heap.gc.clearGarbage();
    check(cleared === garbage.length, `clearGarbage() cleared ${cleared} blocks, gc.garbage had ${garbage.length}`);
    this.garbageCleared += cleared;
    return cleared;
  }

  releaseResurrected() {
    const kept = this.resurrected;
    this.resurrected = [];
    for (const ref of kept) {
      check(this.heap.gc.isFinalized(ref), `resurrected block ${ref} is not marked finalized`);
      this.heap.release(ref);
    }
  }

  collect() {
    this.explicit = true;
    try {
      return this.heap.gc.collect();
    } finally {
      this.explicit = false;
    }
  }

  /** Full collections until nothing is left to collect, clear or release. */
  collectAll() {
    for (let round = 0; round < 16; round++) {
      this.releaseResurrected();
      this.collect();
      const cleared = this.drainGarbage();
      if (cleared === 0 && this.resurrected.length === 0) return;
    }
    throw new CheckFailed('garbage or resurrected blocks were still coming after 16 full collections');
  }

  // ----- checks
  /** What must hold at any moment. */
  checkCounters(stats, where) {
    check(stats.allocations - stats.frees === stats.liveBlocks,
      () => `${where}: allocations - frees = ${stats.allocations - stats.frees}, but liveBlocks = ${stats.liveBlocks}`);
    const floor = this.baseline.liveBlocks + this.leaked.length + this.held + this.resurrected.length;
    check(stats.liveBlocks >= floor, () => `${where}: liveBlocks is ${stats.liveBlocks}, but the workload holds ${floor}`);
    check(stats.mappedBytes >= stats.allocatedBytes && stats.allocatedBytes >= stats.requestedBytes,
      () => `${where}: mapped ${stats.mappedBytes} / allocated ${stats.allocatedBytes} / requested ${stats.requestedBytes} out of order`);
    check(stats.gc.garbage <= stats.liveBlocks, () => `${where}: more garbage (${stats.gc.garbage}) than live blocks`);
  }

  /** After teardown: back at the baseline, exactly. */
  checkTrough(stats, cycle) {
    const where = `after cycle ${cycle}'s teardown`;
    const base = this.baseline;
    this.checkCounters(stats, where);
    const expect = (name, got, want) => check(got === want, () => `${where}: ${name} is ${got}, expected ${want}`);
    expect('liveBlocks', stats.liveBlocks, base.liveBlocks + this.leaked.length);
    expect('trackedBlocks', stats.trackedBlocks, base.trackedBlocks);
    expect('requestedBytes', stats.requestedBytes, base.requestedBytes + this.leakedBytes);
    if (this.leaked.length === 0) expect('allocatedBytes', stats.allocatedBytes, base.allocatedBytes);
    expect('largeBlocks.count', stats.largeBlocks.count, base.largeBlocks.count + this.leakedLarge);
    expect('gc.garbage', stats.gc.garbage, 0);
    expect('gc.frozen', stats.gc.frozen, base.gc.frozen);
    expect("the cycle's allocations", stats.allocations - this.lastTrough.allocations, this.allocsInCycle);
    expect('blocks finalized in the cycle', this.finalizedInCycle, this.finalBlocksInCycle);
    for (let i = 0; i < 8 && this.leaked.length > 0; i++) {
      const { ref, id } = this.leaked[Math.floor(this.random() * this.leaked.length)];
      this.checkPayload(ref, id, `${where}, leaked block`);
    }
    this.checkBaseline(where);
  }

  checkBaseline(where) {
    for (const graph of this.baselineGraphs) {
      for (let k = 0; k < 16; k++) this.checkNode(graph.refs[Math.floor(this.random() * graph.refs.length)], graph.type, graph.slots, `${where}, baseline`);
    }
  }

  runVerify(where) {
    const t = performance.now();
    const verdict = this.heap._verify();
    const ms = performance.now() - t;
    this.verify.count++;
    this.verify.totalMs += ms;
    this.verify.maxMs = Math.max(this.verify.maxMs, ms);
    check(verdict === '', () => `heap._verify() ${where}: ${verdict}`);
  }

  sample(phase, cycle) {
    const stats = this.heap.stats();
    const rss = vmRss();
    const t = this.now();
    const collections = stats.gc.generations.map((g) => g.collections);
    const { heapTotal, external, arrayBuffers } = process.memoryUsage();
    const record = {
      t: Number(t.toFixed(3)), phase, cycle, rss, heapTotal, external, arrayBuffers,
      mappedBytes: stats.mappedBytes, allocatedBytes: stats.allocatedBytes,
      liveBlocks: stats.liveBlocks, trackedBlocks: stats.trackedBlocks, collections,
    };
    this.samples.push(record);
    this.maxRss = Math.max(this.maxRss ?? 0, rss);
    if (this.samplesOut !== undefined) fs.writeSync(this.samplesOut, `${JSON.stringify(record)}\n`);
    this.checkCounters(stats, `sample at ${t.toFixed(1)} s (${phase})`);
    this.nextSample = t + 1;
    if (t >= this.nextProgress) {
      this.nextProgress = t + 10;
      process.stderr.write(`soak: ${t.toFixed(0)} s, cycle ${cycle}, ${phase}, RSS ${mib(rss)}, ${count(stats.liveBlocks)} blocks\n`);
    }
    return { stats, rss };
  }

  /** Samples once a second, and lets the event loop run (warnings, the stats page's timer). */
  async tick(phase, cycle) {
    if (this.now() >= this.side.nextBurst) this.sideWork();
    if (this.now() < this.nextSample) return;
    if (process.ppid !== this.parentPid) process.exit(1); // orphaned: whoever ran the soak is gone
    this.sample(phase, cycle);
    if (this.problem !== undefined) throw new CheckFailed(this.problem);
    await new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * The small heap's burst: a ring of 1,000 blocks of one size class with a
   * payload each, and a large block, in; the oldest ring out once there are
   * ten; a full collection every tenth burst; a full check every 5 seconds.
   */
  sideWork() {
    const side = this.side;
    const heap = side.heap;
    side.nextBurst = this.now() + 1;
    const size = Math.max(8, (1 + Math.floor(side.random() * 32)) * 16 - 32); // any size class, room for 2 slots
    const refs = heap.allocMany(1000, size, 2, 0);
    for (let i = 0; i < refs.length; i++) {
      heap.setRef(refs[i], 0, refs[(i + 1) % refs.length]);
      const payload = heap.alloc(Math.floor(side.random() * 400));
      heap.setRef(refs[i], 1, payload);
      heap.release(payload);
    }
    const large = heap.alloc(600 + Math.floor(side.random() * 64 * 1024));
    heap.setRef(refs[0], 1, large);
    heap.release(large);
    side.graphs.push(refs);
    if (side.graphs.length > 10) heap.releaseMany(side.graphs.shift());
    if (side.graphs.length % 10 === 0) heap.gc.collect();
    if (this.now() >= side.nextVerify) {
      const verdict = heap._verify();
      side.verifies++;
      side.nextVerify = this.now() + 5;
      check(verdict === '', () => `heap._verify() of the small heap at ${this.now().toFixed(1)} s: ${verdict}`);
      check(heap.stats().liveBlocks <= 2 * 1000 * 11 + 11 + 1000, () => `the small heap holds ${heap.stats().liveBlocks} blocks`);
    }
  }

  // ----- the run
  buildBaseline() {
    const heap = this.heap;
    const target = Math.min(32 * MiB, 0.02 * this.options.gib * GiB);
    this.baselineGraphs = [];
    const start = heap.stats().allocatedBytes;
    let shapeIndex = 0;
    const leakEvery = this.options.leakEvery;
    this.options.leakEvery = 0; // the baseline is kept anyway
    while (heap.stats().allocatedBytes - start < target || this.baselineGraphs.length < 2) {
      const graph = this.buildGraph(shapeIndex++ % 2 === 0 ? 'tree' : 'ring');
      if (graph.type === this.final) {
        // the baseline never dies: keep the finalizer type out of it
        heap.releaseMany(graph.refs);
        continue;
      }
      this.baselineGraphs.push(graph);
    }
    this.options.leakEvery = leakEvery;
    // The baseline's refs move to arrays of their own: the store is for cycles.
    for (const graph of this.baselineGraphs) graph.refs = Float64Array.from(graph.refs);
    this.resetStore();
    this.collectAll();
    this.finalizedInCycle = 0;
    heap.gc.freeze();
    this.baseline = heap.stats();
    this.lastTrough = this.baseline;
  }

  async runCycle(index) {
    const heap = this.heap;
    const cycle = { index, start: this.now(), complete: false };
    this.cycles.push(cycle);
    this.allocsInCycle = 0;
    this.finalBlocksInCycle = 0;
    this.finalizedInCycle = 0;
    const startBytes = this.lastTrough.allocatedBytes;
    const graphs = [];
    const chain = this.buildLongChain();
    this.held = LONG_CHAIN;
    let built = 0;
    // build
    for (;;) {
      if (this.now() >= this.options.seconds || this.stopping) break;
      const graph = this.buildGraph(SHAPES[built % SHAPES.length]);
      built++;
      if (this.random() < 0.25) {
        this.releaseGraph(graph); // dropped at once: work for the automatic collector
      } else {
        graph.kept = true;
        graphs.push(graph);
        this.held += graph.blocks;
      }
      if (built % 16 === 0) {
        this.drainGarbage();
        this.releaseResurrected();
      }
      if (built % 4 === 0 && heap.stats().allocatedBytes - startBytes >= this.cycleTarget) {
        cycle.complete = true;
        break;
      }
      await this.tick('build', index);
    }
    // peak
    if (cycle.complete) {
      global.gc();
      const { rss } = this.sample('peak', index);
      cycle.peakAt = this.now();
      cycle.peakRss = rss;
      if (index < WARMUP_CYCLES) this.runVerify(`at the peak of cycle ${index}`); // see the top of the file
    }
    // teardown
    cycle.teardownAt = this.now();
    this.checkLongChain(chain);
    for (const graph of graphs) {
      for (let k = 0; k < 4; k++) {
        this.checkNode(graph.refs[Math.floor(this.random() * graph.refs.length)], graph.type, graph.slots, `cycle ${index} teardown`);
      }
    }
    heap.release(chain);
    this.held -= LONG_CHAIN;
    // release in a different order each cycle
    if (index % 2 === 1) graphs.reverse();
    for (const graph of graphs) {
      this.releaseGraph(graph);
      await this.tick('teardown', index);
    }
    check(this.held === 0, () => `the workload's count of held blocks is ${this.held} after teardown`);
    this.resetStore();
    this.collectAll();
    heap.trim();
    const stats = heap.stats();
    this.checkTrough(stats, index);
    if (this.problem !== undefined) throw new CheckFailed(this.problem);
    this.lastTrough = stats;
    this.runVerify(`after cycle ${index}'s teardown`);
    global.gc();
    const { rss } = this.sample('trough', index);
    cycle.troughRss = rss;
    cycle.end = this.now();
  }

  finish() {
    const heap = this.heap;
    for (const graph of this.baselineGraphs) heap.releaseMany(graph.refs);
    heap.gc.unfreeze();
    this.collectAll();
    let stats = heap.stats();
    check(stats.liveBlocks === this.leaked.length,
      () => `after the baseline's release ${stats.liveBlocks} blocks are alive, the workload kept ${this.leaked.length}`);
    for (const { ref } of this.leaked) heap.release(ref);
    heap.trim();
    stats = heap.stats();
    check(stats.liveBlocks === 0 && stats.mappedBytes === 0,
      () => `at the end ${stats.liveBlocks} blocks are alive and ${stats.mappedBytes} bytes mapped, expected none`);
    this.runVerify('at the end');
    // the small heap: emptied, checked, closed
    const side = this.side.heap;
    for (const refs of this.side.graphs) side.releaseMany(refs);
    this.side.graphs = [];
    side.gc.collect();
    const left = side.stats().liveBlocks;
    check(left === 0, () => `the small heap holds ${left} blocks after its last release and a full collection`);
    check(side._verify() === '', () => `heap._verify() of the small heap at the end: ${side._verify()}`);
    side.close();
  }

  /** The drift figures (see the top of this file), or why they cannot be had. */
  drift() {
    const runLength = this.now();
    const completed = this.cycles.filter((c) => c.complete && c.troughRss !== undefined);
    const warmupEndsAt = Math.max(0.1 * this.options.seconds, completed.length >= WARMUP_CYCLES ? completed[WARMUP_CYCLES - 1].end : Infinity);
    const after = completed.filter((c) => c.start >= warmupEndsAt);
    const result = { warmupCycles: this.cycles.filter((c) => c.start < warmupEndsAt).length, cyclesAfterWarmup: after.length };
    if (after.length < 3) {
      return { ...result, problem: `${after.length} completed cycles after warm-up, 3 needed: run longer (--seconds, --minutes) or with less --gib` };
    }
    const window = Math.min(60, (runLength - warmupEndsAt) / 3);
    let reference = after.filter((c) => c.peakAt <= warmupEndsAt + window);
    if (reference.length === 0) reference = [after[0]];
    let end = after.filter((c) => c.peakAt >= runLength - window && !reference.includes(c));
    if (end.length === 0) end = [after[after.length - 1]];
    if (end.some((c) => reference.includes(c))) return { ...result, problem: 'too few cycles to compare the start with the end' };
    const referencePeak = mean(reference.map((c) => c.peakRss));
    const endPeak = mean(end.map((c) => c.peakRss));
    const referenceTrough = mean(reference.map((c) => c.troughRss));
    const endTrough = mean(end.map((c) => c.troughRss));
    return {
      ...result,
      windowSeconds: window,
      referenceCycles: reference.map((c) => c.index),
      endCycles: end.map((c) => c.index),
      rssWarmup: referencePeak,
      rssEnd: endPeak,
      drift: (endPeak - referencePeak) / referencePeak,
      troughWarmup: referenceTrough,
      troughEnd: endTrough,
      retained: (endTrough - referenceTrough) / referencePeak,
    };
  }

  async run() {
    const options = this.options;
    this.start = performance.now();
    this.nextSample = 0;
    this.nextProgress = 10;
    this.maxRss = 0;
    this.parentPid = process.ppid;
    process.once('SIGINT', () => { this.stopping = true; });
    let problem;
    try {
      this.rssStart = vmRss();
      this.buildBaseline();
      this.cycleTarget = options.gib * GiB - this.baseline.allocatedBytes;
      for (let index = 0; this.now() < options.seconds && !this.stopping; index++) await this.runCycle(index);
      this.finish();
    } catch (error) {
      if (error instanceof CheckFailed) {
        problem = error.message;
      } else {
        // the heap threw where it should not (or the workload has a bug): a failure too
        console.error(error);
        problem = `unexpected ${error?.name ?? 'error'}${error?.code ? ` (${error.code})` : ''}: ${error?.message ?? error}`;
      }
    }
    if (problem === undefined && this.problem !== undefined) problem = this.problem;
    const drift = this.drift();
    if (problem === undefined && drift.problem !== undefined) problem = `RSS drift not measured: ${drift.problem}`;
    if (problem === undefined && drift.drift > DRIFT_LIMIT) {
      problem = `RSS drifted ${percent(drift.drift)} at the peak of a cycle (limit ${percent(DRIFT_LIMIT)}): ` +
        `${mib(drift.rssWarmup)} after warm-up (cycles ${drift.referenceCycles.join(', ')}), ` +
        `${mib(drift.rssEnd)} at the end (cycles ${drift.endCycles.join(', ')})`;
    }
    if (problem === undefined && drift.retained > DRIFT_LIMIT) {
      problem = `RSS after teardown grew by ${percent(drift.retained)} of the working set (limit ${percent(DRIFT_LIMIT)}): ` +
        `${mib(drift.troughWarmup)} after warm-up, ${mib(drift.troughEnd)} at the end`;
    }
    const stats = this.heap.closed ? undefined : this.heap.stats();
    const summary = this.summary(stats, drift, problem);
    if (!this.heap.closed) this.heap.close();
    if (this.samplesOut !== undefined) fs.closeSync(this.samplesOut);
    return summary;
  }

  meanSeconds(span) {
    const done = this.cycles.filter((c) => c.complete && c.end !== undefined);
    return done.length === 0 ? 0 : Number(mean(done.map(span)).toFixed(2));
  }

  summary(stats, drift, problem) {
    const generations = stats ? stats.gc.generations.map((g) => g.collections) : [0, 0, 0];
    return {
      ok: problem === undefined,
      problem,
      seconds: Number(this.now().toFixed(1)),
      gib: this.options.gib,
      leakEvery: this.options.leakEvery,
      cycles: this.cycles.length,
      completedCycles: this.cycles.filter((c) => c.complete).length,
      warmupCycles: drift.warmupCycles,
      // mean seconds of a completed cycle's build (to its peak) and teardown
      buildSeconds: this.meanSeconds((c) => c.peakAt - c.start),
      teardownSeconds: this.meanSeconds((c) => c.end - c.teardownAt),
      blocksAllocated: stats?.allocations ?? 0,
      collections: generations.reduce((a, b) => a + b, 0),
      collectionsByGeneration: generations,
      peakMappedBytes: stats?.peakMappedBytes ?? 0,
      rssStart: this.rssStart,
      rssMax: this.maxRss,
      rssWarmup: drift.rssWarmup,
      rssEnd: drift.rssEnd,
      drift: drift.drift,
      driftProblem: drift.problem,
      rssTroughWarmup: drift.troughWarmup,
      rssTroughEnd: drift.troughEnd,
      retained: drift.retained,
      referenceCycles: drift.referenceCycles,
      endCycles: drift.endCycles,
      pauseMaxMs: stats?.gc.pauses.maxMs ?? 0,
      pauseAutomaticMaxMs: this.pauses.automaticMaxMs,
      pauseExplicitMaxMs: this.pauses.explicitMaxMs,
      verifyChecks: this.verify.count,
      sideVerifyChecks: this.side.verifies,
      verifyMaxMs: this.verify.maxMs,
      samples: this.samples.length,
      finalized: this.finalized,
      resurrected: this.resurrectedTotal,
      garbageCleared: this.garbageCleared,
      leaked: this.leaked.length,
    };
  }
}

function describe(s) {
  const lines = [
    `soak: ${s.seconds} s, ${s.cycles} cycles (${s.completedCycles} reached their peak of ${s.gib} GiB, ${s.warmupCycles} were warm-up); ` +
      `a cycle: ${s.buildSeconds} s to build, ${s.teardownSeconds} s to tear down`,
    `  ${count(s.blocksAllocated)} blocks allocated, ${count(s.collections)} collections (${s.collectionsByGeneration.map(count).join(' / ')} by generation), mapped peak ${mib(s.peakMappedBytes)}`,
  ];
  if (s.drift === undefined) {
    lines.push(`  RSS drift not measured: ${s.driftProblem}`);
  } else {
    lines.push(
      `  RSS at the peak of a cycle: ${mib(s.rssWarmup)} after warm-up (cycles ${s.referenceCycles.join(', ')}), ` +
        `${mib(s.rssEnd)} at the end (cycles ${s.endCycles.join(', ')}): drift ${percent(s.drift)} (limit ${percent(DRIFT_LIMIT)})`,
      `  RSS after teardown: ${mib(s.rssTroughWarmup)} after warm-up, ${mib(s.rssTroughEnd)} at the end: ${percent(s.retained)} of the working set`,
    );
  }
  lines.push(
    `  RSS at start ${mib(s.rssStart)}, max ${mib(s.rssMax)}; ${s.samples} samples`,
    `  max pause ${s.pauseMaxMs.toFixed(1)} ms (automatic collections ${s.pauseAutomaticMaxMs.toFixed(1)} ms, full collections at teardown ${s.pauseExplicitMaxMs.toFixed(1)} ms)`,
    `  ${s.verifyChecks} full heap checks (slowest ${s.verifyMaxMs.toFixed(0)} ms) and ${s.sideVerifyChecks} of the small heap; ${count(s.finalized)} finalized, ${s.resurrected} resurrected, ${count(s.garbageCleared)} uncollectable cleared, ${count(s.leaked)} leaked on purpose`,
    s.ok ? 'soak: every check passed' : `soak: FAILED: ${s.problem}`,
  );
  return lines.join('\n');
}

async function main() {
  const options = parseOptions(process.argv.slice(2));
  const soak = new Soak(options);
  const summary = await soak.run();
  console.log(describe(summary));
  if (options.json) console.log(JSON.stringify(summary));
  process.exitCode = summary.ok ? 0 : 1;
}

if (process.env.REFHEAP_SOAK_CHILD !== '1') {
  relaunch();
} else {
  main().catch((error) => {
    console.error(error);
    console.log('soak: FAILED: unexpected error');
    process.exitCode = 1;
  });
}
