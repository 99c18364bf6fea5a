'use strict';
// Shared helpers of the JavaScript benchmarks.
//
// The machine these run on is shared and noisy, so no absolute figure is
// meaningful alone: every benchmark measures its baselines in the same run,
// interleaved with the cases they are compared to (round-robin, one
// repetition of each case in turn), keeps the best repetition of each, and
// prints ratios against the baselines.
const path = require('node:path');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');

const root = path.join(__dirname, '..', '..');

/** The built package (dist/), and the addon's empty call for baselines. */
function loadRefheap() {
  const dist = path.join(root, 'dist');
  if (!fs.existsSync(path.join(dist, 'index.js'))) {
    throw new Error('dist/ is missing: build first (npm run build)');
  }
  const refheap = require(dist);
  const { nativeNoop } = require(path.join(dist, 'native.js'));
  return { refheap, nativeNoop };
}

/**
 * Runs each case `reps` times, round-robin, after `warmup` untimed rounds.
 * A case is { name, ops, run(ops) -> sink, setup?(), teardown?() }; setup
 * and teardown are outside the timed region. Returns, per case, the best
 * and the median nanoseconds per operation.
 */
function measure(cases, { reps = 9, warmup = 2 } = {}) {
  const samples = cases.map(() => []);
  let sink = 0;
  for (let round = 0; round < warmup + reps; round++) {
    cases.forEach((c, i) => {
      if (c.setup) c.setup();
      const t0 = process.hrtime.bigint();
      const out = c.run(c.ops);
      const t1 = process.hrtime.bigint();
      if (c.teardown) c.teardown();
      if (typeof out === 'number') sink += out;
      if (round >= warmup) samples[i].push(Number(t1 - t0) / c.ops);
    });
  }
  if (sink === 0.5) console.log('');  // keeps the results observable
  return cases.map((c, i) => {
    const sorted = samples[i].slice().sort((a, b) => a - b);
    return { name: c.name, best: sorted[0], median: sorted[sorted.length >> 1], reps: sorted.length };
  });
}

/** Formats nanoseconds: 3 significant digits. */
function ns(value) {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function ms(value) {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function ratio(a, b) {
  if (!(b > 0)) return 'n/a';
  return `${(a / b).toFixed(2)}x`;
}

/** A plain text table: rows of strings, first row the header. */
function table(rows) {
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => String(r[col]).length)));
  const line = (r) => r.map((cell, col) => (col === 0 ? String(cell).padEnd(widths[col]) : String(cell).padStart(widths[col]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

let pageSize = 0;
/** Resident set size in bytes, from /proc/self/statm (field 2, in pages). */
function rss() {
  if (pageSize === 0) {
    try {
      pageSize = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096;
    } catch {
      pageSize = 4096;
    }
  }
  const fields = fs.readFileSync('/proc/self/statm', 'utf8').split(' ');
  return Number(fields[1]) * pageSize;
}

/** Full V8 collections until the heap settles (needs --expose-gc). */
function settle() {
  if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) global.gc();
}

/** The commit measured, with "+ uncommitted changes" when the tree differs. */
function revision() {
  try {
    const git = (...args) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'native', 'lib', 'binding.gyp') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in native/ or lib/' : ''}`;
  } catch {
    return 'unknown revision';
  }
}

function machine() {
  const os = require('node:os');
  const cpus = os.cpus();
  return `node ${process.version}, ${os.platform()} ${os.arch()}, ${cpus.length} x ${cpus[0] ? cpus[0].model : '?'}, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; refheap ${revision()}`;
}

module.exports = { root, loadRefheap, measure, ns, ms, ratio, table, rss, settle, machine };
