'use strict';
// The cycle collector against CPython's, in the same run: bench/gc/graphs.js
// (refheap, the built package) and bench/gc/graphs.py (python3), each
// measurement in fresh child processes, one at a time, alternating between
// the two so that both see the same machine.
//
//   node bench/gc/run.js [--quick] [--reps R] [--sizes 100000,1000000] [--only collect|auto] [--json FILE]
//
// 1. gc.collect() on pairs (2-cycles), one ring and a random graph (4 refs per
//    object), N blocks/objects: with everything alive (the scan), and after
//    the root is dropped (finding and freeing the cycles). Each process
//    collects 3 times live (best kept) and once after the drop; R processes
//    per side and case (default 3), best kept. CPython's figure is net of a
//    full collection with nothing built (the interpreter's own ~12k tracked
//    objects, about 0.8 ms), measured in the same process.
// 2. Automatic collection (default thresholds 700/10/10) while building 1M
//    blocks one by one: collections, max and total pause, build time; and the
//    same build with automatic collection off (a separate process). R
//    processes per side and case; the one with the median build time shown.
//
// --quick: N = 100k only, 1 process per measurement (a smoke run).
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const { spawnSync, execFileSync } = require('node:child_process');

const here = __dirname;
const root = path.join(here, '..', '..');
const argv = process.argv.slice(2);
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const quick = argv.includes('--quick');
const reps = Number(option('reps', quick ? 1 : 3));
const sizes = option('sizes', quick ? '100000' : '100000,1000000').split(',').map(Number);
const autoN = quick ? 100_000 : 1_000_000;
const jsonOut = option('json');
const only = option('only');
const SHAPES = ['pairs', 'ring', 'random'];
// From the issue: refheap / CPython at most this.
const TARGET = { pairs: 0.2, ring: 0.2, random: 0.25 };

function hasPython() {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function run(side, args) {
  const [command, script] = side === 'refheap' ? [process.execPath, 'graphs.js'] : ['python3', 'graphs.py'];
  const r = spawnSync(command, [path.join(here, script), ...args], { encoding: 'utf8', maxBuffer: 1 << 20, env: process.env });
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const fmt = (v) => (v === undefined || Number.isNaN(v) ? 'n/a' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const fmtMs = (ns) => (ns / 1e6 >= 100 ? (ns / 1e6).toFixed(0) : (ns / 1e6).toFixed(1));
const ratio = (a, b) => (a > 0 && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a');

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => `| ${r.map((cell, c) => (c <= 1 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (c <= 1 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join('\n');
}

function revision() {
  try {
    const git = (...a) => execFileSync('git', ['-C', root, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = git('status', '--porcelain', '--', 'native', 'lib', 'binding.gyp') !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in native/ or lib/' : ''}`;
  } catch {
    return 'unknown revision';
  }
}

/**
 * A copy of the built package (dist/, package.json, the addon) in a temporary
 * directory, which every refheap child loads: the repository's addon may be
 * rebuilt while this runs, and the figures must all come from one build.
 */
function snapshotPackage() {
  const addon = path.join(root, 'build', 'Release', 'refheap.node');
  if (!fs.existsSync(addon) || !fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    throw new Error('build first: npx node-gyp build -j 2 && npx tsc -p tsconfig.json && node scripts/write-esm-entry.js');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-gc-bench-'));
  fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(root, 'package.json'), path.join(dir, 'package.json'));
  fs.mkdirSync(path.join(dir, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(addon, path.join(dir, 'build', 'Release', 'refheap.node'));
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const bytes = fs.readFileSync(addon);
  const hash = require('node:crypto').createHash('sha256').update(bytes).digest('hex').slice(0, 12);
  return { dir, description: `build/Release/refheap.node sha256 ${hash}, built ${fs.statSync(addon).mtime.toISOString()}` };
}

function main() {
  const python = hasPython();
  const snapshot = snapshotPackage();
  process.env.REFHEAP_GC_BENCH_PACKAGE = snapshot.dir;
  process.on('exit', () => fs.rmSync(snapshot.dir, { recursive: true, force: true }));
  const cpus = os.cpus();
  console.log(`Cycle collector: refheap vs CPython ${python ?? '(python3 not found: refheap only)'}`);
  console.log(`${new Date().toISOString()}; node ${process.version}, ${cpus.length} x ${cpus[0]?.model ?? '?'}, ` +
    `load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; refheap ${revision()}`);
  console.log(`addon: ${snapshot.description} (run from a copy)`);
  console.log(`${reps} process(es) per side and case${quick ? ' (--quick: a smoke run, not a measurement)' : ''}\n`);
  const sides = python ? ['refheap', 'cpython'] : ['refheap'];
  const results = { collect: [], auto: [] };

  if (only !== 'auto') collectTable(sides, results);
  if (only !== 'collect') autoTable(sides, results);
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(results, null, 1));
}

// 1. collect()
function collectTable(sides, results) {
  const rows = [['shape', 'N', 'live rh', 'live Py', 'live rh/Py', 'garbage rh', 'garbage Py', 'garbage rh/Py', 'target']];
  for (const n of sizes) {
    for (const shape of SHAPES) {
      const best = {};
      for (let r = 0; r < reps; r++) {
        for (const side of sides) {
          const m = run(side, ['collect', '--shape', shape, '--n', String(n)]);
          const base = side === 'cpython' ? m.baseline_ns : 0;  // refheap's empty collect: ~5 us, left in
          const live = (m.live_ns - base) / n;
          const garbage = (m.garbage_ns - base) / n;
          const b = (best[side] ??= { live: Infinity, garbage: Infinity, runs: [] });
          b.live = Math.min(b.live, live);
          b.garbage = Math.min(b.garbage, garbage);
          b.found = m.garbage_found;
          b.runs.push(m);
        }
      }
      const rh = best.refheap;
      const py = best.cpython ?? {};
      if (py.found !== undefined && py.found !== rh.found) {
        throw new Error(`${shape} ${n}: CPython found ${py.found} unreachable, refheap ${rh.found}: not the same graph`);
      }
      rows.push([shape, n.toLocaleString('en-US'), fmt(rh.live), fmt(py.live), ratio(rh.live, py.live),
        fmt(rh.garbage), fmt(py.garbage), ratio(rh.garbage, py.garbage), `<= ${TARGET[shape]}x`]);
      results.collect.push({ shape, n, refheap: rh, cpython: best.cpython });
      process.stderr.write('.');
    }
  }
  process.stderr.write('\n');
  console.log('gc.collect(), ns per object (best over processes; "live": everything alive, "garbage": after dropping the root)\n');
  console.log(table(rows));
  const found = results.collect.map((c) => `${c.shape} ${c.n}: ${c.refheap.found}`).join(', ');
  console.log(`\nUnreachable found after the drop (both sides agree): ${found}\n`);
}

// 2. Automatic collections while building.
function autoTable(sides, results) {
  const autoRows = [['shape', 'side', 'collections (g0/g1/g2)', 'max pause ms', 'total pause ms', 'build ms', 'build, gc off ms', 'build overhead']];
  for (const shape of SHAPES) {
    for (const side of sides) {
      const on = [];
      const off = [];
      for (let r = 0; r < reps; r++) {
        on.push(run(side, ['auto', '--shape', shape, '--n', String(autoN)]));
        off.push(run(side, ['auto', '--shape', shape, '--n', String(autoN), '--no-gc']));
      }
      const median = (list) => list.slice().sort((a, b) => a.build_ns - b.build_ns)[list.length >> 1];
      const m = median(on);
      const o = median(off);
      if (side === 'refheap' && (m.callbacks !== m.collections || Math.abs(m.callbacks_total_pause_ns - m.total_pause_ns) > 1e3)) {
        throw new Error('gc.callbacks and heap.stats().gc.pauses disagree');
      }
      autoRows.push([shape, side, `${m.collections} (${m.generations.join('/')})`, fmtMs(m.max_pause_ns), fmtMs(m.total_pause_ns),
        fmtMs(m.build_ns), fmtMs(o.build_ns), ratio(m.build_ns, o.build_ns)]);
      results.auto.push({ shape, side, n: autoN, on, off });
      process.stderr.write('.');
    }
  }
  process.stderr.write('\n');
  console.log(`Automatic collection while building ${autoN.toLocaleString('en-US')} blocks/objects one by one, default thresholds ` +
    `(median run of ${reps} by build time; refheap pauses from heap.stats().gc.pauses, equal to the gc.callbacks durationMs sums)\n`);
  console.log(table(autoRows));
}

main();
