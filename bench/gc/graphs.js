'use strict';
// refheap's side of the cycle-collector benchmark (bench/gc/run.js runs it,
// next to bench/gc/graphs.py for CPython). Blocks: no data, 4 slots
// (heap.alloc(0, 4) / allocMany(N, 0, 4)), 48 bytes each.
//
// Usage:
//   node bench/gc/graphs.js collect --shape pairs|ring|random --n N [--reps R]
//       autoCollect: false; allocMany(N, 0, 4), link with setRef; time
//       heap.gc.collect() R times with everything alive (JavaScript holds one
//       count on every block, in the Float64Array allocMany returned);
//       releaseMany(refs); time one collect() that finds and frees the cycles.
//   node bench/gc/graphs.js auto --shape pairs|ring|random --n N
//       default thresholds, automatic collection on: build N blocks one by
//       one with heap.alloc(0, 4), linking as they come; report the
//       collections (count, max and total pause from heap.stats().gc.pauses
//       and from gc.callbacks' durationMs) and the build time. With --no-gc:
//       the same build on a heap with autoCollect: false (run.js runs it in
//       a process of its own).
//
// Prints one JSON object on stdout. Times in nanoseconds.
const path = require('node:path');

// The built package at the repository root, or the snapshot of it that
// bench/gc/run.js makes (so that a rebuild during the run changes nothing).
const { Heap } = require(process.env.REFHEAP_GC_BENCH_PACKAGE || path.join(__dirname, '..', '..'));

const SEED = 0x5eed;

/** xorshift32, as in lib/stress.ts; graphs.py has the same one. */
function makeRandom(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** All blocks first, then the links: the same graph as graphs.py's build(). */
function build(heap, n, shape) {
  const refs = heap.allocMany(n, 0, 4);
  if (shape === 'pairs') {
    for (let i = 0; i + 1 < n; i += 2) {
      heap.setRef(refs[i], 0, refs[i + 1]);
      heap.setRef(refs[i + 1], 0, refs[i]);
    }
  } else if (shape === 'ring') {
    for (let i = 0; i + 1 < n; i++) heap.setRef(refs[i], 0, refs[i + 1]);
    heap.setRef(refs[n - 1], 0, refs[0]);
  } else if (shape === 'random') {
    const random = makeRandom(SEED);
    for (let i = 0; i < n; i++) {
      for (let s = 0; s < 4; s++) heap.setRef(refs[i], s, refs[Math.floor(random() * n)]);
    }
  } else {
    throw new Error(`unknown shape ${shape}`);
  }
  return refs;
}

/** One block at a time, linked as it comes: graphs.py's build_incrementally(). */
function buildIncrementally(heap, n, shape) {
  const refs = new Float64Array(n);
  if (shape === 'pairs') {
    for (let i = 0; i + 1 < n; i += 2) {
      const x = heap.alloc(0, 4);
      const y = heap.alloc(0, 4);
      heap.setRef(x, 0, y);
      heap.setRef(y, 0, x);
      refs[i] = x;
      refs[i + 1] = y;
    }
  } else if (shape === 'ring') {
    const first = heap.alloc(0, 4);
    refs[0] = first;
    let prev = first;
    for (let i = 1; i < n; i++) {
      const o = heap.alloc(0, 4);
      heap.setRef(prev, 0, o);
      refs[i] = o;
      prev = o;
    }
    heap.setRef(prev, 0, first);
  } else if (shape === 'random') {
    const random = makeRandom(SEED);
    for (let i = 0; i < n; i++) {
      const o = heap.alloc(0, 4);
      refs[i] = o;
      const m = i + 1;
      for (let s = 0; s < 4; s++) heap.setRef(o, s, refs[Math.floor(random() * m)]);
    }
  }
  return refs;
}

function timedCollect(heap) {
  const t0 = process.hrtime.bigint();
  const found = heap.gc.collect();
  return [Number(process.hrtime.bigint() - t0), found];
}

function runCollect(n, shape, reps) {
  const heap = new Heap({ name: 'gc-bench', autoCollect: false, publish: false });
  let baseline = Infinity;
  for (let i = 0; i < 5; i++) baseline = Math.min(baseline, timedCollect(heap)[0]);
  const refs = build(heap, n, shape);
  const live = [];
  for (let r = 0; r < reps; r++) {
    const [ns, found] = timedCollect(heap);
    if (found !== 0) throw new Error(`live collection found ${found} unreachable blocks`);
    live.push(ns);
  }
  heap.releaseMany(refs);
  const liveAfterRelease = heap.stats().liveBlocks;
  const [garbageNs, found] = timedCollect(heap);
  const left = heap.stats().liveBlocks;
  if (left !== 0) throw new Error(`${left} blocks left after the collection`);
  heap.close();
  return {
    side: 'refheap', mode: 'collect', shape, n,
    baseline_ns: baseline, live_ns: Math.min(...live), live_all_ns: live,
    garbage_ns: garbageNs, garbage_found: found, live_after_release: liveAfterRelease,
  };
}

function runAuto(n, shape, noGc) {
  if (noGc) {
    const heap = new Heap({ name: 'gc-bench-off', autoCollect: false, publish: false });
    const t0 = process.hrtime.bigint();
    buildIncrementally(heap, n, shape);
    const buildNs = Number(process.hrtime.bigint() - t0);
    return { side: 'refheap', mode: 'auto', shape, n, gc: false, build_ns: buildNs };
  }
  const heap = new Heap({ name: 'gc-bench-auto', publish: false });
  const durations = [];
  heap.gc.callbacks.push((phase, info) => {
    if (phase === 'stop') durations.push(info.durationMs);
  });
  const t0 = process.hrtime.bigint();
  buildIncrementally(heap, n, shape);
  const buildNs = Number(process.hrtime.bigint() - t0);
  const stats = heap.stats().gc;
  return {
    side: 'refheap', mode: 'auto', shape, n, gc: true,
    collections: stats.generations.reduce((sum, g) => sum + g.collections, 0),
    generations: stats.generations.map((g) => g.collections),
    max_pause_ns: stats.pauses.maxMs * 1e6, total_pause_ns: stats.pauses.totalMs * 1e6,
    callbacks: durations.length,
    callbacks_max_pause_ns: Math.max(0, ...durations) * 1e6,
    callbacks_total_pause_ns: durations.reduce((a, b) => a + b, 0) * 1e6,
    build_ns: buildNs,
  };
}

function main() {
  const args = process.argv.slice(2);
  const mode = args[0];
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const shape = option('shape');
  const n = Number(option('n'));
  const reps = Number(option('reps', 3));
  if (!['pairs', 'ring', 'random'].includes(shape) || !(n >= 2)) {
    throw new Error('usage: graphs.js collect|auto --shape pairs|ring|random --n N [--reps R] [--no-gc]');
  }
  let result;
  if (mode === 'collect') result = runCollect(n, shape, reps);
  else if (mode === 'auto') result = runAuto(n, shape, args.includes('--no-gc'));
  else throw new Error(`unknown mode ${mode}`);
  result.node = process.version;
  console.log(JSON.stringify(result));
}

main();
