/** `refheap stress`: the project's main job, a real-memory workload with every check on. */
import { runStress, STRESS_SHAPES, type StressReport, type StressShape } from '../stress';

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function describe(report: StressReport): string {
  return [
    `${report.shape}: ${report.rounds} graphs of ${report.blocksPerGraph} blocks in ${report.seconds.toFixed(1)} s, ` +
      `${(report.blocksPerSecond / 1e6).toFixed(2)} M blocks/s`,
    `  collections ${report.collections}, ${report.collected} blocks collected, ` +
      `pauses max ${report.pauseMaxMs.toFixed(2)} ms, total ${report.pauseTotalMs.toFixed(1)} ms`,
    `  mapped: peak ${mib(report.peakMappedBytes)}, after ${mib(report.mappedBytesAfter)}; ` +
      `RSS before ${mib(report.rssBefore)}, peak ${mib(report.rssPeak)}, after ${mib(report.rssAfter)}`,
    `  ${report.invariantChecks} full heap checks: ${report.ok ? 'passed' : `FAILED: ${report.problem}`}`,
  ].join('\n');
}

/** A one-line progress bar on a terminal; nothing when stderr is piped. */
function progressBar(label: string): ((fraction: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = -1;
  return (fraction) => {
    const filled = Math.min(30, Math.floor(fraction * 30));
    if (filled === last) return;
    last = filled;
    process.stderr.write(`\r${label.padEnd(7)} [${'#'.repeat(filled)}${' '.repeat(30 - filled)}] ${Math.floor(Math.min(1, fraction) * 100)}%`);
  };
}

export interface StressFlags {
  blocks: number;
  shape?: StressShape;
  seconds: number;
  maxBytes?: number;
  json?: boolean;
}

export function stress(flags: StressFlags): number {
  const shapes = flags.shape ? [flags.shape] : [...STRESS_SHAPES];
  const reports = shapes.map((shape) => {
    const bar = flags.json ? undefined : progressBar(shape);
    const report = runStress({
      blocks: flags.blocks,
      shape,
      seconds: flags.seconds / shapes.length,
      maxBytes: flags.maxBytes,
      onProgress: bar,
    });
    if (bar) process.stderr.write('\r\x1b[K');
    if (!flags.json) console.log(describe(report));
    return report;
  });
  const ok = reports.every((r) => r.ok);
  if (flags.json) console.log(JSON.stringify({ ok, reports }, null, 2));
  else console.log(ok ? 'stress: every check passed' : 'stress: FAILED');
  return ok ? 0 : 1;
}
