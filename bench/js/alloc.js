'use strict';
// Speed of refheap's calls from JavaScript, against baselines measured in the
// same run: an empty Node-API call (the floor of any native call), Buffer,
// DataView, plain V8 objects. Run with `node --expose-gc bench/js/alloc.js`
// (the V8 collection section needs gc()); `--quick` for fewer repetitions.
//
// Every ns/op figure is the best of several interleaved repetitions (the
// median is printed next to it); ratios are between figures of this run.
const { loadRefheap, measure, ns, ms, ratio, table, settle, machine } = require('./common');

const { refheap, nativeNoop } = loadRefheap();
const quick = process.argv.includes('--quick');
const REPS = quick ? 3 : 9;
const OPS = quick ? 100_000 : 300_000;
const BATCH = 100_000;
const RECORDS = 1_000_000;
const DATA = 56; // + the 8-byte block header = one 64-byte block

const heap = new refheap.Heap({ name: 'bench-alloc' });
const noop = nativeNoop;

/** One empty Node-API call: the baseline several sections measure against. */
const NOOP_CASE = {
  name: 'nativeNoop() x1',
  ops: OPS,
  run(n) {
    for (let i = 0; i < n; i++) noop();
    return 0;
  },
};

console.log(`# refheap from JavaScript: calls (${machine()})`);
console.log(`# ${OPS} ops per repetition, best of ${REPS} interleaved repetitions (median in brackets)\n`);

function row(r, ...baselines) {
  return [r.name, ns(r.best), `[${ns(r.median)}]`, ...baselines.map((b) => ratio(r.best, b.best))];
}

// ---------------------------------------------------------------- 1. alloc + release
{
  const held = new Float64Array(OPS);
  const results = measure(
    [
      NOOP_CASE,
      {
        name: 'nativeNoop() x2',
        ops: OPS,
        run(n) {
          for (let i = 0; i < n; i++) {
            noop();
            noop();
          }
          return 0;
        },
      },
      {
        name: 'Buffer.allocUnsafe(64)',
        ops: OPS,
        run(n) {
          let b;
          for (let i = 0; i < n; i++) b = Buffer.allocUnsafe(64);
          return b.length;
        },
      },
      {
        name: 'heap.alloc(56) + heap.release(ref)',
        ops: OPS,
        run(n) {
          let sum = 0;
          for (let i = 0; i < n; i++) {
            const ref = heap.alloc(DATA);
            heap.release(ref);
            sum += ref;
          }
          return sum;
        },
      },
      {
        name: 'heap.alloc(56) alone (N live)',
        ops: OPS,
        run(n) {
          for (let i = 0; i < n; i++) held[i] = heap.alloc(DATA);
          return held[0];
        },
        teardown() {
          heap.releaseMany(held);
        },
      },
      {
        name: 'heap.release(ref) alone (N live)',
        ops: OPS,
        setup() {
          held.set(heap.allocMany(OPS, DATA));
        },
        run(n) {
          for (let i = 0; i < n; i++) heap.release(held[i]);
          return 0;
        },
      },
    ],
    { reps: REPS },
  );
  const [noop1, noop2, buffer] = results;
  console.log('## 1. One 64-byte block: alloc + release\n');
  console.log(
    table([
      ['case', 'ns/op', '[median]', 'vs 1 noop', 'vs 2 noops', 'vs Buffer.allocUnsafe(64)'],
      ...results.map((r) => row(r, noop1, noop2, buffer)),
    ]),
  );
  const pair = results[3];
  console.log(
    `\npair: ${ns(pair.best)} ns (target <= 50 ns: ${pair.best <= 50 ? 'met' : 'NOT met'}); ` +
      `the pair's floor (2 empty calls) is ${ns(noop2.best)} ns, so ${ns(pair.best - noop2.best)} ns is refheap's own work\n`,
  );
}

// ---------------------------------------------------------------- 1b. the live statistics page
// Every heap above publishes its page (the default). The same pair on a
// heap that does not shows what keeping the page current costs each call.
{
  const unpublished = new refheap.Heap({ name: 'bench-alloc-unpublished', publish: false });
  // Two copies of the loop, so each call site sees one heap's functions only.
  const [off, on] = measure(
    [
      {
        name: 'pair, publish: false',
        ops: OPS,
        run(n) {
          let sum = 0;
          for (let i = 0; i < n; i++) {
            const ref = unpublished.alloc(DATA);
            unpublished.release(ref);
            sum += ref;
          }
          return sum;
        },
      },
      {
        name: 'pair, publish: true',
        ops: OPS,
        run(n) {
          let sum = 0;
          for (let i = 0; i < n; i++) {
            const ref = heap.alloc(DATA);
            heap.release(ref);
            sum += ref;
          }
          return sum;
        },
      },
    ],
    { reps: REPS },
  );
  console.log('## 1b. Keeping the live statistics page current\n');
  console.log(table([['case', 'ns/op', '[median]', 'vs publish: false'], row(off, off), row(on, off)]));
  console.log(`\nthe page costs ${ns(on.best - off.best)} ns per pair (best of ${REPS})\n`);
  unpublished.close();
}

// ---------------------------------------------------------------- 2. batches
{
  let refs = null;
  let plain = null;
  // A heap whose arenas stay mapped: one pinned block in every 4096 keeps
  // each arena non-empty, so allocMany reuses resident pools instead of
  // mapping (and page-faulting) fresh arenas as it does on an empty heap.
  const warm = new refheap.Heap({ name: 'bench-alloc-warm' });
  const seed = warm.allocMany(BATCH, DATA);
  warm.releaseMany(seed.filter((_, i) => i % 4096 !== 0));
  const results = measure(
    [
      {
        name: 'new Float64Array(100k) (per element)',
        ops: BATCH,
        run(n) {
          return new Float64Array(n)[0];
        },
      },
      {
        name: 'heap.allocMany(100k, 56) (per block)',
        ops: BATCH,
        run(n) {
          refs = heap.allocMany(n, DATA);
          return refs[0];
        },
        teardown() {
          heap.releaseMany(refs);
          refs = null;
        },
      },
      {
        name: 'heap.allocMany(100k, 56), arenas already mapped',
        ops: BATCH,
        run(n) {
          refs = warm.allocMany(n, DATA);
          return refs[0];
        },
        teardown() {
          warm.releaseMany(refs);
          refs = null;
        },
      },
      {
        name: 'heap.releaseMany(Float64Array) (per block)',
        ops: BATCH,
        setup() {
          refs = heap.allocMany(BATCH, DATA);
        },
        run() {
          heap.releaseMany(refs);
          return 0;
        },
        teardown() {
          refs = null;
        },
      },
      {
        name: 'heap.releaseMany(Array) (per block)',
        ops: BATCH,
        setup() {
          plain = Array.from(heap.allocMany(BATCH, DATA));
        },
        run() {
          heap.releaseMany(plain);
          return 0;
        },
        teardown() {
          plain = null;
        },
      },
      {
        name: '100k x heap.alloc(56) in a loop (per block)',
        ops: BATCH,
        run(n) {
          refs = new Float64Array(n);
          for (let i = 0; i < n; i++) refs[i] = heap.alloc(DATA);
          return refs[0];
        },
        teardown() {
          heap.releaseMany(refs);
          refs = null;
        },
      },
    ],
    { reps: REPS },
  );
  const [floor, many, warmMany, relMany] = results;
  warm.close();
  console.log('## 2. Batches of 100,000 blocks of 64 bytes\n');
  console.log(
    table([
      ['case', 'ns/block', '[median]', 'vs Float64Array element', 'vs allocMany'],
      ...results.map((r) => row(r, floor, many)),
    ]),
  );
  console.log(
    `\nallocMany: ${ns(many.best)} ns/block (target <= 10 ns: ${many.best <= 10 ? 'met' : 'NOT met'}); ` +
      `with arenas already mapped: ${ns(warmMany.best)} ns/block; releaseMany: ${ns(relMany.best)} ns/block\n`,
  );
}

// ---------------------------------------------------------------- 3. scalars and slots
{
  const ref = heap.alloc(DATA);
  const node = heap.alloc(8, 1);
  const target = heap.alloc(8, 1);
  const dv = new DataView(new ArrayBuffer(64));
  const obj = { next: null, value: 0 };
  const other = { next: null, value: 1 };
  const results = measure(
    [
      NOOP_CASE,
      {
        name: 'DataView.getUint32',
        ops: OPS,
        run(n) {
          let s = 0;
          for (let i = 0; i < n; i++) s += dv.getUint32(8, true);
          return s;
        },
      },
      {
        name: 'heap.getUint32',
        ops: OPS,
        run(n) {
          let s = 0;
          for (let i = 0; i < n; i++) s += heap.getUint32(ref, 8);
          return s;
        },
      },
      {
        name: 'DataView.setUint32',
        ops: OPS,
        run(n) {
          for (let i = 0; i < n; i++) dv.setUint32(8, i, true);
          return dv.getUint32(8, true);
        },
      },
      {
        name: 'heap.setUint32',
        ops: OPS,
        run(n) {
          for (let i = 0; i < n; i++) heap.setUint32(ref, 8, i);
          return 0;
        },
      },
      {
        name: 'heap.getFloat64',
        ops: OPS,
        run(n) {
          let s = 0;
          for (let i = 0; i < n; i++) s += heap.getFloat64(ref, 16);
          return s;
        },
      },
      {
        name: 'heap.setFloat64',
        ops: OPS,
        run(n) {
          for (let i = 0; i < n; i++) heap.setFloat64(ref, 16, i);
          return 0;
        },
      },
      {
        name: 'JS property store (obj.next = other)',
        ops: OPS,
        run(n) {
          for (let i = 0; i < n; i++) obj.next = i & 1 ? other : null;
          return 0;
        },
      },
      {
        name: 'heap.setRef(ref, 0, target)',
        ops: OPS,
        run(n) {
          for (let i = 0; i < n; i++) heap.setRef(node, 0, target);
          return 0;
        },
      },
      {
        name: 'heap.getRef(ref, 0)',
        ops: OPS,
        run(n) {
          let s = 0;
          for (let i = 0; i < n; i++) s += heap.getRef(node, 0);
          return s;
        },
      },
    ],
    { reps: REPS },
  );
  const [noop1, dvGet] = results;
  console.log('## 3. Scalar access and slots\n');
  console.log(
    table([['case', 'ns/op', '[median]', 'vs 1 noop', 'vs DataView.getUint32'], ...results.map((r) => row(r, noop1, dvGet))]),
  );
  console.log('');
  heap.setRef(node, 0, null);
  heap.releaseMany([ref, node, target]);
}

// ---------------------------------------------------------------- 4. 1M live records
{
  if (typeof global.gc !== 'function') {
    console.log('## 4. 1M live records: skipped (run with node --expose-gc)');
    process.exit(0);
  }
  const v8Heap = () => process.memoryUsage().heapUsed;
  let refs = null;
  let objects = null;
  const makeObjects = (n) => {
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = { a: i, b: i + 1, c: i + 2, d: i + 3 };
    return out;
  };
  const createReps = quick ? 2 : 5;
  const create = measure(
    [
      {
        name: 'refheap: heap.allocMany(1M, 56)',
        ops: RECORDS,
        run(n) {
          refs = heap.allocMany(n, DATA);
          return refs[0];
        },
        teardown() {
          heap.releaseMany(refs);
          refs = null;
          settle();
        },
      },
      {
        name: 'refheap: allocMany + 4 x setFloat64 per record',
        ops: RECORDS,
        run(n) {
          refs = heap.allocMany(n, DATA);
          for (let i = 0; i < n; i++) {
            const r = refs[i];
            heap.setFloat64(r, 0, i);
            heap.setFloat64(r, 8, i + 1);
            heap.setFloat64(r, 16, i + 2);
            heap.setFloat64(r, 24, i + 3);
          }
          return refs[0];
        },
        teardown() {
          heap.releaseMany(refs);
          refs = null;
          settle();
        },
      },
      {
        name: 'refheap: allocMany + 1 x write(4 doubles) per record',
        ops: RECORDS,
        run(n) {
          refs = heap.allocMany(n, DATA);
          const fields = new Float64Array(4);
          for (let i = 0; i < n; i++) {
            fields[0] = i;
            fields[1] = i + 1;
            fields[2] = i + 2;
            fields[3] = i + 3;
            heap.write(refs[i], 0, fields);
          }
          return refs[0];
        },
        teardown() {
          heap.releaseMany(refs);
          refs = null;
          settle();
        },
      },
      {
        name: 'V8: 1M x {a, b, c, d} in an Array',
        ops: RECORDS,
        run(n) {
          objects = makeObjects(n);
          return objects.length;
        },
        teardown() {
          objects = null;
          settle();
        },
      },
    ],
    { reps: createReps, warmup: 1 },
  );

  // One forced major collection (gc()) with each population alive. Each
  // round builds the population, lets two untimed collections promote and
  // settle it, then times three; rounds alternate between populations.
  const scenarios = [
    { name: 'nothing alive (baseline)', build() {}, drop() {} },
    {
      name: '1M refheap blocks alive',
      build() {
        refs = heap.allocMany(RECORDS, DATA);
      },
      drop() {
        heap.releaseMany(refs);
        refs = null;
      },
    },
    {
      name: '1M V8 objects alive',
      build() {
        objects = makeObjects(RECORDS);
      },
      drop() {
        objects = null;
      },
    },
  ];
  const gcRounds = quick ? 2 : 5;
  const pauses = scenarios.map(() => []);
  const heapUsed = scenarios.map(() => 0);
  for (let round = 0; round < gcRounds; round++) {
    scenarios.forEach((s, i) => {
      s.build();
      global.gc();
      global.gc();
      heapUsed[i] = v8Heap();
      for (let k = 0; k < 3; k++) {
        const t0 = process.hrtime.bigint();
        global.gc();
        pauses[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      s.drop();
      settle();
    });
  }
  const gcStats = pauses.map((p) => {
    const sorted = p.slice().sort((a, b) => a - b);
    return { best: sorted[0], median: sorted[sorted.length >> 1] };
  });

  console.log('## 4. The same workload: 1M live 64-byte records\n');
  const [allocMany, , , v8Create] = create;
  console.log(
    table([
      ['create 1M records', 'ms total', '[median]', 'ns/record', 'vs V8 objects'],
      ...create.map((r) => [r.name, ms((r.best * RECORDS) / 1e6), `[${ms((r.median * RECORDS) / 1e6)}]`, ns(r.best), ratio(r.best, v8Create.best)]),
    ]),
  );
  console.log(`\n(best of ${createReps}; allocMany vs V8 objects: ${ratio(allocMany.best, v8Create.best)})\n`);
  const base = gcStats[0];
  console.log(
    table([
      ['forced major GC (gc())', 'ms best', 'ms median', 'median vs baseline', 'V8 heapUsed MB'],
      ...scenarios.map((s, i) => [
        s.name,
        ms(gcStats[i].best),
        ms(gcStats[i].median),
        ratio(gcStats[i].median, base.median),
        (heapUsed[i] / 2 ** 20).toFixed(1),
      ]),
    ]),
  );
  const [, rh, v8] = gcStats;
  console.log(
    `\n(${gcRounds * 3} timed collections per population; a V8 collection with 1M V8 objects alive takes ` +
      `${ratio(v8.median, rh.median)} as long as with 1M refheap blocks alive)\n`,
  );
}

heap.close();
