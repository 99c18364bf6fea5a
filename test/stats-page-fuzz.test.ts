/**
 * A fuzzer for the statistics-page reader (lib/stats-page.ts): the core only
 * writes pages, the CLI reads them, and a page is a file any process of the
 * user may have written. Real pages, damaged at random (bits, header fields,
 * field paths and kinds, values, lengths) or replaced by random bytes, go
 * through readStatsPage, which must return a page or throw a StatsPageError
 * (code ERR_STATS_PAGE) naming the file -- never another error, never hang.
 * What it accepts must also go through what `refheap show` does with it.
 *
 * Seeded and time-bounded: REFHEAP_FUZZ_SECONDS (default 2) per test,
 * REFHEAP_FUZZ_SEED to replay one run (each failure prints its seed and case).
 * `npm run fuzz` runs it for as long as the C++ fuzzers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Heap } from '../lib/index';
import { statsFields, statsPageLayout } from '../lib/native';
import { readStatsPage, StatsPageError, type StatsPage } from '../lib/stats-page';
import { formatMallocStats } from '../lib/native';
import { bytes, count, duration, printable } from '../lib/commands/format';
import { seededRandom } from './helpers';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-page-fuzz-'));
process.env.REFHEAP_STATS_DIR = DIR;  // before any heap publishes
const SECONDS = Number(process.env.REFHEAP_FUZZ_SECONDS ?? 2);
const SEED = Number(process.env.REFHEAP_FUZZ_SEED ?? Date.now() % 2 ** 31);
const AT = statsPageLayout.offsets;
/** A single read must never take this long (a reader that loops on a bad page). */
const SLOW_MS = 2000;
/** vitest's limit for one test: its budget and then some. */
const TIMEOUT_MS = SECONDS * 1000 + 60_000;

afterAll(() => fs.rmSync(DIR, { recursive: true, force: true }));

type Random = () => number;
const below = (random: Random, n: number) => Math.floor(random() * n);
const pick = <T>(random: Random, items: readonly T[]): T => items[below(random, items.length)] as T;

/** Real pages: a fresh heap, and a busy one with every size-class row and gc counters in use. */
function realPages(): Buffer[] {
  const pages: Buffer[] = [];
  const idle = new Heap({ name: 'idle' });
  const busy = new Heap({ name: 'busy \u{1F600} \u202e', thresholds: [5, 2, 2] });
  const refs: number[] = [];
  for (let size = 0; size <= 600; size += 7) refs.push(busy.alloc(size, size % 3));
  for (let i = 0; i + 1 < refs.length; i += 2) {
    if (busy.slotCount(refs[i]!) > 0) busy.setRef(refs[i]!, 0, refs[i + 1]!);
  }
  busy.releaseMany(refs.slice(0, 40));
  busy.gc.collect();
  for (const heap of [idle, busy]) {
    heap.stats();  // publishes the page (SPEC 9: take_snapshot)
    pages.push(fs.readFileSync(path.join(DIR, `${process.pid}.${heap.id}`)));
  }
  idle.close();
  busy.close();
  return pages;
}

const U32_EDGES = [0, 1, 2, 7, 8, 255, 256, 4096, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const DOUBLES = [NaN, Infinity, -Infinity, -1, -0, 0.5, 2 ** 53, 2 ** 53 + 2, 1e308, Number.MAX_VALUE, 5e-324];
const HEADER_FIELDS = Object.entries(AT) as [string, number][];

/** One damaged copy of `page`, and what was done to it (for the failure message). */
function mutate(random: Random, page: Buffer, pages: Buffer[]): { bytes: Buffer; what: string } {
  let copy = Buffer.from(page);
  const what: string[] = [];
  const count32 = copy.readUInt32LE(AT.fieldCount);
  const paths = copy.readUInt32LE(AT.pathsOffset);
  const slot = copy.readUInt32LE(AT.pathSlotBytes);
  const kinds = copy.readUInt32LE(AT.kindsOffset);
  const values = copy.readUInt32LE(AT.valuesOffset);
  const rounds = 1 + below(random, 3);
  for (let round = 0; round < rounds; round++) {
    const choice = below(random, 11);
    // An earlier round may have cut the copy below a header: then only cut or grow it.
    if (copy.length < statsPageLayout.headerBytes && choice !== 6 && choice !== 7) continue;
    switch (choice) {
      case 0: {  // bits anywhere
        const flips = 1 + below(random, 8);
        for (let i = 0; i < flips; i++) {
          const at = below(random, copy.length);
          copy[at] = (copy[at] ?? 0) ^ (1 << below(random, 8));
        }
        what.push(`${flips} bit flips`);
        break;
      }
      case 1: {  // a header field, at an edge
        const [name, offset] = pick(random, HEADER_FIELDS);
        const value = random() < 0.7 ? pick(random, U32_EDGES) : below(random, copy.length * 2);
        if (offset + 4 <= copy.length) copy.writeUInt32LE(value >>> 0, offset);
        what.push(`${name} = ${value}`);
        break;
      }
      case 2: {  // a 64-bit header field
        const name = pick(random, ['pageBytes', 'sequence', 'pid', 'heapId', 'processStart', 'threadId'] as const);
        const value = pick(random, [0n, 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, BigInt(copy.length), BigInt(copy.length) + 8n]);
        copy.writeBigUInt64LE(value, AT[name]);
        what.push(`${name} = ${value}`);
        break;
      }
      case 3: {  // a value
        if (count32 === 0 || values + count32 * 8 > copy.length) break;
        const index = below(random, count32);
        const value = pick(random, DOUBLES);
        copy.writeDoubleLE(value, values + index * 8);
        what.push(`value ${index} = ${value}`);
        break;
      }
      case 4: {  // a field path
        if (count32 === 0 || paths + count32 * slot > copy.length) break;
        const index = below(random, count32);
        const start = paths + index * slot;
        const edit = below(random, 4);
        if (edit === 0) copy.fill(0x41, start, start + slot);  // no terminating NUL
        else if (edit === 1) copy.fill(0, start, start + slot);  // empty
        else if (edit === 2) copy.copyWithin(start, paths + below(random, count32) * slot, paths + below(random, count32) * slot + slot);  // a twin
        else copy[start + below(random, slot)] = below(random, 256);
        what.push(`path ${index} edit ${edit}`);
        break;
      }
      case 5: {  // a kind
        if (count32 === 0 || kinds + count32 > copy.length) break;
        const index = below(random, count32);
        copy[kinds + index] = pick(random, [0, 1, 2, 255]);
        what.push(`kind ${index}`);
        break;
      }
      case 6: {  // cut or grown (the header's page size says otherwise)
        const length = pick(random, [0, 8, AT.sequence + 4, statsPageLayout.headerBytes - 1, statsPageLayout.headerBytes, below(random, copy.length * 2)]);
        const grown = Buffer.alloc(length);
        copy.copy(grown, 0, 0, Math.min(length, copy.length));
        copy = grown;
        what.push(`length ${length}`);
        break;
      }
      case 7: {  // consistent sizes: page_bytes follows the length
        const length = pick(random, [statsPageLayout.headerBytes, below(random, 1 << 16) + statsPageLayout.headerBytes, (1 << 20) + 8]);
        const grown = Buffer.alloc(length);
        copy.copy(grown, 0, 0, Math.min(length, copy.length));
        copy = grown;
        if (copy.length >= statsPageLayout.headerBytes) copy.writeBigUInt64LE(BigInt(length), AT.pageBytes);
        what.push(`length ${length}, pageBytes too`);
        break;
      }
      case 8: {  // random bytes after a good header
        const body = Buffer.alloc(below(random, 2 * page.length));
        for (let i = 0; i < body.length; i++) body[i] = below(random, 256);
        copy = Buffer.concat([copy.subarray(0, statsPageLayout.headerBytes), body]);
        if (random() < 0.5) copy.writeBigUInt64LE(BigInt(copy.length), AT.pageBytes);
        what.push(`random body of ${body.length}`);
        break;
      }
      case 9: {  // the layout moved: offsets shifted by a few bytes
        const name = pick(random, ['pathsOffset', 'kindsOffset', 'valuesOffset', 'fieldCount', 'pathSlotBytes', 'nameBytes'] as const);
        const delta = pick(random, [-8, -1, 1, 8, 48, -48]);
        copy.writeUInt32LE((copy.readUInt32LE(AT[name]) + delta) >>> 0, AT[name]);
        what.push(`${name} ${delta > 0 ? '+' : ''}${delta}`);
        break;
      }
      case 10: {  // another page's parts spliced in
        const other = pick(random, pages);
        const from = below(random, other.length);
        const length = below(random, other.length - from);
        other.copy(copy, below(random, copy.length), from, from + length);  // (copies what fits)
        what.push(`spliced ${length} bytes`);
        break;
      }
    }
  }
  return { bytes: copy, what: what.join('; ') };
}

/** What `refheap show` does with an accepted page must work too. */
function render(page: StatsPage): void {
  const s = page.stats;
  JSON.stringify(s);
  printable(page.name);
  duration(Date.now() - page.createdMs);
  for (const n of [s.mappedBytes, s.peakMappedBytes, s.allocatedBytes, s.requestedBytes, s.largeBlocks.bytes]) bytes(n);
  for (const n of [s.liveBlocks, s.trackedBlocks, s.allocations, s.frees, s.arenas.current, s.pools.used]) count(n);
  for (const g of s.gc.generations) count(g.collections + g.collected + g.uncollectable);
  s.gc.pauses.lastMs.toFixed(3);
  for (const row of s.sizeClasses) expect(typeof row.blockSize).toBe('number');
  try {
    formatMallocStats(page.values);
  } catch (error) {
    // `show` reports a page that does not add up; it must be an ordinary Error.
    expect(error).toBeInstanceOf(Error);
  }
}

/** Reads `bytes` as a page: a result or a StatsPageError, quickly. Whether it was accepted. */
function readOne(file: string, bytes: Buffer, context: string): boolean {
  fs.writeFileSync(file, bytes, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  const start = performance.now();
  let page: StatsPage | undefined;
  try {
    page = readStatsPage(file, statsFields);
  } catch (error) {
    if (!(error instanceof StatsPageError) || error.code !== 'ERR_STATS_PAGE' || error.path !== file) {
      throw new Error(`${context}: the reader threw ${String((error as Error)?.stack ?? error)}`);
    }
  }
  const ms = performance.now() - start;
  if (ms > SLOW_MS) throw new Error(`${context}: one read took ${ms.toFixed(0)} ms`);
  if (page === undefined) return false;
  try {
    render(page);
  } catch (error) {
    throw new Error(`${context}: an accepted page broke the output: ${String((error as Error)?.stack ?? error)}`);
  }
  return true;
}

describe('statistics page reader, fuzzed', () => {
  const pages = realPages();
  const file = path.join(DIR, 'fuzzed');

  it('accepts the real pages', () => {
    for (const page of pages) expect(readOne(file, page, 'a real page')).toBe(true);
  });

  it(`returns a page or throws ERR_STATS_PAGE for damaged pages (seed ${SEED})`, () => {
    const random = seededRandom(SEED);
    const end = performance.now() + SECONDS * 1000;
    let cases = 0, accepted = 0;
    for (; performance.now() < end || cases < 200; cases++) {
      const { bytes: damaged, what } = mutate(random, pick(random, pages), pages);
      if (readOne(file, damaged, `seed ${SEED}, case ${cases} (${what})`)) accepted++;
    }
    console.log(`stats page fuzz: ${cases} damaged pages read, ${accepted} accepted (seed ${SEED})`);
    expect(cases).toBeGreaterThanOrEqual(200);
   }, TIMEOUT_MS);

  it(`returns a page or throws ERR_STATS_PAGE for random bytes (seed ${SEED})`, () => {
    const random = seededRandom(SEED ^ 0x5eed);
    const end = performance.now() + (SECONDS * 1000) / 2;
    let cases = 0;
    for (; performance.now() < end || cases < 100; cases++) {
      const length = pick(random, [0, 7, 40, statsPageLayout.headerBytes, below(random, 20000)]);
      const noise = Buffer.alloc(length);
      for (let i = 0; i < length; i++) noise[i] = below(random, 256);
      // Half of them start like a page, so that they get past the magic.
      if (random() < 0.5 && length >= statsPageLayout.headerBytes) {
        noise.write(statsPageLayout.magic, 0, 'latin1');
        noise.writeUInt32LE(1, AT.version);
        noise.writeUInt32LE(statsPageLayout.headerBytes, AT.headerBytes);
        noise.writeBigUInt64LE(BigInt(length), AT.pageBytes);
        if (random() < 0.5) noise.writeBigUInt64LE(0n, AT.sequence);
      }
      readOne(file, noise, `seed ${SEED}, random case ${cases} (${length} bytes)`);
    }
    console.log(`stats page fuzz: ${cases} random files read (seed ${SEED})`);
   }, TIMEOUT_MS);
});
