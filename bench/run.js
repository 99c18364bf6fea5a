'use strict';
// Runs every benchmark and prints what each prints: the JavaScript ones
// (bench/js/, against the built package in dist/), the cycle collector
// against CPython (bench/gc/run.js: refheap's children and python3's), then
// the native allocator benchmark (bench/native/run.sh) when it exists.
// `npm run bench` builds first. Options: --quick (fewer repetitions),
// --js-only (skips only the native allocator benchmark).
//
// Each benchmark runs in its own process, one after another: they share a
// noisy 2-core machine and must not compete with each other.
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const here = __dirname;
const quick = process.argv.includes('--quick');
const jsOnly = process.argv.includes('--js-only');
const extra = quick ? ['--quick'] : [];

const steps = [
  { name: 'bench/js/alloc.js', command: process.execPath, args: ['--expose-gc', path.join(here, 'js', 'alloc.js'), ...extra] },
  // heaps.js and memory.js spawn their populations' children themselves.
  { name: 'bench/js/heaps.js', command: process.execPath, args: [path.join(here, 'js', 'heaps.js'), ...extra] },
  // memory.js spawns one `node --expose-gc` child per population itself.
  { name: 'bench/js/memory.js', command: process.execPath, args: [path.join(here, 'js', 'memory.js'), ...extra] },
  // gc/run.js spawns the node and python3 children itself, one at a time.
  { name: 'bench/gc/run.js', command: process.execPath, args: [path.join(here, 'gc', 'run.js'), ...extra] },
];
const nativeScript = path.join(here, 'native', 'run.sh');
if (!jsOnly && fs.existsSync(nativeScript)) {
  steps.push({ name: 'bench/native/run.sh', command: 'sh', args: [nativeScript, ...extra], cwd: path.join(here, '..') });
} else if (!jsOnly) {
  console.log('(bench/native/run.sh not found: native allocator benchmark skipped)\n');
}

let failed = 0;
for (const step of steps) {
  console.log(`==> ${step.name}\n`);
  const result = spawnSync(step.command, step.args, { stdio: 'inherit', cwd: step.cwd });
  if (result.status !== 0) {
    failed++;
    console.log(`\n${step.name} failed (exit ${result.status ?? result.signal})\n`);
  }
}
process.exit(failed === 0 ? 0 : 1);
