#!/usr/bin/env node
// `npm run test:asan`: the whole vitest suite against a second build of the
// addon compiled with AddressSanitizer and UndefinedBehaviorSanitizer.
//
// - The sanitized addon is built by node-gyp from the same binding.gyp, in a
//   directory of its own outside the repository ($REFHEAP_ASAN_DIR, default
//   <tmpdir>/refheap-asan-<uid>-<hash of the repository's path>): a copy of
//   binding.gyp next to symlinks to native/ and node_modules/, so node-gyp's
//   incremental build sees every change to the sources. build/Release is not
//   touched.
// - The suite loads it through node-gyp-build's own override:
//   REFHEAP_PREBUILD=<that directory> makes `load(root)` look in
//   <that directory>/build/Release instead of the repository's.
// - Node itself is not instrumented: libasan is LD_PRELOADed, and the
//   environment (LD_PRELOAD, ASAN_OPTIONS, ...) is inherited by vitest's
//   forks, by the `node` children the tests spawn and by their workers.
// - Every ASan and LeakSanitizer report goes to a file of its own
//   (log_path) whatever the process, and each is printed at the end and
//   counted as a failure. UBSan's go to the process's standard error (GCC's
//   combined runtime ignores log_path for them) and halt it, so the test that
//   ran it fails; the failed tests whose output has one are named at the end.
// - LeakSanitizer checks every process at its exit, vitest's forks included
//   (see below); Node's and V8's own leaks are suppressed by scripts/lsan.supp.
//
// Ends with one line "asan: N passed, M failed" (M counts failed tests, one
// per sanitizer report, and one for a build or run that could not finish).
// Options: --keep-logs keeps the report directory; arguments after `--` go
// to vitest (e.g. a test file).
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const argv = process.argv.slice(2);
const keepLogs = argv.includes('--keep-logs');
const vitestArgs = argv.includes('--') ? argv.slice(argv.indexOf('--') + 1) : [];

const SANITIZE = '-fsanitize=address,undefined -fno-omit-frame-pointer';
const CXXFLAGS = `${SANITIZE} -O1 -g`; // after binding.gyp's own flags, so -O1 wins over -O2
const LDFLAGS = SANITIZE;

// Tests that cannot mean under ASan what they mean without it, by name
// (a substring of "<describe> <test>"). Keep this list short.
const EXCLUDED = [
  // `ulimit -v 1600000`: ASan reserves terabytes of address space for its
  // shadow memory, so the capped child cannot even start. (fault-sweep's
  // capped children measure node's own size first and do run.)
  'out of memory read() and allocMany() whose result memory is refused',
  // RSS measurements: ASan's allocator keeps freed malloc memory in its
  // quarantine (Node's own malloc goes through it too), so RSS does not go
  // back the way these tests expect.
  'close returns all memory to the OS, blocks, cycles and views included',
  'a heap that becomes unreachable is closed when V8 collects it: its memory goes back',
  'terminating a worker in the middle of a tight allocation loop does not crash the process',
  // The soak's RSS drift limit (5 %) at its peaks; its other test, that the
  // drift check catches a deliberate leak, runs.
  'of cycles at 0.25 GiB: every check passes, RSS drift measured and under 5 %',
];

// Environment for the suite that keeps it within its time under ASan
// (worker starts, the dominant cost of termination.test.ts, are several
// times slower).
const SUITE_ENV = {
  REFHEAP_TERMINATION_ITERATIONS: process.env.REFHEAP_TERMINATION_ITERATIONS ?? '25',
};

let passed = 0;
let failed = 0;
function finish(code) {
  console.log(`\nasan: ${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed === 0 ? 0 : 1));
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result;
}

function mustRun(command, args, options) {
  const { status, signal } = run(command, args, options);
  if (status !== 0) {
    console.error(`\nasan: ${command} ${args.join(' ')} failed (exit ${status ?? signal})`);
    failed += 1;
    finish(1);
  }
}

// node-gyp's headers: the same as the regular build's (npm passes nodedir
// to npm scripts; when run directly, take it from build/config.gypi).
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  try {
    const config = fs.readFileSync(path.join(root, 'build', 'config.gypi'), 'utf8');
    const match = /"nodedir":\s*"([^"]+)"/.exec(config);
    if (match && fs.existsSync(path.join(match[1], 'include', 'node', 'node_api.h'))) return [`--nodedir=${match[1]}`];
  } catch {}
  return [];
}

function symlink(target, at) {
  try {
    if (fs.readlinkSync(at) === target) return;
    fs.rmSync(at, { force: true, recursive: true });
  } catch (error) {
    if (error.code !== 'ENOENT') fs.rmSync(at, { force: true, recursive: true });
  }
  fs.symlinkSync(target, at);
}

function buildAddon() {
  const hash = crypto.createHash('sha1').update(fs.realpathSync(root)).digest('hex').slice(0, 8);
  const dir = process.env.REFHEAP_ASAN_DIR || path.join(os.tmpdir(), `refheap-asan-${os.userInfo().uid}-${hash}`);
  fs.mkdirSync(dir, { recursive: true });
  symlink(path.join(root, 'native'), path.join(dir, 'native'));
  symlink(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  const gyp = fs.readFileSync(path.join(root, 'binding.gyp'));
  const copy = path.join(dir, 'binding.gyp');
  const changed = !fs.existsSync(copy) || !fs.readFileSync(copy).equals(gyp);
  if (changed) fs.writeFileSync(copy, gyp);
  const env = { ...process.env, CXXFLAGS, LDFLAGS };
  if (changed || !fs.existsSync(path.join(dir, 'build', 'Makefile'))) {
    mustRun(bin('node-gyp'), ['configure', ...nodedirArgs()], { cwd: dir, env });
  }
  const jobs = String(os.availableParallelism?.() ?? 2);
  mustRun(bin('node-gyp'), ['build', '-j', jobs], { cwd: dir, env });
  const addon = path.join(dir, 'build', 'Release', 'refheap.node');
  if (!fs.existsSync(addon)) {
    console.error(`asan: ${addon} was not built`);
    failed += 1;
    finish(1);
  }
  return dir;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The sanitizer reports in `dir`, one file per process that wrote one. */
function reports(dir) {
  return fs
    .readdirSync(dir)
    .filter((name) => /^asan\.\d+/.test(name))
    .map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), 'utf8') }))
    .filter(({ text }) => text.trim() !== '');
}

// Build: the TypeScript (children load dist/) and the sanitized addon.
mustRun(bin('tsc'), ['-p', 'tsconfig.json']);
mustRun(process.execPath, ['scripts/write-esm-entry.js']);
const addonDir = buildAddon();

const started = Date.now();
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-asan-logs-'));
const libasan = spawnSync('g++', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
const suppressions = path.join(__dirname, 'lsan.supp');
const env = {
  ...process.env,
  ...SUITE_ENV,
  REFHEAP_PREBUILD: addonDir,
  LD_PRELOAD: [libasan, process.env.LD_PRELOAD].filter(Boolean).join(':'),
  ASAN_OPTIONS: [
    'detect_leaks=1', 'abort_on_error=0', 'halt_on_error=1',
    // malloc returns NULL when the OS refuses memory, as glibc's does (the
    // ulimit tests check that refheap turns that into ERR_OS_MEMORY).
    'allocator_may_return_null=1',
    `log_path=${path.join(logDir, 'asan')}`, process.env.ASAN_OPTIONS,
  ].filter(Boolean).join(':'),
  LSAN_OPTIONS: [`suppressions=${suppressions}`, 'print_suppressions=0', process.env.LSAN_OPTIONS].filter(Boolean).join(':'),
  UBSAN_OPTIONS: ['print_stacktrace=1', 'halt_on_error=1', process.env.UBSAN_OPTIONS].filter(Boolean).join(':'),
};

// vitest: every test but the excluded ones, with its counts from the JSON reporter.
const pattern = `^(?!.*(?:${EXCLUDED.map(escapeRegExp).join('|')}))`;
const report = path.join(logDir, 'vitest.json');
// LeakSanitizer checks a process when it exits. vitest stops a fork with
// SIGTERM (whose default action skips the check) and SIGKILLs it 500 ms
// later, less than a sanitized exit takes; so the forks get a SIGTERM
// handler that exits normally, and vitest's SIGKILL of a fork waits (up to a
// minute) for the fork to end on its own. Both are preloaded as data: URLs.
const dataUrl = (source) => `data:text/javascript,${encodeURIComponent(source)}`;
const forkHook = dataUrl('process.on("SIGTERM", () => process.exit(143));');
const mainHook = dataUrl(`
  import { ChildProcess } from 'node:child_process';
  const kill = ChildProcess.prototype.kill;
  ChildProcess.prototype.kill = function (signal) {
    if (signal === 'SIGKILL' && this.exitCode === null && this.signalCode === null &&
        this.spawnargs.some((arg) => arg.endsWith('forks.js'))) {
      setTimeout(() => kill.call(this, 'SIGKILL'), 60000).unref();
      return true;
    }
    return kill.call(this, signal);
  };
`);
const vitest = run(
  process.execPath,
  [`--import=${mainHook}`, path.join(root, 'node_modules', 'vitest', 'vitest.mjs'),
    'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, `--testNamePattern=${pattern}`,
    `--execArgv=--import=${forkHook}`, ...vitestArgs],
  { env },
);
let skipped = 0;
const ubsanTests = [];
try {
  const results = JSON.parse(fs.readFileSync(report, 'utf8'));
  for (const file of results.testResults) {
    for (const test of file.assertionResults) {
      if ((test.failureMessages ?? []).some((m) => m.includes('runtime error:'))) ubsanTests.push(test.fullName);
    }
  }
  passed += results.numPassedTests;
  failed += results.numFailedTests;
  skipped = results.numPendingTests + results.numTodoTests;
  if (vitest.status !== 0 && results.numFailedTests === 0) failed += 1; // a suite failed to load
} catch {
  failed += 1;
}

const found = reports(logDir);
const MAX_LINES = 150;
for (const { name, text } of found) {
  const lines = text.trimEnd().split('\n');
  const more = lines.length > MAX_LINES ? `\n... ${lines.length - MAX_LINES} more lines in ${path.join(logDir, name)}` : '';
  console.log(`\n----- sanitizer report ${name} -----\n${lines.slice(0, MAX_LINES).join('\n')}${more}`);
  // A process whose addon only workers loaded: Node unloaded it with the last of them.
  if (text.includes('(<unknown module>)')) console.log('(frames in <unknown module>: most likely refheap.node, unloaded before the report)');
}
failed += found.length;
if (ubsanTests.length > 0) console.log(`\nUBSan "runtime error" in the output of:\n  ${ubsanTests.join('\n  ')}`);
console.log(
  `\nasan: ${found.length} sanitizer report(s); ${skipped} test(s) skipped (${EXCLUDED.length} excluded under ASan); ` +
    `${((Date.now() - started) / 1000).toFixed(0)} s; addon ${path.join(addonDir, 'build', 'Release', 'refheap.node')}` +
    (keepLogs || found.length > 0 ? `; reports kept in ${logDir}` : ''),
);
if (!keepLogs && found.length === 0) fs.rmSync(logDir, { recursive: true, force: true });
finish();
