/**
 * The `refheap` command line. Exit status: 0 success, 1 failure (a failed
 * check, a heap that cannot be found or read), 2 usage error.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { STRESS_SHAPES } from './stress';
import { ps } from './commands/ps';
import { show } from './commands/show';
import { parseInterval, stat } from './commands/stat';
import { stress, type StressFlags } from './commands/stress';
import { CommandError } from './commands/command-error';
import { parseTarget, type Target } from './commands/target';

function positiveInteger(what: string) {
  return (value: string): number => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number <= 0) {
      throw new InvalidArgumentError(`${what} must be a positive integer.`);
    }
    return number;
  };
}

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError('seconds must be a positive number.');
  return number;
}

function program(setCode: (code: number | Promise<number>) => void): Command {
  const root = new Command('refheap')
    .description("refheap: CPython-style memory management for Node.js, off V8's heap")
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) })
    .showHelpAfterError('(add --help for usage)');
  root
    .command('ps')
    .description('list the heaps that publish live statistics, in every process of yours')
    .option('--json', 'a JSON array: [{ pid, heapId, name, mappedBytes, liveBlocks, collections }]')
    .action((flags: { json?: boolean }) => setCode(ps(flags)));
  root
    .command('stat')
    .description("sample one heap's statistics every interval, one row per sample (like jstat -gcutil)")
    .argument('<target>', '<pid> or <pid>.<heap>, as `refheap ps` lists them', parseTarget)
    .argument('[interval]', 'time between samples: 500, 250ms, 2s (default: 1s)', parseInterval)
    .argument('[count]', 'number of samples (default: until interrupted, or the heap ends)', positiveInteger('count'))
    .helpOption('--help', 'display help for command')
    .option('-h, --header-every <n>', 'repeat the header every n rows', positiveInteger('-h'))
    .action((target: Target, interval: number | undefined, samples: number | undefined, flags: { headerEvery?: number }) => {
      const once = interval === undefined;
      setCode(stat(target, interval ?? 1000, samples ?? (once ? 1 : Infinity), flags.headerEvery ?? Infinity));
    });
  root
    .command('show')
    .description("everything one heap's live statistics say, with its size-class table")
    .argument('<target>', '<pid> or <pid>.<heap>, as `refheap ps` lists them', parseTarget)
    .option('--json', 'HeapStats, as heap.stats() returns it in the process itself')
    .action((target: Target, flags: { json?: boolean }) => setCode(show(target, flags)));
  root
    .command('stress')
    .description('allocate real memory, build and drop graphs, let the collector work, check the heap')
    .option('--blocks <n>', 'blocks per graph', positiveInteger('blocks'), 100_000)
    .addOption(new Option('--shape <shape>', 'graph shape (default: each in turn)').choices(STRESS_SHAPES))
    .option('--seconds <s>', 'how long to run in all', positiveNumber, 5)
    .option('--max-bytes <b>', 'cap on bytes mapped from the OS', positiveInteger('max-bytes'))
    .option('--json', 'one JSON document instead of text')
    .action((flags: StressFlags) => setCode(stress(flags)));
  return root;
}

export async function main(argv: string[]): Promise<number> {
  let code: number | Promise<number> = 0;
  try {
    await program((result) => (code = result)).parseAsync(argv);
    return await code;
  } catch (error) {
    // --help and --version end here too, successfully.
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof CommandError) {
      process.stderr.write(`refheap: ${error.message}\n`);
      return 1;
    }
    // Anything else is a bug, but still one line, not a stack trace.
    process.stderr.write(`refheap: ${(error as Error)?.message ?? String(error)}\n`);
    if (process.env.REFHEAP_DEBUG) process.stderr.write(`${(error as Error)?.stack}\n`);
    return 1;
  }
}
