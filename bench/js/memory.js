'use strict';
// Resident memory of 1M live 64-byte records: refheap blocks, Buffers made by
// Buffer.allocUnsafeSlow(64) (each its own backing store), and small V8
// objects. Each population is measured in a fresh child process (so they do
// not mix), as RSS growth read from /proc/self/statm; for refheap the child
// then releases everything and reports how much of the growth went back.
//
//   node bench/js/memory.js            # the parent: spawns one child each
//   node --expose-gc bench/js/memory.js --child refheap|buffer|v8
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { loadRefheap, rss, settle, table, ratio, machine } = require('./common');

const N = 1_000_000;
const MB = 2 ** 20;

function child(kind) {
  settle();
  const before = rss();
  const out = { kind, before };
  if (kind === 'refheap') {
    const { refheap } = loadRefheap();
    const heap = new refheap.Heap({ name: 'bench-memory' });
    const mappedBefore = heap.stats().mappedBytes;
    settle();
    out.before = rss();
    let refs = heap.allocMany(N, 56);
    settle();
    out.after = rss();
    out.mappedBytes = heap.stats().mappedBytes - mappedBefore;
    out.handlesBytes = refs.byteLength;
    heap.releaseMany(refs);
    settle();
    out.afterRelease = rss(); // the Float64Array of refs is still held
    refs = null;
    settle();
    out.afterDrop = rss(); // ... and now it is not
    out.mappedAfterRelease = heap.stats().mappedBytes;
    out.trimmed = heap.trim();
    out.afterTrim = rss();
    heap.close();
    out.afterClose = rss();
  } else if (kind === 'buffer') {
    const list = new Array(N);
    for (let i = 0; i < N; i++) list[i] = Buffer.allocUnsafeSlow(64);
    settle();
    out.after = rss();
    out.handlesBytes = N * 8;
    if (list.length !== N) throw new Error('unreachable');
  } else if (kind === 'v8') {
    const list = new Array(N);
    for (let i = 0; i < N; i++) list[i] = { a: i, b: i + 1, c: i + 2, d: i + 3 };
    settle();
    out.after = rss();
    out.handlesBytes = N * 8;
    out.v8HeapUsed = process.memoryUsage().heapUsed;
    if (list.length !== N) throw new Error('unreachable');
  } else {
    throw new Error(`unknown population ${kind}`);
  }
  process.stdout.write(JSON.stringify(out));
}

function runChild(kind) {
  const result = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', kind], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`child ${kind} failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout);
}

function parent() {
  const rounds = process.argv.includes('--quick') ? 1 : 3;
  const kinds = ['refheap', 'buffer', 'v8'];
  // Rounds alternate between populations; the smallest growth of each is kept
  // (RSS only overstates: a page counted is a page resident).
  const best = {};
  for (let round = 0; round < rounds; round++) {
    for (const kind of kinds) {
      const r = runChild(kind);
      r.growth = r.after - r.before;
      if (!best[kind] || r.growth < best[kind].growth) best[kind] = r;
    }
  }
  const rh = best.refheap;
  console.log(`# refheap from JavaScript: memory (${machine()})`);
  console.log(`# 1M live records of 64 bytes, each population in a fresh child process; smallest of ${rounds} runs\n`);
  const name = {
    refheap: 'refheap: heap.allocMany(1M, 56)',
    buffer: 'Buffer.allocUnsafeSlow(64) x 1M',
    v8: 'V8: {a, b, c, d} x 1M',
  };
  console.log(
    table([
      ['population', 'RSS growth MB', 'bytes/record', 'of which handles', 'vs refheap'],
      ...kinds.map((k) => [
        name[k],
        (best[k].growth / MB).toFixed(1),
        (best[k].growth / N).toFixed(1),
        `${(best[k].handlesBytes / N).toFixed(0)} B (${k === 'refheap' ? 'Float64Array of refs' : 'Array slots'})`,
        ratio(best[k].growth, rh.growth),
      ]),
    ]),
  );
  const returned = (at) => (rh.after - at) / rh.growth;
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  console.log(`\nrefheap: mappedBytes grew by ${(rh.mappedBytes / MB).toFixed(1)} MB; RSS growth returned to the OS:`);
  console.log(
    table([
      ['after', 'RSS MB', 'growth returned'],
      ['allocMany (peak)', (rh.after / MB).toFixed(1), '-'],
      ['releaseMany(refs), refs array still held', (rh.afterRelease / MB).toFixed(1), pct(returned(rh.afterRelease))],
      ['... refs array dropped, gc()', (rh.afterDrop / MB).toFixed(1), pct(returned(rh.afterDrop))],
      [`... heap.trim() (released ${rh.trimmed} bytes)`, (rh.afterTrim / MB).toFixed(1), pct(returned(rh.afterTrim))],
      ['... heap.close()', (rh.afterClose / MB).toFixed(1), pct(returned(rh.afterClose))],
    ]),
  );
  const frac = returned(rh.afterDrop);
  console.log(
    `\nreturned after releasing everything (no trim, no close): ${pct(frac)} (target >= 90%: ${frac >= 0.9 ? 'met' : 'NOT met'}); ` +
      `heap.stats().mappedBytes after release: ${rh.mappedAfterRelease}\n`,
  );
}

const at = process.argv.indexOf('--child');
if (at >= 0) child(process.argv[at + 1]);
else parent();
