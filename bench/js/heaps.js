'use strict';
// What one live Heap costs: V8 heap and RSS per heap, for N heaps made with
// `publish: false` and held, against the same N of a plain JavaScript
// object shaped like a Heap (its 26 block methods as closures, a gc object):
// what the API's shape costs anyway. Each population in its own child.
//   node bench/js/heaps.js [--quick] [--count N]
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const quick = process.argv.includes('--quick');
const at = process.argv.indexOf('--count');
const count = at > 0 ? Number(process.argv[at + 1]) : quick ? 20000 : 100000;
const dist = path.join(__dirname, '..', '..', 'dist');

const child = `
const make = process.argv[1] === 'refheap'
  ? (() => { const { Heap } = require(${JSON.stringify(dist)}); return () => new Heap({ publish: false }); })()
  : () => {
      const o = { name: 'plain', gc: { callbacks: [] } };
      for (const m of ['alloc', 'allocMany', 'retain', 'release', 'releaseMany', 'refcount', 'setRef', 'getRef', 'slotCount',
        'sizeOf', 'typeOf', 'getUint8', 'setUint8', 'getInt32', 'setInt32', 'getUint32', 'setUint32', 'getFloat64',
        'setFloat64', 'getBigInt64', 'setBigInt64', 'write', 'read', 'view', 'typeName', 'trim']) o[m] = (a, b, c) => [o, a, b, c];
      return o;
    };
const pageSize = require(${JSON.stringify(path.join(dist, 'native.js'))}).layout.osPageSize;
const rss = () => Number(require('node:fs').readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * pageSize;
const n = Number(process.argv[2]);
make();
gc();
const v8Before = process.memoryUsage().heapUsed, rssBefore = rss();
const held = [];
for (let i = 0; i < n; i++) held.push(make());
gc();
console.log(JSON.stringify({ n: held.length, v8: (process.memoryUsage().heapUsed - v8Before) / n, rss: (rss() - rssBefore) / n }));
`;

function run(kind) {
  const out = spawnSync(process.execPath, ['--expose-gc', '-e', child, kind, String(count)], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`${kind}: exit ${out.status}\n${out.stderr}`);
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

const plain = run('plain');
const heap = run('refheap');
console.log(`## What one live Heap costs (${count} held, publish: false)\n`);
console.log('                          V8 heap B/heap   RSS B/heap');
console.log(`plain object, same shape  ${plain.v8.toFixed(0).padStart(14)}   ${plain.rss.toFixed(0).padStart(10)}`);
console.log(`refheap Heap              ${heap.v8.toFixed(0).padStart(14)}   ${heap.rss.toFixed(0).padStart(10)}`);
console.log(`\n(a Heap costs ${(heap.v8 / plain.v8).toFixed(2)}x the plain object's V8 heap and ${(heap.rss / plain.rss).toFixed(2)}x its RSS)`);
