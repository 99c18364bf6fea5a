#!/usr/bin/env node
// `npm test`: builds what is stale, runs the C++ core's own tests (under
// ASan/UBSan) and the vitest suites, and ends with one line
// "N passed, M failed" that counts both.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result;
}

function mustRun(command, args) {
  const { status } = run(command, args);
  if (status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed (exit ${status})`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

// Build: the addon (incrementally when already configured) and the TypeScript.
if (!fs.existsSync(path.join(root, 'build', 'Makefile'))) mustRun(bin('node-gyp'), ['configure']);
mustRun(bin('node-gyp'), ['build', '-j', String(os.availableParallelism?.() ?? 2)]);
mustRun(bin('tsc'), ['-p', 'tsconfig.json']);
mustRun(process.execPath, ['scripts/write-esm-entry.js']);

let passed = 0;
let failed = 0;

// Each of the core's test programs prints "core: N passed, M failed".
const core = run('make', ['-s', '-C', 'native/core', 'test'], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
process.stdout.write(core.stdout);
let coreFailed = 0;
for (const counts of core.stdout.matchAll(/core: (\d+) passed, (\d+) failed/g)) {
  passed += Number(counts[1]);
  coreFailed += Number(counts[2]);
}
failed += coreFailed;
if (core.status !== 0 && coreFailed === 0) failed += 1; // one crashed or did not build

// vitest: read its counts from the JSON reporter.
const report = path.join(os.tmpdir(), `refheap-vitest-${process.pid}.json`);
const vitest = run(bin('vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`]);
try {
  const results = JSON.parse(fs.readFileSync(report, 'utf8'));
  passed += results.numPassedTests;
  failed += results.numFailedTests;
  if (vitest.status !== 0 && results.numFailedTests === 0) failed += 1; // a suite failed to load
  fs.rmSync(report);
} catch {
  failed += 1;
}

console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
