/**
 * The live statistics page (SPEC section 9, native/core/stats_page.h): what a
 * heap publishes, how current it stays, what the reader refuses, that a
 * reader never sees a torn snapshot, and that pages go away with their heap,
 * thread or process. Every heap here publishes into a private directory.
 */
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Heap, type HeapStats } from '../lib/index';
import { statsFields, statsPageLayout } from '../lib/native';
import { statsDirectory } from '../lib/stats-dir';
import { readStatsPage, StatsPageError, type StatsPage } from '../lib/stats-page';
import { scanPages } from '../lib/stats-scan';
import { expectBuilt, requireBuilt, ROOT } from './child';
import { expectError } from './helpers';

// Before any heap exists: heaps read the variable when they publish.
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-stats-'));
process.env.REFHEAP_STATS_DIR = DIR;
const ENV = { ...process.env, NODE_OPTIONS: '', REFHEAP_STATS_DIR: DIR };

/** Offsets in PageHeader (stats_page.h), for making damaged copies. */
const AT = statsPageLayout.offsets;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const pageFile = (pid: number, heapId: number, dir = DIR) => path.join(dir, `${pid}.${heapId}`);
const modeOf = (file: string) => fs.lstatSync(file).mode & 0o777;
const openFds = () => fs.readdirSync('/proc/self/fd').length;

/** Writes `bytes` to `file` with exactly `mode` (whatever the umask). */
function plant(file: string, bytes: Buffer, mode = 0o600): string {
  fs.writeFileSync(file, bytes, { mode });
  fs.chmodSync(file, mode);
  return file;
}

/** A copy of `page` with `edit` applied. */
function damaged(page: Buffer, edit: (copy: Buffer) => void): Buffer {
  const copy = Buffer.from(page);
  edit(copy);
  return copy;
}

/** readStatsPage must refuse `file` with a StatsPageError whose message names the file and matches `reason`. */
function expectRefused(file: string, reason: RegExp): StatsPageError {
  let thrown: unknown;
  try {
    readStatsPage(file, statsFields);
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `${file} was accepted`).toBeInstanceOf(StatsPageError);
  const error = thrown as StatsPageError;
  expect(error.code).toBe('ERR_STATS_PAGE');
  expect(error.path).toBe(file);
  expect(error.message.startsWith(`${file}: `), error.message).toBe(true);
  expect(error.message).toMatch(reason);
  return error;
}

/** A pid that certainly names no process: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  expect(child.status).toBe(0);
  return child.pid;
}

/** What must hold in every snapshot, by construction of the counters; the list of violations. */
function invariantViolations(s: HeapStats): string[] {
  const bad: string[] = [];
  const blocks = s.sizeClasses.reduce((sum, c) => sum + c.blocksInUse, 0) + s.largeBlocks.count;
  if (s.liveBlocks > s.allocations) bad.push(`liveBlocks ${s.liveBlocks} > allocations ${s.allocations}`);
  if (s.frees > s.allocations) bad.push(`frees ${s.frees} > allocations ${s.allocations}`);
  if (s.liveBlocks !== s.allocations - s.frees) bad.push(`liveBlocks ${s.liveBlocks} != ${s.allocations} - ${s.frees}`);
  if (s.trackedBlocks > s.liveBlocks) bad.push(`trackedBlocks ${s.trackedBlocks} > liveBlocks ${s.liveBlocks}`);
  if (s.allocatedBytes < s.requestedBytes) bad.push(`allocatedBytes ${s.allocatedBytes} < requestedBytes ${s.requestedBytes}`);
  if (blocks !== s.liveBlocks) bad.push(`blocks in size classes and large blocks ${blocks} != liveBlocks ${s.liveBlocks}`);
  if (s.mappedBytes > s.peakMappedBytes) bad.push(`mappedBytes ${s.mappedBytes} > peakMappedBytes ${s.peakMappedBytes}`);
  return bad;
}

/** A running child (loading the built package) whose stdout is read line by line. */
interface Child {
  proc: ChildProcessWithoutNullStreams;
  nextLine(): Promise<string>;
  /** Resolves once the child has exited and its output is complete. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const children = new Set<ChildProcessWithoutNullStreams>();

function startChild(source: string, env: NodeJS.ProcessEnv = ENV): Child {
  const proc = spawn(process.execPath, ['-e', `${requireBuilt()}\n${source}`], { env, cwd: ROOT });
  children.add(proc);
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('close', (code, signal) => {
      children.delete(proc);
      resolve({ code, signal });
    }),
  );
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`the child ended without writing a line; stderr:\n${stderr}`);
    return value as string;
  };
  return { proc, nextLine, closed, stderr: () => stderr };
}

/** Runs `source` (with `refheap` loaded) to completion with `env`. */
function runChild(source: string, env: NodeJS.ProcessEnv = ENV, flags: string[] = []) {
  return spawnSync(process.execPath, [...flags, '-e', `${requireBuilt()}\n${source}`], { env, cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
}

beforeAll(expectBuilt);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  fs.rmSync(DIR, { recursive: true, force: true });
});

describe('a published heap', () => {
  it('publishes into $REFHEAP_STATS_DIR', () => {
    expect(statsDirectory()).toBe(DIR);
    expect(modeOf(DIR)).toBe(0o700);
  });

  it('has a private page that describes it and holds the snapshot heap.stats() returned', () => {
    const before = Date.now();
    const heap = new Heap({ name: 'orders' });
    const after = Date.now();
    const file = pageFile(process.pid, heap.id);
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(modeOf(file)).toBe(0o600);
    // Filled under a temporary name: none is left behind.
    expect(fs.readdirSync(DIR).filter((name) => name.endsWith('.new'))).toEqual([]);

    const refs = Array.from(heap.allocMany(300, 40, 1));
    heap.alloc(5000); // a large block too
    const stats = heap.stats();
    const page = readStatsPage(file, statsFields); // no heap call in between
    expect(page).toMatchObject({ path: file, name: 'orders', pid: process.pid, heapId: heap.id });
    expect(page.threadId).toBe(process.pid); // the main thread's tid is the pid
    expect(page.createdMs).toBeGreaterThanOrEqual(before - 1);
    expect(page.createdMs).toBeLessThanOrEqual(after + 1);
    expect(page.publishedMs).toBeGreaterThanOrEqual(page.createdMs);
    expect(page.publishedMs).toBeLessThanOrEqual(Date.now() + 1);
    // The start time from /proc, which tells a reused pid apart.
    const proc = fs.readFileSync('/proc/self/stat', 'latin1');
    expect(page.processStart).toBe(Number(proc.slice(proc.lastIndexOf(')') + 2).split(' ')[19]));
    expect(page.stats).toStrictEqual(stats);
    expect(page.stats.liveBlocks).toBe(301);

    // More blocks, another stats(): the page follows.
    heap.allocMany(50, 16);
    heap.releaseMany(refs.slice(0, 100));
    const later = heap.stats();
    const next = readStatsPage(file, statsFields);
    expect(next.stats).toStrictEqual(later);
    expect(next.stats.liveBlocks).toBe(251);
    expect(next.snapshots).toBeGreaterThan(page.snapshots);

    heap.close();
    expect(fs.existsSync(file)).toBe(false);
    expectRefused(file, /no longer exists/);
  });

  it('a reader that requires a field the page lacks refuses it', () => {
    const heap = new Heap({ name: 'older' });
    const file = pageFile(process.pid, heap.id);
    let thrown: unknown;
    try {
      readStatsPage(file, [...statsFields, { path: 'future.field', boolean: false }]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(StatsPageError);
    expect((thrown as Error).message).toMatch(/is malformed: it has no field future\.field/);
    heap.close();
  });

  it('replaces links planted at its names without following them', () => {
    // Heap ids are handed out in order: the next heap's names can be taken beforehand.
    const probe = new Heap({ publish: false });
    const id = probe.id + 1;
    probe.close();
    const victim = plant(path.join(DIR, 'victim'), Buffer.from('precious'));
    const file = pageFile(process.pid, id);
    const temporary = path.join(DIR, `.${process.pid}.${id}.new`);
    fs.symlinkSync(victim, file);
    fs.symlinkSync(victim, temporary);
    const heap = new Heap({ name: 'planted' });
    expect(heap.id).toBe(id);
    expect(fs.lstatSync(file).isFile()).toBe(true);
    expect(readStatsPage(file, statsFields).name).toBe('planted');
    expect(fs.existsSync(temporary)).toBe(false);
    expect(fs.readFileSync(victim, 'utf8')).toBe('precious');
    heap.close();
    fs.unlinkSync(victim);
  });

  it('works on without a page, with a warning, when a directory holds its name', async () => {
    const probe = new Heap({ publish: false });
    const id = probe.id + 1;
    probe.close();
    const file = pageFile(process.pid, id);
    fs.mkdirSync(file);
    const warnings: (Error & { code?: string })[] = [];
    const listener = (warning: Error) => warnings.push(warning);
    process.on('warning', listener);
    try {
      const heap = new Heap({ name: 'blocked' });
      expect(heap.id).toBe(id);
      heap.release(heap.alloc(8));
      expect(heap.stats().allocations).toBe(1);
      await sleep(10); // warnings are emitted on a later tick
      heap.close();
    } finally {
      process.off('warning', listener);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.code).toBe('REFHEAP_STATS_PAGE');
    expect(warnings[0]!.message).toMatch(/heap "blocked" has no live statistics page: cannot publish .*: Is a directory/);
    expect(fs.lstatSync(file).isDirectory()).toBe(true);
    expect(fs.existsSync(path.join(DIR, `.${process.pid}.${id}.new`))).toBe(false); // nothing left behind
    fs.rmdirSync(file);
  });

  it('a heap V8 collects without close() takes its page with it', () => {
    const result = runChild(
      `
      const fs = require('node:fs');
      let heap = new refheap.Heap({ name: 'dropped' });
      heap.alloc(10);
      const file = ${JSON.stringify(DIR)} + '/' + process.pid + '.' + heap.id;
      const before = fs.existsSync(file);
      heap = null;
      (async () => {
        for (let i = 0; i < 6; i++) { gc(); await new Promise((resolve) => setImmediate(resolve)); }
        console.log(JSON.stringify({ before, after: fs.existsSync(file) }));
        setInterval(() => {}, 1000); // stay alive: exit() must not be what removes it
        process.kill(process.pid, 'SIGKILL');
      })();
    `,
      ENV,
      ['--expose-gc'],
    );
    expect(result.signal, result.stderr).toBe('SIGKILL');
    expect(JSON.parse(result.stdout.trim())).toEqual({ before: true, after: false });
  });

  it('publish: false makes no page', () => {
    const names = new Set(fs.readdirSync(DIR));
    const heap = new Heap({ name: 'private', publish: false });
    heap.alloc(16);
    heap.stats();
    expect(fs.existsSync(pageFile(process.pid, heap.id))).toBe(false);
    expect(fs.readdirSync(DIR).filter((name) => !names.has(name))).toEqual([]);
    heap.close();
  });

  it('cuts a long name to 128 bytes on a character boundary', () => {
    for (const name of ['€'.repeat(50), `a${'😀'.repeat(40)}`, `${'x'.repeat(127)}é-tail`]) {
      const heap = new Heap({ name });
      const page = readStatsPage(pageFile(process.pid, heap.id), statsFields);
      const bytes = Buffer.byteLength(page.name);
      expect(bytes).toBeLessThanOrEqual(128);
      expect(bytes).toBeGreaterThan(124); // cut only as far as the character boundary needs
      expect(name.startsWith(page.name)).toBe(true);
      expect(page.name).not.toContain('\uFFFD'); // no character split in two
      expect(Buffer.from(page.name).equals(Buffer.from(name).subarray(0, bytes))).toBe(true);
      expect(page.stats.name).toBe(page.name);
      expect(heap.name).toBe(name); // the heap itself keeps the whole name
      heap.close();
    }
  });
});

describe('keeping the page current', () => {
  it('is refreshed by the calls themselves while JavaScript keeps the heap busy', async () => {
    const heap = new Heap({ name: 'busy' });
    const file = pageFile(process.pid, heap.id);
    const kept: number[] = [];
    let allocations = 0;
    // Synchronous: the refresh timer cannot run, only the core's own refresh (every 10 ms at most).
    const end = performance.now() + 50;
    while (performance.now() < end) {
      for (let i = 0; i < 64; i++) {
        const ref = heap.alloc(24 + (i % 8) * 16);
        if (i === 0) kept.push(ref);
        else heap.release(ref);
      }
      allocations += 64;
    }
    const busy = readStatsPage(file, statsFields).stats;
    expect(busy.allocations).toBeLessThanOrEqual(allocations);
    expect(busy.allocations, `the page shows ${busy.allocations} of ${allocations} allocations`).toBeGreaterThanOrEqual(allocations / 2);
    expect(busy.liveBlocks).toBeGreaterThanOrEqual(kept.length / 2);
    expect(busy.liveBlocks).toBeLessThanOrEqual(kept.length + 1); // + a block between its alloc and release

    // Idle: the timer (every 250 ms) brings it up to date exactly.
    await sleep(400);
    const idle = readStatsPage(file, statsFields).stats;
    expect(idle).toStrictEqual(heap.stats());
    expect(idle.allocations).toBe(allocations);
    expect(idle.liveBlocks).toBe(kept.length);
    heap.close();
  });

  it('the refresh timer runs no finalizer, even when one would close the heap', () => {
    // A view V8 dropped gives its count back at the heap's next call; were the
    // timer's refresh such a call, this finalizer would run (and close the
    // heap) from inside the timer.
    const result = runChild(`
      const heap = new refheap.Heap({ name: 'closing' });
      const Closer = heap.defineType('Closer', { finalize: () => heap.close() });
      const ref = heap.alloc(8, 0, Closer);
      let view = heap.view(ref);
      heap.release(ref);
      view = null;
      globalThis.gc();
      setTimeout(() => console.log(JSON.stringify({ closed: heap.closed })), 700);
    `, ENV, ['--expose-gc']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/Error/);
    expect(JSON.parse(result.stdout)).toEqual({ closed: false });
  });

  it('is refreshed by the timer when JavaScript made only a few calls', async () => {
    const heap = new Heap({ name: 'quiet' });
    const file = pageFile(process.pid, heap.id);
    for (let i = 0; i < 10; i++) heap.alloc(32); // far fewer calls than the core's check interval
    // No timer can have run yet (this is synchronous): still the first snapshot.
    expect(readStatsPage(file, statsFields).stats.allocations).toBe(0);
    await sleep(400);
    const page = readStatsPage(file, statsFields);
    expect(page.stats.allocations).toBe(10);
    expect(page.stats).toStrictEqual(heap.stats());
    heap.close();
  });
});

describe('what the reader refuses', () => {
  let heap: Heap;
  let good: string;
  let goodBytes: Buffer;
  let work: string;

  beforeAll(() => {
    heap = new Heap({ name: 'model' });
    heap.allocMany(10, 64);
    heap.stats();
    good = pageFile(process.pid, heap.id);
    goodBytes = fs.readFileSync(good);
    work = fs.mkdtempSync(path.join(DIR, 'refusals-'));
  });
  afterAll(() => heap.close());

  /** The index of the field at `fieldPath` in the good page. */
  function fieldIndex(fieldPath: string): number {
    const index = statsFields.findIndex((field) => field.path === fieldPath);
    expect(index).toBeGreaterThanOrEqual(0);
    return index;
  }
  /** A copy of the good page whose field `fieldPath` is renamed `renamed`. */
  function withPath(fieldPath: string, renamed: string): Buffer {
    return damaged(goodBytes, (b) => {
      const slotBytes = goodBytes.readUInt32LE(AT.pathSlotBytes);
      const slot = goodBytes.readUInt32LE(AT.pathsOffset) + fieldIndex(fieldPath) * slotBytes;
      b.fill(0, slot, slot + slotBytes);
      b.write(renamed, slot, 'latin1');
    });
  }
  /** A copy of the good page whose field `fieldPath` holds `value`. */
  function withValue(fieldPath: string, value: number): Buffer {
    return damaged(goodBytes, (b) => b.writeDoubleLE(value, goodBytes.readUInt32LE(AT.valuesOffset) + fieldIndex(fieldPath) * 8));
  }

  /** Damaged copies of a valid page, and what the reader must say of each. */
  function malformedCases(): [string, Buffer, RegExp][] {
    const fieldCount = goodBytes.readUInt32LE(AT.fieldCount);
    const valuesOffset = goodBytes.readUInt32LE(AT.valuesOffset);
    const kindsOffset = goodBytes.readUInt32LE(AT.kindsOffset);
    return [
      ['values offset outside', damaged(goodBytes, (b) => b.writeUInt32LE(goodBytes.length - 8, AT.valuesOffset)), /malformed: the values lie outside/],
      ['values offset unaligned', damaged(goodBytes, (b) => b.writeUInt32LE(valuesOffset + 4, AT.valuesOffset)), /malformed: the values lie outside/],
      ['paths offset inside the header', damaged(goodBytes, (b) => b.writeUInt32LE(0, AT.pathsOffset)), /malformed: the field paths lie outside/],
      ['kinds offset past the end', damaged(goodBytes, (b) => b.writeUInt32LE(0xffffffff, AT.kindsOffset)), /malformed: the field kinds lie outside/],
      ['no fields', damaged(goodBytes, (b) => b.writeUInt32LE(0, AT.fieldCount)), /malformed: 0 fields/],
      ['too many fields', damaged(goodBytes, (b) => b.writeUInt32LE(0xffffffff, AT.fieldCount)), /malformed: 4294967295 fields/],
      ['more fields than paths', damaged(goodBytes, (b) => b.writeUInt32LE(fieldCount + 1000, AT.fieldCount)), /malformed/],
      ['a NaN value', damaged(goodBytes, (b) => b.writeDoubleLE(NaN, valuesOffset)), /malformed: field mappedBytes holds NaN/],
      ['a negative value', damaged(goodBytes, (b) => b.writeDoubleLE(-1, valuesOffset + 8)), /malformed: field peakMappedBytes holds -1/],
      ['a bad kind byte', damaged(goodBytes, (b) => b.writeUInt8(7, kindsOffset + 3)), /malformed: field requestedBytes has unknown kind 7/],
      ['a path without its NUL', damaged(goodBytes, (b) => b.fill(0x41, goodBytes.readUInt32LE(AT.pathsOffset), goodBytes.readUInt32LE(AT.pathsOffset) + 48)), /malformed: field 0 has no valid path/],
      ['a name longer than its room', damaged(goodBytes, (b) => b.writeUInt32LE(129, AT.nameBytes)), /malformed: a name of 129 bytes/],
      ['a header smaller than a header', damaged(goodBytes, (b) => b.writeUInt32LE(100, AT.headerBytes)), /malformed: impossible sizes/],
      ['version 0', damaged(goodBytes, (b) => b.writeUInt32LE(0, AT.version)), /malformed: version 0/],
      ['longer than its header says', Buffer.concat([goodBytes, Buffer.alloc(4096)]), /malformed: \d+ bytes, its header says \d+/],
      ['larger than any page', damaged(Buffer.concat([goodBytes, Buffer.alloc(2 << 20)]), (b) => b.writeBigUInt64LE(BigInt(goodBytes.length + (2 << 20)), AT.pageBytes)), /malformed: \d+ bytes, more than any statistics page/],
      ['a path through __proto__', withPath('liveBlocks', '__proto__.polluted'), /malformed: field 4 has no valid path/],
      ['a path through constructor.prototype', withPath('liveBlocks', 'constructor.prototype.polluted'), /malformed: it has no field liveBlocks/],
      ['a path below a boolean', withPath('gc.enabled', 'gc.enabled.x'), /malformed: it has no field gc.enabled/],
      ['a field twice', withPath('liveBlocks', 'mappedBytes'), /malformed: field mappedBytes appears twice/],
      ['a fractional table length', withValue('sizeClasses.length', 0.5), /malformed: sizeClasses.length is 0.5, the table has 32 rows/],
      ['a table longer than its rows', withValue('sizeClasses.length', 1e8), /malformed: sizeClasses.length is 100000000/],
    ];
  }

  it('refuses each bad file with a message saying why, and reads the good page after each', () => {
    const fds = openFds();
    const cases: [string, RegExp][] = [];
    const add = (name: string, reason: RegExp) => cases.push([path.join(work, name), reason]);

    fs.symlinkSync(good, path.join(work, 'link'));
    add('link', /is a symbolic link/);
    plant(path.join(work, 'mode0644'), goodBytes, 0o644);
    add('mode0644', /has mode 0644; a statistics page has mode 0600/);
    plant(path.join(work, 'mode0400'), goodBytes, 0o400);
    add('mode0400', /has mode 0400/);
    plant(path.join(work, 'short'), goodBytes.subarray(0, 200));
    add('short', /is truncated: 200 bytes, less than a header/);
    plant(path.join(work, 'cut'), goodBytes.subarray(0, 4096));
    add('cut', new RegExp(`is truncated: 4096 of ${goodBytes.length} bytes`));
    plant(path.join(work, 'empty'), Buffer.alloc(0));
    add('empty', /is truncated: 0 bytes/);
    plant(path.join(work, 'random'), crypto.randomBytes(4096));
    add('random', /is not a refheap statistics page/);
    plant(path.join(work, 'zeros'), Buffer.alloc(goodBytes.length));
    add('zeros', /is not a refheap statistics page/);
    // A writer killed half-way through a snapshot leaves its sequence odd: give up, do not spin forever.
    plant(path.join(work, 'odd'), damaged(goodBytes, (b) => b.writeBigUInt64LE(b.readBigUInt64LE(AT.sequence) + 1n, AT.sequence)));
    add('odd', /was being rewritten on each of \d+ reads/);
    fs.mkdirSync(path.join(work, 'directory'), { mode: 0o700 });
    add('directory', /is not a regular file/);
    for (const [what, bytes, reason] of malformedCases()) {
      const name = `malformed ${what}`;
      plant(path.join(work, name), bytes);
      add(name, reason);
    }
    if (process.getuid?.() === 0) {
      fs.chownSync(plant(path.join(work, 'foreign'), goodBytes), 12345, 12345);
      add('foreign', /belongs to uid 12345, not to you/);
    }

    for (const [file, reason] of cases) {
      expectRefused(file, reason);
      expect(readStatsPage(good, statsFields).name).toBe('model');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The symbolic link's target and the good page are untouched.
    expect(fs.readFileSync(good).length).toBe(goodBytes.length);
    expect(openFds()).toBe(fds); // every refusal closed its file
  });

  it('refuses a FIFO named like a page without hanging', () => {
    // In a child, with a timeout: a reader that blocked on the FIFO would hang this test file.
    const fifo = path.join(work, `${process.pid}.777777`);
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const result = runChild(`
      const { readStatsPage } = require(${JSON.stringify(path.join(ROOT, 'dist', 'stats-page.js'))});
      const { scanPages } = require(${JSON.stringify(path.join(ROOT, 'dist', 'stats-scan.js'))});
      let message;
      try { readStatsPage(${JSON.stringify(fifo)}); } catch (error) { message = error.message; }
      const scan = scanPages(${JSON.stringify(work)});
      console.log(JSON.stringify({ message, problems: scan.problems, pages: scan.pages.length }));
    `);
    expect(result.signal, `timed out? stderr:\n${result.stderr}`).toBeNull();
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.trim().split('\n').pop()!);
    expect(report.message).toBe(`${fifo}: is not a regular file`);
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toContain(`${fifo}: is not a regular file`);
    expect(report.pages).toBe(0);
    fs.unlinkSync(fifo);
  });

  it('scanPages reports each bad file, returns the good pages and removes dead processes\' files', () => {
    const dir = fs.mkdtempSync(path.join(DIR, 'scan-'));
    const mine = (id: number) => pageFile(process.pid, id, dir);
    // Good: a copy of a live page under its own name, and a live heap's page of its own.
    plant(mine(heap.id), goodBytes);
    const other = new Heap({ name: 'second' });
    const otherBytes = fs.readFileSync(pageFile(process.pid, other.id));
    plant(mine(other.id), otherBytes);

    // Bad, of this (live) process: refused, reported, kept.
    const bad: [string, RegExp][] = [];
    fs.symlinkSync(mine(heap.id), mine(900001));
    bad.push([mine(900001), /is a symbolic link/]);
    bad.push([plant(mine(900002), goodBytes, 0o644), /has mode 0644/]);
    bad.push([plant(mine(900003), goodBytes.subarray(0, 200)), /is truncated/]);
    bad.push([plant(mine(900004), goodBytes.subarray(0, 8192)), /is truncated/]);
    bad.push([plant(mine(900005), crypto.randomBytes(4096)), /is not a refheap statistics page/]);
    bad.push([plant(mine(900006), damaged(goodBytes, (b) => b.writeUInt8(9, b.readUInt32LE(AT.kindsOffset)))), /is malformed/]);
    fs.mkdirSync(mine(900007), { mode: 0o700 });
    bad.push([mine(900007), /is not a regular file/]);
    bad.push([plant(mine(900008), goodBytes), /is malformed: it says it is \d+\.\d+/]); // a page under another's name

    // Pages of a dead process: removed, whatever state they are in...
    const dead = deadPid();
    const deadPage = damaged(goodBytes, (b) => {
      b.writeBigUInt64LE(BigInt(dead), AT.pid);
      b.writeBigUInt64LE(5n, AT.heapId);
    });
    const removable = [
      plant(pageFile(dead, 5, dir), deadPage),
      plant(pageFile(dead, 6, dir), deadPage.subarray(0, 300)), // half-written
      plant(path.join(dir, `.${dead}.8.new`), deadPage.subarray(0, 100)), // a temporary file left by a crash
      plant(path.join(dir, `.${dead}.12.new`), Buffer.alloc(4096)), // ...before its header was written
      // ...and a page of this pid written by an earlier process that had it (another start time).
      plant(mine(900009), damaged(goodBytes, (b) => {
        b.writeBigUInt64LE(900009n, AT.heapId);
        b.writeBigUInt64LE(b.readBigUInt64LE(AT.processStart) + 1n, AT.processStart);
      })),
    ];
    // ...but a file named like a dead process's page that is not one (by its header) is the
    // user's: reported, never removed.
    bad.push([plant(pageFile(dead, 10, dir), crypto.randomBytes(300)), /is not a refheap statistics page/]);
    bad.push([plant(pageFile(dead, 7, dir), goodBytes), /is malformed: it says it is \d+\.\d+/]);
    bad.push([plant(pageFile(dead, 11, dir), Buffer.from('my notes\n'), 0o644), /has mode 0644/]);
    // ...but never anything that is not a plain file of ours: a link of a dead pid is reported, not removed.
    fs.symlinkSync(mine(heap.id), pageFile(dead, 9, dir));
    bad.push([pageFile(dead, 9, dir), /is a symbolic link/]);
    // Not named like a page: ignored.
    plant(path.join(dir, 'notes.txt'), Buffer.from('hello'));

    const scan = scanPages(dir);
    expect(scan.pages.map((page) => [page.heapId, page.name])).toEqual([[heap.id, 'model'], [other.id, 'second']]);
    expect(scan.pages.find((page) => page.heapId === other.id)!.stats.liveBlocks).toBe(0);
    expect([...scan.removed].sort()).toEqual([...removable].sort());
    for (const file of removable) expect(fs.existsSync(file)).toBe(false);
    expect(scan.problems).toHaveLength(bad.length);
    for (const [file, reason] of bad) {
      const lines = scan.problems.filter((line) => line.includes(`${file}: `));
      expect(lines, `${file} in ${JSON.stringify(scan.problems)}`).toHaveLength(1);
      expect(lines[0]).toMatch(reason);
      expect(fs.lstatSync(file)).toBeTruthy(); // still there
    }
    expect(fs.readFileSync(mine(heap.id)).equals(goodBytes)).toBe(true); // the links' target is untouched

    // Only one pid, or one heap, when asked.
    expect(scanPages(dir, { pid: process.pid, heapId: other.id }).pages.map((page) => page.name)).toEqual(['second']);
    expect(scanPages(dir, { pid: dead }).problems).toHaveLength(4);
    other.close();
  });
});

describe('torn reads', () => {
  // The child allocates, frees, collects and publishes (each stats() call
  // publishes) as fast as it can; the parent reads as fast as it can.
  const CHURN_SOURCE = `
    const heap = new refheap.Heap({ name: 'churn' });
    console.log(JSON.stringify({ id: heap.id }));
    let seed = 12345;
    const random = (n) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const held = [];
    let published = 0;
    const end = Date.now() + 3000;
    for (let round = 0; Date.now() < end; round++) {
      const batch = 1 + random(64);
      for (let i = 0; i < batch; i++) {
        const large = random(50) === 0;
        held.push(heap.alloc(large ? 600 + random(20000) : random(480), random(3)));
      }
      if (random(8) === 0) held.push(...heap.allocMany(1 + random(200), random(300)));
      // Small cycles, dropped at once: only the collector frees them.
      const a = heap.alloc(16, 1), b = heap.alloc(32, 2);
      heap.setRef(a, 0, b);
      heap.setRef(b, 0, a);
      heap.setRef(b, 1, held.length > 0 ? held[random(held.length)] : null);
      heap.release(a);
      heap.release(b);
      while (held.length > 2000 || (held.length > 0 && random(3) === 0)) {
        const index = random(held.length);
        heap.release(held[index]);
        held[index] = held[held.length - 1];
        held.pop();
      }
      if (round % 8 === 0) heap.gc.collect(random(3));
      heap.stats();
      published++;
    }
    heap.close();
    console.log(JSON.stringify({ done: true, published }));
  `;

  it('the invariants checked below hold exactly in a quiescent heap, whatever it went through', () => {
    const heap = new Heap({ name: 'quiescent', maxBytes: 4 << 20, thresholds: [50] });
    const check = (what: string) => expect(invariantViolations(heap.stats()), what).toEqual([]);
    check('new');
    const ring = Array.from(heap.allocMany(500, 40, 2));
    ring.forEach((ref, i) => heap.setRef(ref, 0, ring[(i + 1) % ring.length]!));
    heap.releaseMany(ring);
    check('a dropped ring');
    heap.gc.collect();
    check('collected');
    // allocMany undone by the limit, small and large blocks.
    expectError(() => heap.allocMany(100_000, 200), RangeError, 'ERR_HEAP_LIMIT');
    check('allocMany undone');
    expectError(() => heap.allocMany(100, 100_000, 1), RangeError, 'ERR_HEAP_LIMIT');
    check('large allocMany undone');
    // Finalizers (one resurrecting) and blocks kept in gc.garbage.
    const saved: number[] = [];
    const finalized = heap.defineType('finalized', { finalize: (ref) => void (saved.length < 3 && saved.push(heap.retain(ref))) });
    const kept = heap.defineType('kept', { uncollectable: true });
    for (let i = 0; i < 20; i++) {
      const a = heap.alloc(16, 1, finalized);
      const b = heap.alloc(3000, 1, kept);
      heap.setRef(a, 0, b);
      heap.setRef(b, 0, a);
      heap.release(a);
      heap.release(b);
      heap.release(heap.alloc(8, 0, finalized));
    }
    heap.gc.collect();
    check('finalized and kept');
    expect(heap.stats().gc.garbage).toBeGreaterThan(0);
    heap.gc.clearGarbage();
    heap.gc.collect();
    check('garbage cleared');
    heap.close();
  });

  it('every snapshot a reader gets is consistent, while the writer publishes as fast as it can', async () => {
    const child = startChild(CHURN_SOURCE);
    try {
      const { id } = JSON.parse(await child.nextLine());
      const file = pageFile(child.proc.pid!, id);
      const violations: string[] = [];
      let reads = 0;
      let changes = 0;
      let previous: StatsPage | undefined;
      let gone = false;
      const deadline = Date.now() + 8000;
      while (!gone && Date.now() < deadline && violations.length < 20) {
        // Read in slices, so that this process's event loop still turns.
        const slice = Date.now() + 25;
        while (Date.now() < slice) {
          let page: StatsPage;
          try {
            page = readStatsPage(file, statsFields);
          } catch (error) {
            if (error instanceof StatsPageError && /no longer exists/.test(error.message)) {
              gone = true; // the child closed its heap
              break;
            }
            throw error;
          }
          reads++;
          const s = page.stats;
          for (const problem of invariantViolations(s)) violations.push(`read ${reads}: ${problem}`);
          if (page.snapshots % 1 !== 0) violations.push(`read ${reads}: odd sequence ${page.snapshots * 2}`);
          if (previous !== undefined) {
            const p = previous.stats;
            if (page.snapshots < previous.snapshots) violations.push(`read ${reads}: snapshots ${previous.snapshots} -> ${page.snapshots}`);
            if (s.allocations < p.allocations) violations.push(`read ${reads}: allocations ${p.allocations} -> ${s.allocations}`);
            if (s.frees < p.frees) violations.push(`read ${reads}: frees ${p.frees} -> ${s.frees}`);
            if (s.peakMappedBytes < p.peakMappedBytes) violations.push(`read ${reads}: peakMappedBytes went down`);
            if (s.gc.generations.some((g, i) => g.collections < p.gc.generations[i]!.collections)) {
              violations.push(`read ${reads}: a collection count went down`);
            }
            if (page.publishedMs < previous.publishedMs) violations.push(`read ${reads}: publishedMs went back`);
            if (page.snapshots !== previous.snapshots) changes++;
          }
          if (page.name !== 'churn' || page.pid !== child.proc.pid || page.heapId !== id) violations.push(`read ${reads}: identity`);
          previous = page;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(violations).toEqual([]);
      expect(reads).toBeGreaterThanOrEqual(2000);
      // The writer really was busy under the reader: many reads saw a new snapshot.
      expect(changes).toBeGreaterThanOrEqual(100);
      expect(previous!.stats.allocations).toBeGreaterThan(10_000);
      expect(previous!.stats.gc.generations[0]!.collections).toBeGreaterThan(0);
      expect(previous!.stats.gc.generations[0]!.collected).toBeGreaterThan(0);
      const { code } = await child.closed;
      expect(code, child.stderr()).toBe(0);
      expect(JSON.parse(await child.nextLine())).toMatchObject({ done: true });
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      child.proc.kill('SIGKILL');
    }
  }, 20_000);
});

describe('when the process ends', () => {
  // Two named heaps, left open; "go" on stdin picks the way out.
  const EXIT_SOURCE = `
    const heaps = [new refheap.Heap({ name: 'alpha' }), new refheap.Heap({ name: 'beta' })];
    heaps[0].allocMany(100, 32);
    heaps[0].stats(); // publishes: the timer may not have run yet when the parent looks
    console.log(JSON.stringify({ ids: heaps.map((heap) => heap.id) }));
    process.stdin.once('data', () => {
      process.stdin.destroy();
      if (how === 'exit') process.exit(3);
      if (how === 'throw') throw new Error('boom');
      // 'drain': nothing is left to do; the event loop empties.
    });
  `;

  async function endChild(how: 'drain' | 'exit' | 'throw' | 'kill') {
    const child = startChild(`const how = ${JSON.stringify(how)};\n${EXIT_SOURCE}`);
    const { ids } = JSON.parse(await child.nextLine()) as { ids: number[] };
    const pid = child.proc.pid!;
    const files = ids.map((id) => pageFile(pid, id));
    // Alive: both pages are listed with their names.
    const alive = scanPages(DIR, { pid });
    expect(alive.problems).toEqual([]);
    expect(alive.pages.map((page) => [page.heapId, page.name, page.pid])).toEqual([[ids[0], 'alpha', pid], [ids[1], 'beta', pid]]);
    expect(alive.pages[0]!.stats.liveBlocks).toBe(100);
    if (how === 'kill') child.proc.kill('SIGKILL');
    else child.proc.stdin.write('go\n');
    const end = await child.closed;
    return { how, pid, files, end, stderr: child.stderr() };
  }

  it('removes its pages on every exit that runs exit(); a killed process\'s pages are removed by the next scan', async () => {
    const [drain, exit, thrown, killed] = await Promise.all(
      (['drain', 'exit', 'throw', 'kill'] as const).map((how) => endChild(how)),
    );
    expect(drain.end, drain.stderr).toEqual({ code: 0, signal: null });
    expect(exit.end, exit.stderr).toEqual({ code: 3, signal: null });
    expect(thrown.end.code).toBe(1);
    expect(thrown.stderr).toMatch(/Error: boom/);
    expect(killed.end).toEqual({ code: null, signal: 'SIGKILL' });
    for (const run of [drain, exit, thrown]) {
      for (const file of run.files) expect(fs.existsSync(file), `${run.how}: ${file}`).toBe(false);
    }
    for (const file of killed.files) expect(fs.existsSync(file)).toBe(true);
    const scan = scanPages(DIR, { pid: killed.pid });
    expect(scan.pages).toEqual([]);
    expect(scan.problems).toEqual([]);
    expect(scan.removed.sort()).toEqual([...killed.files].sort());
    for (const file of killed.files) expect(fs.existsSync(file)).toBe(false);
  }, 20_000);
});

describe('worker threads', () => {
  const WORKER_SOURCE = `${requireBuilt()}
    const { parentPort } = require('node:worker_threads');
    const heap = new refheap.Heap({ name: 'in-worker' });
    heap.alloc(64);
    heap.stats(); // publishes
    parentPort.postMessage(heap.id);
    parentPort.once('message', (how) => { if (how === 'return') parentPort.close(); });
  `;

  it('a worker\'s page lives as long as the worker, however it ends', async () => {
    for (const how of ['return', 'terminate'] as const) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      const id = await new Promise<number>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      const file = pageFile(process.pid, id);
      expect(fs.existsSync(file), how).toBe(true);
      const page = readStatsPage(file, statsFields);
      expect(page).toMatchObject({ name: 'in-worker', pid: process.pid, heapId: id });
      expect(page.stats.liveBlocks).toBe(1);
      // The worker's own thread, not the main one.
      expect(page.threadId).not.toBe(process.pid);
      expect(fs.existsSync(`/proc/self/task/${page.threadId}`)).toBe(true);
      expect(scanPages(DIR, { pid: process.pid, heapId: id }).pages.map((p) => p.name)).toEqual(['in-worker']);
      if (how === 'return') worker.postMessage('return');
      else await worker.terminate();
      await exited;
      expect(fs.existsSync(file), how).toBe(false);
    }
  });
});

describe('the directory', () => {
  /** A child making a heap with REFHEAP_STATS_DIR = `dir`: its warnings and whether the heap worked. */
  function heapIn(dir: string) {
    const result = runChild(
      `
      const warnings = [];
      process.on('warning', (warning) => warnings.push({ code: warning.code, message: warning.message }));
      const heap = new refheap.Heap({ name: 'homeless' });
      heap.alloc(64);
      setTimeout(() => console.log(JSON.stringify({ warnings, liveBlocks: heap.stats().liveBlocks, id: heap.id, pid: process.pid })), 20);
    `,
      { ...ENV, REFHEAP_STATS_DIR: dir },
    );
    expect(result.status, result.stderr).toBe(0);
    return { report: JSON.parse(result.stdout.trim().split('\n').pop()!), stderr: result.stderr };
  }

  function expectRefusedDir(dir: string, reason: RegExp, contents: string) {
    const { report, stderr } = heapIn(dir);
    expect(report.liveBlocks).toBe(1); // the heap works without its page
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0].code).toBe('REFHEAP_STATS_PAGE');
    expect(report.warnings[0].message).toMatch(/heap "homeless" has no live statistics page/);
    expect(report.warnings[0].message).toMatch(reason);
    expect(stderr).toMatch(/\[REFHEAP_STATS_PAGE\]/);
    expect(fs.readdirSync(contents)).toEqual([]);
    // And a reader refuses to look inside, even at a page that is fine.
    plant(pageFile(process.pid, 424242, contents), fs.readFileSync(goodPage()));
    const scan = scanPages(dir);
    expect(scan.pages).toEqual([]);
    expect(scan.problems).toHaveLength(1);
    expect(scan.problems[0]).toMatch(reason);
    fs.unlinkSync(pageFile(process.pid, 424242, contents));
  }

  let keeper: Heap | undefined;
  /** A valid page of this process (of heap 424242 once renamed: its header will not match, but the directory is refused first). */
  function goodPage(): string {
    keeper ??= new Heap({ name: 'keeper' });
    return pageFile(process.pid, keeper.id);
  }
  afterAll(() => keeper?.close());

  it('a directory others can enter is refused: a warning, no page, and readers refuse it too', () => {
    const open = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-open-'));
    try {
      fs.chmodSync(open, 0o755);
      expectRefusedDir(open, /its mode is 0755; it must be 0700/, open);
    } finally {
      fs.rmSync(open, { recursive: true, force: true });
    }
  });

  it('a symbolic link to a directory is refused the same way', () => {
    const target = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-target-'));
    const link = `${target}-link`;
    try {
      fs.symlinkSync(target, link);
      expectRefusedDir(link, /it is a symbolic link/, target);
    } finally {
      fs.rmSync(link, { force: true });
      fs.rmSync(target, { recursive: true, force: true });
    }
  });

  it.runIf(process.getuid?.() === 0)('a directory of another user is refused', () => {
    const foreign = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-foreign-'));
    try {
      fs.chownSync(foreign, 12345, 12345);
      expectRefusedDir(foreign, /it belongs to uid 12345, not to you/, foreign);
    } finally {
      fs.rmSync(foreign, { recursive: true, force: true });
    }
  });

  it('a missing directory is made, private', () => {
    const nested = path.join(DIR, 'made', 'here');
    const { report } = heapIn(nested);
    expect(report.warnings).toEqual([]);
    expect(modeOf(path.join(DIR, 'made'))).toBe(0o700);
    expect(modeOf(nested)).toBe(0o700);
    // The child has exited since: its page went with it.
    expect(fs.readdirSync(nested)).toEqual([]);
  });
});
