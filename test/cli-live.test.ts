/**
 * `refheap ps`, `stat` and `show` against real child processes that publish
 * named heaps, in a private statistics directory. Nothing here sleeps for a
 * fixed time: the tests wait for what they need (a line of output, a page,
 * an exit), polling up to a generous deadline, so a busy machine only makes
 * them slower.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HeapStats } from '../lib/index';
import { expectBuilt, ROOT } from './child';

const BIN = path.join(ROOT, 'bin', 'refheap.js');
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-cli-'));
const ENV = { ...process.env, NODE_OPTIONS: '', REFHEAP_STATS_DIR: DIR };

interface Report {
  pid: number;
  heaps: { id: number; stats: HeapStats; malloc: string }[];
}

/** Runs the CLI to completion. */
function cli(...args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: ENV, timeout: 30_000 });
  expect(result.signal, result.stderr).toBeNull();
  return result;
}

/**
 * A child with two named heaps. It reports each heap's stats() as a JSON
 * line when ready and on "report"; "exit" ends it with process.exit().
 */
const CHILD_SOURCE = `
const { Heap } = require(${JSON.stringify(ROOT)});
const heaps = [new Heap({ name: 'orders' }), new Heap({ name: 'sessions' })];
heaps[0].allocMany(5000, 32);
const nodes = heaps[1].allocMany(300, 200, 2);
for (let i = 0; i < nodes.length; i++) heaps[1].setRef(nodes[i], 0, nodes[(i + 1) % nodes.length]);
heaps[1].gc.collect();
const report = () => console.log(JSON.stringify({ pid: process.pid, heaps: heaps.map((h) => ({ id: h.id, stats: h.stats(), malloc: h.debugMallocStats() })) }));
report();
require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'report') report();
  if (line === 'churn') for (let i = 0; i < 20000; i++) heaps[0].release(heaps[0].alloc(16));
  if (line === 'exit') process.exit(0);
});
`;

const children: ChildProcessWithoutNullStreams[] = [];

/** How long to wait for anything a live process should do soon. */
const DEADLINE_MS = 20_000;

/** Resolves once `condition()` holds, polling every 20 ms; fails with `what` after `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `promise`, or a failure naming `what` after `timeoutMs`. */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gave up after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A CLI command left running: its output so far, and its exit code once it ends. */
function runCli(...args: string[]) {
  const running = spawn(process.execPath, [BIN, ...args], { env: ENV });
  children.push(running as ChildProcessWithoutNullStreams);
  const output = { stdout: '', stderr: '' };
  running.stdout.on('data', (data) => (output.stdout += data));
  running.stderr.on('data', (data) => (output.stderr += data));
  const exit = new Promise<number | null>((resolve) => running.on('exit', (code) => resolve(code)));
  return { running, output, exit: () => within(exit, `refheap ${args.join(' ')} to exit`) };
}

/** The lines a command printed so far. */
const linesOf = (text: string) => text.split('\n').filter((line) => line !== '');

/** Starts a child; `next()` resolves with its next report (the first comes unasked). */
function startChild(): { child: ChildProcessWithoutNullStreams; next: () => Promise<Report> } {
  const child = spawn(process.execPath, ['-e', CHILD_SOURCE], { env: ENV, cwd: ROOT });
  children.push(child);
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Report> => {
    const { value, done } = await within(lines.next(), 'the child to report');
    if (done) throw new Error('the child ended without reporting');
    return JSON.parse(value as string) as Report;
  };
  return { child, next };
}

function exited(child: ChildProcessWithoutNullStreams): Promise<void> {
  const exit = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return within(exit, 'the child to exit');
}

const psJson = () => JSON.parse(cli('ps', '--json').stdout) as { pid: number; heapId: number; name: string; mappedBytes: number; liveBlocks: number; collections: number }[];

beforeAll(() => expectBuilt());
afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
});
afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));

describe('refheap ps', () => {
  it('lists the named heaps of a live process, and forgets them when it exits', async () => {
    const { child, next } = startChild();
    const report = await next();
    const text = cli('ps');
    expect(text.status).toBe(0);
    expect(text.stdout.split('\n')[0]).toMatch(/^\s*PID\s+HEAP\s+NAME\s+MAPPED\s+BLOCKS\s+GCS\s+UPTIME$/);
    expect(text.stdout).toMatch(new RegExp(`^\\s*${report.pid}\\s+${report.heaps[0]!.id}\\s+orders\\s`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^\\s*${report.pid}\\s+${report.heaps[1]!.id}\\s+sessions\\s`, 'm'));

    const listed = psJson().filter((entry) => entry.pid === report.pid);
    expect(listed).toEqual(
      report.heaps.map(({ id, stats }, i) => ({
        pid: report.pid,
        heapId: id,
        name: ['orders', 'sessions'][i],
        mappedBytes: stats.mappedBytes,
        liveBlocks: stats.liveBlocks,
        collections: stats.gc.generations.reduce((sum, g) => sum + g.collections, 0),
      })),
    );
    expect(listed[0]!.liveBlocks).toBe(5000);

    child.stdin.write('exit\n');
    await exited(child);
    expect(psJson().filter((entry) => entry.pid === report.pid)).toEqual([]);
    expect(cli('ps').stdout.trim().split('\n')).toHaveLength(1);  // the header alone
  });

  it('drops a killed process: its files are removed by the next ps', async () => {
    const { child, next } = startChild();
    const { pid } = await next();
    child.kill('SIGKILL');
    await exited(child);
    expect(fs.readdirSync(DIR).filter((name) => name.startsWith(`${pid}.`))).toHaveLength(2);
    expect(psJson().filter((entry) => entry.pid === pid)).toEqual([]);
    expect(fs.readdirSync(DIR).filter((name) => name.startsWith(`${pid}.`))).toEqual([]);
  });

  it('prints [] with --json when no heap publishes', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-cli-empty-'));
    const result = spawnSync(process.execPath, [BIN, 'ps', '--json'], { encoding: 'utf8', env: { ...ENV, REFHEAP_STATS_DIR: empty } });
    fs.rmSync(empty, { recursive: true });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
  });
});

describe('refheap show', () => {
  it('--json reports exactly what the process\'s own stats() says', async () => {
    const { child, next } = startChild();
    let report = await next();
    for (const [i, heap] of report.heaps.entries()) {
      const result = cli('show', `${report.pid}.${heap.id}`, '--json');
      expect(result.status, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual(heap.stats);
      expect(heap.stats.liveBlocks).toBe([5000, 300][i]);
    }
    // After more work, the page follows.
    child.stdin.write('churn\nreport\n');
    report = await next();
    const after = JSON.parse(cli('show', `${report.pid}.${report.heaps[0]!.id}`, '--json').stdout) as HeapStats;
    expect(after).toEqual(report.heaps[0]!.stats);
    expect(after.allocations).toBe(25000);
  });

  it('prints the whole report, size-class table included', async () => {
    const { next } = startChild();
    const report = await next();
    const heap = report.heaps[1]!;
    const result = cli('show', `${report.pid}.${heap.id}`);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`heap "sessions": pid ${report.pid}, heap ${heap.id}`);
    expect(result.stdout).toMatch(/class\s+size\s+num pools\s+blocks in use\s+avail blocks/);
    const row = heap.stats.sizeClasses[0]!;
    expect(result.stdout).toMatch(new RegExp(`^\\s+\\d+\\s+${row.blockSize}\\s+${row.pools}\\s+${row.blocksInUse}\\s+${row.blocksFree}$`, 'm'));
    expect(result.stdout).toMatch(new RegExp(`^\\s+0\\s+${heap.stats.gc.generations[0]!.collections}\\s`, 'm'));
    // From the page's counters, the same text the process's own walk of its arenas printed.
    expect(result.stdout).toContain(heap.malloc);
  });

  it('asks which heap when the process has several, in one line', async () => {
    const { next } = startChild();
    const { pid } = await next();
    const result = cli('show', String(pid));
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`process ${pid} has 2 heaps`);
  });
});

describe('refheap stat', () => {
  it('prints a header and one row per sample', async () => {
    const { next } = startChild();
    const report = await next();
    const result = cli('stat', `${report.pid}.${report.heaps[0]!.id}`, '100', '3');
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    const header = lines[0]!.trim().split(/\s+/);
    expect(header).toEqual(['UTIL%', 'POOL%', 'MAPPED', 'BLOCKS', 'TRACKED', 'ALLOC/s', 'GC0', 'GC1', 'GC2', 'COLLECTED', 'GARBAGE', 'LAST_MS', 'GCT_S']);
    for (const line of lines.slice(1)) {
      const cells = line.trim().split(/\s+/);
      // MAPPED is two words ("1.0 MiB"): 14 cells.
      expect(cells).toHaveLength(14);
      expect(cells[4]).toBe('5,000');
    }
  });

  it('repeats the header every -h rows', async () => {
    const { next } = startChild();
    const report = await next();
    const result = cli('stat', '-h', '2', `${report.pid}.${report.heaps[0]!.id}`, '20ms', '5');
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(8);
    expect(lines.filter((line) => line.includes('UTIL%'))).toHaveLength(3);
  });

  it('stops with a message when the heap goes away', async () => {
    const { child, next } = startChild();
    const report = await next();
    const { output, exit } = runCli('stat', `${report.pid}.${report.heaps[0]!.id}`, '100');
    await waitFor(() => linesOf(output.stdout).length >= 3, 'a header and two rows');
    child.stdin.write('exit\n');
    expect(await exit()).toBe(0);
    expect(linesOf(output.stdout).length).toBeGreaterThanOrEqual(3);
    expect(output.stderr).toContain(`heap ${report.pid}.${report.heaps[0]!.id} is gone`);
  });
});

describe('refheap stat <pid>', () => {
  it('follows the process from one heap to the next, as during refheap stress', async () => {
    // One heap at a time: on "next" the child replaces it, once stat has
    // shown the one before; on "exit" the process ends.
    const source = `
      const { Heap } = require(${JSON.stringify(ROOT)});
      let heap = new Heap({ name: 'generation-0' });
      let n = 0;
      console.log(process.pid);
      require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
        heap.close();
        if (line === 'exit') process.exit(0);
        heap = new Heap({ name: 'generation-' + ++n });
        heap.allocMany(100 * n, 8);
      });
    `;
    const child = spawn(process.execPath, ['-e', source], { env: ENV, cwd: ROOT });
    children.push(child);
    const pid = Number((await within(createInterface({ input: child.stdout })[Symbol.asyncIterator]().next(), 'the pid')).value);
    const { output, exit } = runCli('stat', String(pid), '50');
    await waitFor(() => linesOf(output.stdout).length >= 2, 'the first row');
    for (let n = 1; n <= 3; n++) {
      child.stdin.write('next\n');
      await waitFor(() => output.stdout.includes(`"generation-${n}"`), `stat to follow to generation-${n}`);
    }
    child.stdin.write('exit\n');
    expect(await exit(), output.stderr).toBe(0);
    expect(output.stderr).toContain(`process ${pid} has exited`);
    const switches = linesOf(output.stdout).filter((line) => line.startsWith('# now heap'));
    expect(switches).toHaveLength(3);
    switches.forEach((line, i) => expect(line).toMatch(new RegExp(`^# now heap ${pid}\\.\\d+ "generation-${i + 1}"$`)));
  });
});

describe('refheap stat, ending', () => {
  it('stops quietly when its reader goes away (stat | head)', async () => {
    const { next } = startChild();
    const report = await next();
    const { running, output, exit } = runCli('stat', `${report.pid}.${report.heaps[0]!.id}`, '20');
    await waitFor(() => output.stdout !== '', 'the first line');
    running.stdout.destroy();  // as `head -1` does once it has its line
    expect(await exit()).toBe(0);
    expect(output.stderr).toBe('');
  });

  it('gives up on a process that keeps running without a heap', async () => {
    // The heap closes on "close", once stat has shown it; the process stays.
    const source = `
      const { Heap } = require(${JSON.stringify(ROOT)});
      const heap = new Heap({ name: 'short-lived' });
      console.log(process.pid);
      require('readline').createInterface({ input: process.stdin }).on('line', () => heap.close());
    `;
    const child = spawn(process.execPath, ['-e', source], { env: ENV, cwd: ROOT });
    children.push(child);
    const pid = Number((await within(createInterface({ input: child.stdout })[Symbol.asyncIterator]().next(), 'the pid')).value);
    const { output, exit } = runCli('stat', String(pid), '100', '50');
    await waitFor(() => linesOf(output.stdout).length >= 2, 'the first row');
    child.stdin.write('close\n');
    expect(await exit()).toBe(1);
    expect(output.stderr.trim()).toBe(`refheap: process ${pid} has no heap any more`);
  });
});

describe('errors', () => {
  it('a pid without heaps is one line, no stack trace, exit 1', () => {
    for (const args of [['stat', '999999999'], ['show', '999999999'], ['show', '1.999999', '--json']]) {
      const result = cli(...args);
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^refheap: .* has no live heap/);
      expect(result.stdout).toBe('');
    }
  });

  it('usage errors exit 2', () => {
    const cases = [['stat'], ['stat', 'abc'], ['stat', '1.x'], ['stat', '1', '0'], ['stat', '1', 'soon'], ['stat', '1', '100', '0'],
      ['stat', '1', '-h', '0'], ['stat', '1', '3000000000'], ['show'], ['show', '-5'], ['ps', '--nope'], ['bogus'], ['show', '1', 'extra']];
    for (const args of cases) {
      const result = cli(...args);
      expect(result.status, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(/^error: /);
    }
  });

  it('--help works on every command', () => {
    for (const command of [[], ['ps'], ['stat'], ['show'], ['stress']]) {
      const result = cli(...command, '--help');
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^Usage: refheap/);
    }
  });
});
