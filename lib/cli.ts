/**
 * The `refheap` command line. Exit status: 0 success, 1 failure (a failed
 * check included), 2 usage error.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { runStress, STRESS_SHAPES, type StressReport, type StressShape } from './stress';

function positiveInteger(what: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!Number.isSafeInteger(number) || number <= 0) throw new InvalidArgumentError(`${what} must be a positive integer.`);
    return number;
  };
}

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError('seconds must be a positive number.');
  return number;
}

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

interface StressFlags {
  blocks: number;
  shape?: StressShape;
  seconds: number;
  maxBytes?: number;
  json?: boolean;
}

function stress(flags: StressFlags): number {
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

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('refheap')
    .description('refheap: CPython-style memory management for Node.js, off V8\'s heap')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  program
    .command('stress')
    .description('allocate real memory, build and drop graphs, let the collector work, check the heap')
    .option('--blocks <n>', 'blocks per graph', positiveInteger('blocks'), 100_000)
    .addOption(new Option('--shape <shape>', 'graph shape (default: each in turn)').choices(STRESS_SHAPES))
    .option('--seconds <s>', 'how long to run in all', positiveNumber, 5)
    .option('--max-bytes <b>', 'cap on bytes mapped from the OS', positiveInteger('max-bytes'))
    .option('--json', 'one JSON document instead of text')
    .action((flags: StressFlags) => {
      code = stress(flags);
    });
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, successfully.
      return error.exitCode === 0 ? 0 : 2;
    }
    throw error;
  }
  return code;
}
