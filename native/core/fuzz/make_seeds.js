#!/usr/bin/env node
// Writes the hand-made seeds of heap_ops_fuzz into corpus/heap_ops_fuzz/
// (the rest of that folder is a corpus the fuzzer grew, merged down).
// Each seed is a scenario spelled in the fuzzer's encoding (heap_ops_fuzz.cc):
//
//   config byte: bits 0-1 maxBytes (2: 3 MiB, 3: 8 MiB), bits 2-4 threshold0 / 3,
//                bit 5 DEBUG_STATS|COLLECTABLE|UNCOLLECTABLE, bit 6 SAVEALL, bit 7 chaos
//   then ops, one byte each (op % 25) and their arguments:
//     1 alloc: selector (%8: 1 -> 1 slot, 0 -> none), sizing (%8: 1 -> sizing/8 bytes,
//       2 -> next byte, 3 -> around the small limit, 5 -> 512 + u16), type (0 block,
//       1 Final, 2 Keep, 3 KeepFinal, 4 Final2)
//     5 release(handle) 7 setRef(handle, choice, target handle, u16 slot) 10 collect(g)
//     11 freeze(0)/unfreeze(1)/clearGarbage(2) 14 view 15 drop view 17 fail a mapping
//     24 release a count not held (chaos)
//   a collection's start and stop callbacks each read an action byte (0: nothing);
//   a finalizer reads a refusal byte (15: "could not be called") and an action
//   byte (3 resurrect, 9 take a view, 7 clear its own slot, 0 nothing).
//
//   node native/core/fuzz/make_seeds.js
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const FINAL = 1, KEEP = 2;
const alloc1 = (type) => [1, 1, 1, type];       // 1 slot, 0 bytes
const plain = (size) => [1, 0, 2, size, 0];     // no slot, `size` bytes
const link = (from, to) => [7, from, 1, to, 0, 0];
const release = (handle) => [5, handle];
const collect = (g, hooks) => [10, g, ...hooks];

const seeds = {
  // a <-> b, both with finalizers, dropped and collected.
  'seed-finalizer-cycle': [0x00, ...alloc1(FINAL), ...alloc1(FINAL), ...link(0, 1), ...link(1, 0),
    ...release(0), ...release(0), ...collect(2, [0, 0, 0, 0, 0, 0])],
  // The same, the first finalizer resurrects its block.
  'seed-finalizer-resurrects': [0x00, ...alloc1(FINAL), ...alloc1(FINAL), ...link(0, 1), ...link(1, 0),
    ...release(0), ...release(0), ...collect(2, [0, 0, 3, 0, 0, 0]), ...collect(2, [0, 0, 0])],
  // An uncollectable pair goes to garbage; clearGarbage; collected again.
  'seed-uncollectable-garbage': [0x00, ...alloc1(KEEP), ...alloc1(KEEP), ...link(0, 1), ...link(1, 0),
    ...release(0), ...release(0), ...collect(2, [0, 0]), 11, 2, ...collect(2, [0, 0])],
  // 512 bytes exactly (the largest small block), one more (a large one), 10 KB.
  'seed-small-limit': [0x00, 1, 0, 3, 16, 0, 1, 0, 3, 17, 0, 1, 0, 5, 0x10, 0x27, 0, ...release(1), ...release(0)],
  // A view outlives the count it was taken with.
  'seed-view': [0x00, ...plain(40), 14, 0, ...release(0), 15, 0, 0],
  // Chaos: a finalizer takes a view of its block, then its count (the view's) is released.
  'seed-chaos-view-released': [0x80, ...alloc1(FINAL), ...release(0), 0, 9, 24, 3, 0, ...collect(2, [0, 0]), 15, 0, 0],
  // Automatic collections (threshold0 3) with debug lines.
  'seed-automatic': [0x24, ...[].concat(...Array.from({ length: 8 }, () => alloc1(0))), ...link(0, 1), ...link(1, 0),
    ...release(0), ...release(0)],
  // maxBytes 3 MiB against 1 MiB blocks.
  'seed-heap-limit': [0x02, ...[].concat(...Array.from({ length: 4 }, () => [1, 0, 6, 0xff, 0xff, 0x0f, 0, 0]))],
  // Freeze, collect, unfreeze, collect.
  'seed-freeze': [0x00, ...alloc1(0), ...alloc1(0), ...link(0, 1), ...link(1, 0), 11, 0, ...release(0), ...release(0),
    ...collect(2, [0, 0]), 11, 1, ...collect(2, [0, 0])],
  // The next mapping fails.
  'seed-os-fault': [0x00, 17, 0, 1, 0, 5, 0x10, 0x27, 0, ...plain(8)],
};

const dir = path.join(__dirname, 'corpus', 'heap_ops_fuzz');
fs.mkdirSync(dir, { recursive: true });
for (const [name, bytes] of Object.entries(seeds)) fs.writeFileSync(path.join(dir, name), Buffer.from(bytes));
console.log(`wrote ${Object.keys(seeds).length} seeds to ${dir}`);
