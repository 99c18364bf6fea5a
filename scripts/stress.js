#!/usr/bin/env node
// `npm run stress [blocks] [seconds]`: the stress workload on every shape,
// until the `refheap stress` command exists. Exits 1 if a check fails.
'use strict';
const { runStress, STRESS_SHAPES } = require('../dist/stress.js');

const blocks = Number(process.argv[2] ?? 100_000);
const seconds = Number(process.argv[3] ?? 2);
let failed = false;
for (const shape of STRESS_SHAPES) {
  const r = runStress({ blocks, shape, seconds });
  const mib = (n) => (n / 2 ** 20).toFixed(1);
  console.log(
    `${shape.padEnd(6)} ${r.rounds} graphs of ${blocks}: ${(r.blocksPerSecond / 1e6).toFixed(2)} M blocks/s, ` +
      `peak ${mib(r.peakMappedBytes)} MiB mapped, ${mib(r.mappedBytesAfter)} MiB after; ` +
      `RSS ${mib(r.rssBefore)} -> ${mib(r.rssPeak)} -> ${mib(r.rssAfter)} MiB; ` +
      `${r.collections} collections (max pause ${r.pauseMaxMs.toFixed(1)} ms), ${r.invariantChecks} full checks ${r.ok ? 'passed' : 'FAILED: ' + r.problem}`,
  );
  failed ||= !r.ok;
}
process.exit(failed ? 1 : 0);
