/**
 * Reading a live statistics page (the writer and the layout are described in
 * native/core/stats_page.h). The reader trusts nothing in the file: it
 * refuses links, files of another owner or mode, and anything truncated or
 * malformed, each with a message that says which.
 */
import fs from 'node:fs';
import { currentUid } from './stats-dir';
import { statsFields, statsPageLayout } from './native';
import { buildStats, tableRows, type HeapStats, type StatsField } from './stats';

/** The header's offsets, as the core defines them (PageHeader in stats_page.h). */
const HEADER = { ...statsPageLayout.offsets, bytes: statsPageLayout.headerBytes, nameCapacity: statsPageLayout.nameCapacity };
const MAGIC = statsPageLayout.magic;
const MAX_FIELDS = 10_000;
/** Far above any real page (about 12 KiB), far below what could exhaust a reader. */
const MAX_PAGE_BYTES = 1 << 20;
/** A writer holds its sequence odd for a few system calls; this many tries mean something is wrong... */
const MAX_TRIES = 10_000;
/** ...and for at least this long, before a page that keeps changing is given up on. */
const MIN_TRY_MS = 2_000;

export interface StatsPage {
  path: string;
  pid: number;
  heapId: number;
  threadId: number;
  name: string;
  /** When the heap was created and when this snapshot was written, ms since the Unix epoch. */
  createdMs: number;
  publishedMs: number;
  /** The process's start time in clock ticks after boot (0: unknown); tells a reused pid apart. */
  processStart: number;
  /** Snapshots written so far. */
  snapshots: number;
  stats: HeapStats;
  /** The values of the fields it was read against, in order (what `formatMallocStats` takes). */
  values: Float64Array;
}

export class StatsPageError extends Error {
  readonly code = 'ERR_STATS_PAGE';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'StatsPageError';
  }
}

/** Whether `header` (at least 40 bytes) starts like a page written by process `pid`. */
export function isPageHeader(header: Buffer, pid: number): boolean {
  return header.toString('latin1', 0, 8) === MAGIC && header.readBigUInt64LE(HEADER.pid) === BigInt(pid);
}

function u64(buffer: Buffer, offset: number): number {
  return Number(buffer.readBigUInt64LE(offset));
}

/** Opens `path` for reading after checking what it is; the file descriptor. */
function openChecked(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted in the directory must not hang the reader.
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new StatsPageError(path, 'is a symbolic link; refusing to follow it');
    if (code === 'ENOENT') throw new StatsPageError(path, 'no longer exists (the heap was closed)');
    throw new StatsPageError(path, `cannot be opened: ${(error as Error).message}`);
  }
  const info = fs.fstatSync(fd);
  const refuse = (reason: string): never => {
    fs.closeSync(fd);
    throw new StatsPageError(path, reason);
  };
  if (!info.isFile()) refuse('is not a regular file');
  if (info.uid !== currentUid()) refuse(`belongs to uid ${info.uid}, not to you`);
  const mode = info.mode & 0o777;
  if (mode !== 0o600) refuse(`has mode 0${mode.toString(8)}; a statistics page has mode 0600`);
  if (info.size < HEADER.bytes) refuse(`is truncated: ${info.size} bytes, less than a header`);
  if (info.size > MAX_PAGE_BYTES) refuse(`is malformed: ${info.size} bytes, more than any statistics page`);
  return { fd, size: info.size };
}

function readAt(fd: number, buffer: Buffer, position: number, length = buffer.length): number {
  return fs.readSync(fd, buffer, 0, length, position);
}

/**
 * One consistent copy of the page: the sequence is read before and after
 * the copy, and the copy is kept only if both are the same even number.
 * The sequence read after one try is the one before the next, so a retry
 * costs two reads: a writer that publishes often leaves room enough.
 */
function consistentCopy(path: string, fd: number, size: number): Buffer {
  const page = Buffer.alloc(size);
  const sequence = Buffer.alloc(8);
  const readSequence = (): bigint | undefined =>
    readAt(fd, sequence, HEADER.sequence) === 8 ? sequence.readBigUInt64LE(0) : undefined;
  let before = readSequence();
  const first = before;
  // MAX_TRIES tries; while the sequence moves (a live writer, not a stuck
  // one), for MIN_TRY_MS at least: on a loaded machine one try can take
  // long enough that each of a burst of tries meets a write.
  const started = Date.now();
  let tries = 0;
  // A sequence that stays odd may be a writer preempted mid-snapshot on a
  // loaded machine, or a dead one: a shorter wait for that.
  const goOn = () => tries < MAX_TRIES || Date.now() - started < (before !== first ? MIN_TRY_MS : MIN_TRY_MS / 8);
  for (; goOn() && before !== undefined; tries++) {
    if (before % 2n === 1n) {
      before = readSequence();
      continue;
    }
    if (readAt(fd, page, 0) !== size) break;
    const after = readSequence();
    if (after === before && page.readBigUInt64LE(HEADER.sequence) === before) return page;
    before = after;
  }
  if (fs.fstatSync(fd).size !== size) throw new StatsPageError(path, 'changed size while being read');
  throw new StatsPageError(path, `was being rewritten on each of ${tries} reads`);
}

/** The page's values by field path; the paths are checked, never trusted as object keys. */
function parseFields(path: string, page: Buffer): Map<string, number> {
  const malformed = (reason: string): never => {
    throw new StatsPageError(path, `is malformed: ${reason}`);
  };
  const count = page.readUInt32LE(HEADER.fieldCount);
  const slot = page.readUInt32LE(HEADER.pathSlotBytes);
  const paths = page.readUInt32LE(HEADER.pathsOffset);
  const kinds = page.readUInt32LE(HEADER.kindsOffset);
  const values = page.readUInt32LE(HEADER.valuesOffset);
  const headerBytes = page.readUInt32LE(HEADER.headerBytes);
  if (count === 0 || count > MAX_FIELDS) malformed(`${count} fields`);
  if (slot < 2 || slot > 256) malformed(`path slots of ${slot} bytes`);
  const within = (offset: number, bytes: number) => offset >= headerBytes && offset + bytes <= page.length;
  if (!within(paths, count * slot)) malformed('the field paths lie outside the page');
  if (!within(kinds, count)) malformed('the field kinds lie outside the page');
  if (values % 8 !== 0 || !within(values, count * 8)) malformed('the values lie outside the page');
  const byPath = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const raw = page.subarray(paths + i * slot, paths + (i + 1) * slot);
    const end = raw.indexOf(0);
    const fieldPath = raw.toString('latin1', 0, end < 0 ? slot : end);
    if (end < 0 || !/^[A-Za-z]\w*(\.\w+)*$/.test(fieldPath)) malformed(`field ${i} has no valid path`);
    const kind = page.readUInt8(kinds + i);
    if (kind > 1) malformed(`field ${fieldPath} has unknown kind ${kind}`);
    const value = page.readDoubleLE(values + i * 8);
    if (!Number.isFinite(value) || value < 0) malformed(`field ${fieldPath} holds ${value}`);
    if (byPath.has(fieldPath)) malformed(`field ${fieldPath} appears twice`);
    byPath.set(fieldPath, value);
  }
  return byPath;
}

/**
 * The values of `fields` (this build's list), looked up in the page. Fields
 * only a newer writer knows are ignored; a table's length must be a row
 * count the list has room for.
 */
function valuesFor(path: string, fields: readonly StatsField[], byPath: Map<string, number>): number[] {
  return fields.map((field) => {
    const value = byPath.get(field.path);
    if (value === undefined) throw new StatsPageError(path, `is malformed: it has no field ${field.path}`);
    if (field.path.endsWith('.length')) {
      const rows = tableRows(fields, field.path.slice(0, -'.length'.length));
      if (!Number.isInteger(value) || value > rows) {
        throw new StatsPageError(path, `is malformed: ${field.path} is ${value}, the table has ${rows} rows`);
      }
    }
    return value;
  });
}

/** Reads, checks and decodes the page at `path` against `fields` (this build's list); throws StatsPageError. */
export function readStatsPage(path: string, fields: readonly StatsField[] = statsFields): StatsPage {
  const { fd, size } = openChecked(path);
  let page: Buffer;
  try {
    const header = Buffer.alloc(HEADER.bytes);
    readAt(fd, header, 0);
    if (header.toString('latin1', 0, 8) !== MAGIC) throw new StatsPageError(path, 'is not a refheap statistics page');
    const version = header.readUInt32LE(HEADER.version);
    if (version < 1) throw new StatsPageError(path, `is malformed: version ${version}`);
    const pageBytes = u64(header, HEADER.pageBytes);
    if (header.readUInt32LE(HEADER.headerBytes) < HEADER.bytes || pageBytes < HEADER.bytes) {
      throw new StatsPageError(path, 'is malformed: impossible sizes in its header');
    }
    if (size < pageBytes) throw new StatsPageError(path, `is truncated: ${size} of ${pageBytes} bytes`);
    if (size > pageBytes) throw new StatsPageError(path, `is malformed: ${size} bytes, its header says ${pageBytes}`);
    page = consistentCopy(path, fd, size);
  } finally {
    fs.closeSync(fd);
  }
  const nameBytes = page.readUInt32LE(HEADER.nameBytes);
  if (nameBytes > HEADER.nameCapacity) throw new StatsPageError(path, `is malformed: a name of ${nameBytes} bytes`);
  const values = valuesFor(path, fields, parseFields(path, page));
  const identity = {
    name: page.toString('utf8', HEADER.name, HEADER.name + nameBytes),
    pid: u64(page, HEADER.pid),
    heapId: u64(page, HEADER.heapId),
  };
  return {
    path,
    ...identity,
    threadId: u64(page, HEADER.threadId),
    createdMs: page.readDoubleLE(HEADER.createdMs),
    publishedMs: page.readDoubleLE(HEADER.publishedMs),
    processStart: u64(page, HEADER.processStart),
    snapshots: u64(page, HEADER.sequence) / 2,
    stats: buildStats(identity, fields, values),
    values: Float64Array.from(values),
  };
}
