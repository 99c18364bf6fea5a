#!/usr/bin/env node
// Runs the fuzzers: each libFuzzer target of the C++ core
// (native/core/fuzz/*_fuzz.cc, built with clang under AddressSanitizer and
// UndefinedBehaviorSanitizer by `make -C native/core fuzz`), then the
// statistics-page reader's fuzzer (test/stats-page-fuzz.test.ts, vitest),
// each for --seconds N (default 60), one at a time, one process each.
//
//   node scripts/fuzz.js [--seconds N] [--only NAME] [--max-len BYTES]
//   npm run fuzz -- --seconds 25            # about a minute in all (CI)
//
// Installs clang with apt-get when it is missing (CI machines are fresh).
// Each target's corpus grows in native/core/out/fuzz/corpus/<target>/,
// seeded from native/core/fuzz/corpus/<target>/; a crash is written to
// native/core/out/fuzz/artifacts/ and printed with the command that replays
// it. Exit status: 0 if every target ran clean, 1 if one failed, 2 if the
// fuzzers could not be built or run.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const CORE = path.join(ROOT, 'native', 'core');
const OUT = path.join(CORE, 'out', 'fuzz');

function usage(message) {
  console.error(`fuzz: ${message}\nusage: node scripts/fuzz.js [--seconds N] [--only NAME] [--max-len BYTES]`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { seconds: 60, only: undefined, maxLen: 2048 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--seconds') options.seconds = Number(value());
    else if (arg === '--only') options.only = value();
    else if (arg === '--max-len') options.maxLen = Number(value());
    else if (arg === '--help' || arg === '-h') usage('runs every fuzzer for N seconds');
    else usage(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(options.seconds) || options.seconds < 1) usage('--seconds takes a positive integer');
  if (!Number.isInteger(options.maxLen) || options.maxLen < 1) usage('--max-len takes a positive integer');
  return options;
}

function run(command, args, options = {}) {
  return spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 << 20, ...options });
}

// Whether clang++ links a libFuzzer binary with the sanitizers.
function fuzzerToolchainWorks() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-fuzz-probe-'));
  try {
    const source = path.join(dir, 'probe.cc');
    fs.writeFileSync(source, '#include <cstddef>\n#include <cstdint>\n' +
      'extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n');
    const result = run('clang++', ['-fsanitize=fuzzer,address,undefined', source, '-o', path.join(dir, 'probe')]);
    return { ok: result.status === 0, detail: (result.error ? result.error.message : result.stderr || '').trim() };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function aptInstall(packages) {
  if (process.getuid && process.getuid() !== 0) return false;
  if (run('apt-get', ['--version']).status !== 0) return false;
  console.log(`fuzz: installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (run('apt-get', ['update', '-qq'], { env, stdio: 'inherit' }).status !== 0) return false;
  return run('apt-get', ['install', '-y', '-qq', ...packages], { env, stdio: 'inherit' }).status === 0;
}

// clang, and the compiler-rt that holds libFuzzer and the sanitizers
// (libclang-rt-<major>-dev on Debian; the `clang` package usually brings it).
function ensureClang() {
  let probe = fuzzerToolchainWorks();
  if (probe.ok) return;
  if (run('clang++', ['--version']).status !== 0) aptInstall(['clang']);
  probe = fuzzerToolchainWorks();
  if (probe.ok) return;
  const version = /clang version (\d+)/.exec(run('clang++', ['--version']).stdout || '');
  if (version) aptInstall([`libclang-rt-${version[1]}-dev`]);
  probe = fuzzerToolchainWorks();
  if (probe.ok) return;
  console.error(`fuzz: clang++ cannot build a libFuzzer target with -fsanitize=fuzzer,address,undefined:\n${probe.detail}\n` +
    'install clang and its compiler-rt (Debian: apt-get install clang libclang-rt-<version>-dev)');
  process.exit(2);
}

function build() {
  console.log('fuzz: building the fuzz targets (make -C native/core fuzz)');
  const jobs = String(Math.max(1, Math.min(2, os.cpus().length)));
  const result = run('make', ['-C', CORE, `-j${jobs}`, 'fuzz', 'FUZZ_CXX=clang++'], { stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('fuzz: the build failed');
    process.exit(2);
  }
}

function targets() {
  return fs.readdirSync(path.join(CORE, 'fuzz'))
    .filter((name) => name.endsWith('_fuzz.cc'))
    .map((name) => name.slice(0, -'.cc'.length))
    .sort();
}

// One libFuzzer target for `seconds`; its summary.
function fuzzTarget(name, options) {
  const binary = path.join(OUT, name);
  const corpus = path.join(OUT, 'corpus', name);
  const seeds = path.join(CORE, 'fuzz', 'corpus', name);
  const artifacts = path.join(OUT, 'artifacts');
  fs.mkdirSync(corpus, { recursive: true });
  fs.mkdirSync(artifacts, { recursive: true });
  const args = [
    `-max_total_time=${options.seconds}`,
    `-max_len=${options.maxLen}`,
    '-timeout=30',
    '-rss_limit_mb=2560',
    '-print_final_stats=1',
    `-artifact_prefix=${artifacts}${path.sep}${name}-`,
    corpus,
  ];
  if (fs.existsSync(seeds)) args.push(seeds);
  console.log(`\nfuzz: ${name} for ${options.seconds} s`);
  const start = Date.now();
  const env = { ...process.env, ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1:symbolize=1', UBSAN_OPTIONS: 'print_stacktrace=1' };
  const result = run(binary, args, { env, timeout: (options.seconds + 120) * 1000 });
  const output = (result.stderr || '') + (result.stdout || '');
  const stat = (key) => {
    const match = new RegExp(`stat::${key}:\\s+(\\d+)`).exec(output);
    return match ? Number(match[1]) : undefined;
  };
  const executions = stat('number_of_executed_units') ?? Number((/Done (\d+) runs/.exec(output) || [])[1] ?? 0);
  const artifact = (/Test unit written to (\S+)/.exec(output) || [])[1];
  const failed = result.status !== 0 || artifact !== undefined;
  if (failed) {
    // What went wrong: the fuzzer's own line and the sanitizer's report.
    const lines = output.split('\n');
    const first = lines.findIndex((line) => /FAILED:|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:/.test(line));
    console.log(lines.slice(Math.max(0, first), first + 40).join('\n'));
    if (artifact) {
      console.log(`fuzz: ${name} failed; the input is ${artifact}\n` +
        `  replay it, decoded:  REFHEAP_FUZZ_TRACE=1 ${binary} ${artifact}\n` +
        `  minimize it:         ${binary} -minimize_crash=1 -runs=20000 ${artifact}`);
    } else {
      console.log(`fuzz: ${name} exited with status ${result.status}${result.signal ? ` (${result.signal})` : ''}`);
    }
  }
  return {
    name,
    executions,
    seconds: Math.round((Date.now() - start) / 1000),
    perSecond: stat('average_exec_per_sec'),
    corpus: fs.readdirSync(corpus).length,
    failed,
  };
}

// The statistics-page reader's fuzzer, in vitest, for `seconds`.
function fuzzStatsPageReader(options) {
  const name = 'stats_page_reader (test/stats-page-fuzz.test.ts)';
  console.log(`\nfuzz: ${name} for ${options.seconds} s`);
  if (!fs.existsSync(path.join(ROOT, 'build', 'Release', 'refheap.node'))) {
    console.log('fuzz: skipped, the addon is not built (npm run build)');
    return { name, executions: 0, seconds: 0, corpus: 0, failed: false, skipped: true };
  }
  const start = Date.now();
  const vitest = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  const env = { ...process.env, REFHEAP_FUZZ_SECONDS: String(Math.max(1, Math.round(options.seconds / 1.5))) };
  const result = run(process.execPath, [vitest, 'run', 'test/stats-page-fuzz.test.ts'], { cwd: ROOT, env, timeout: (options.seconds + 120) * 1000 });
  const output = (result.stdout || '') + (result.stderr || '');
  const executions = [...output.matchAll(/stats page fuzz: (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  const failed = result.status !== 0;
  if (failed) console.log(output.split('\n').slice(-60).join('\n'));
  return { name, executions, seconds: Math.round((Date.now() - start) / 1000), corpus: 0, failed };
}

function main() {
  const options = parseArgs(process.argv.slice(2));
  const names = targets().filter((name) => options.only === undefined || name.startsWith(options.only));
  const readerWanted = options.only === undefined || 'stats_page_reader'.startsWith(options.only);
  if (names.length === 0 && !readerWanted) usage(`no fuzz target matches ${options.only}`);
  const results = [];
  if (names.length > 0) {
    ensureClang();
    build();
    for (const name of names) results.push(fuzzTarget(name, options));
  }
  if (readerWanted) results.push(fuzzStatsPageReader(options));
  console.log('\nfuzz: executions per target');
  for (const r of results) {
    const rate = r.perSecond !== undefined ? `, ${r.perSecond}/s` : '';
    const corpus = r.corpus ? `, corpus ${r.corpus}` : '';
    console.log(`  ${r.failed ? 'FAIL' : r.skipped ? 'skip' : 'ok  '} ${r.name}: ${r.executions} executions in ${r.seconds} s${rate}${corpus}`);
  }
  process.exit(results.some((r) => r.failed) ? 1 : 0);
}

main();
