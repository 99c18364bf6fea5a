#!/usr/bin/env node
/**
 * refheap's JavaScript re-entrancy fuzzer.
 *
 * Seeded random programs against the public API (lib/index.ts) whose user
 * code — finalizers, gc callbacks, gc.debugOutput, getters of options
 * objects and of array-likes, Proxy traps, indexed accessors put on
 * Array.prototype / Object.prototype — calls back into every member of the
 * API, on the same heap and on others. Arguments that would need a
 * conversion (valueOf, toString, Symbol.toPrimitive, getters, Proxies where
 * numbers are expected) must be refused without running that code.
 *
 * A program keeps a model of the counts it legitimately holds (alloc,
 * allocMany, retain) and only ever releases those, except where it means to
 * be hostile: forged, freed, stale and foreign refs, NaN, negative,
 * fractional and huge numbers, which must all be refused with the SPEC's
 * codes. After every step: heap._verify() === '' for every open heap, every
 * held ref is live with at least the held count, errors are the SPEC's
 * classes with the SPEC's codes, a failed call changed nothing (a snapshot
 * of stats() and the held counts, where no user code ran during the call),
 * a freed ref never comes back to life, finalizers run at most once per
 * block (and a resurrected block is isFinalized), errors thrown by callbacks
 * are reported (REFHEAP_CALLBACK_ERROR) and never escape, collect() agrees
 * with its stop event and its "gc: done" line and returns 0 inside a
 * collection, debug lines have CPython's format, stats() mirrors the gc
 * calls and adds up, results are arrays of own elements, a fresh block is
 * zeroed with empty slots, scalars round-trip as through a DataView.
 *
 * Programs run in child processes, so a crash is a signal or an exit code
 * with the seed that caused it, never the death of the runner.
 *
 *   node scripts/fuzz-js.js [--seconds N] [--jobs J] [--seed S] [--batch K] [--enable f1,f2] [--hostile]
 *       the runner: batches of K programs (default 25) in J children (default 1) until
 *       N seconds have passed (default: forever, until Ctrl-C or a failure)
 *   node scripts/fuzz-js.js --child --seed S [--programs N] [--trace] [--enable ...]
 *       runs programs S, S+1, ... S+N-1 in this process (what the runner spawns;
 *       with --trace every call is written to stderr as it is made: the replay)
 *
 * --enable turns on actions that are off by default because they hit a known
 * finding (see FLAGS; once fixed, it should be on by default). --break makes
 * the driver expect a wrong error code and --self-crash kills the child with
 * SIGSEGV, to show that a failure and a crash are caught and reported.
 * test/reentrancy-fuzz.test.ts runs a bounded amount (REFHEAP_JS_FUZZ_PROGRAMS).
 */
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { seededRandom } = require('../dist/random.js');

const ROOT = path.join(__dirname, '..');

// Actions kept off by default, each because it makes programs fail on a
// known finding; `--enable name` turns it on.
const FLAGS = {
  // Before f525ca9 the same failure made the dispatcher say "not called",
  // and a finalizer that ran (and threw) ran a second time: excused with this.
  oldDispatcher: 'a second finalizer run after a first that threw near the stack limit is excused',
};

// ---------------------------------------------------------------- utilities


// The fuzzer's own arrays never use [[Set]] on an index they lack: a
// program may have put a setter there, on Array.prototype.
function append(list, value) {
  Object.defineProperty(list, list.length, { value, writable: true, enumerable: true, configurable: true });
  return list;
}

function removeAt(list, i) {
  const last = list.length - 1;
  if (i !== last) list[i] = list[last];
  list.length = last;
}

// The fuzzer's records declare their fields (class fields are defined, not
// assigned): an accessor a program put on Object.prototype under the same
// name must not catch them.

/** A multiset of refs with O(1) random choice. */
class RefBag {
  list = [];
  pos = new Map();
  counts = new Map();

  get size() {
    return this.list.length;
  }
  count(ref) {
    return this.counts.get(ref) ?? 0;
  }
  has(ref) {
    return this.counts.has(ref);
  }
  add(ref, n = 1) {
    const c = this.counts.get(ref);
    if (c !== undefined) {
      this.counts.set(ref, c + n);
      return;
    }
    this.counts.set(ref, n);
    this.pos.set(ref, this.list.length);
    append(this.list, ref);
  }
  take(ref) {
    const c = this.counts.get(ref);
    if (!c) return false;
    if (c > 1) {
      this.counts.set(ref, c - 1);
      return true;
    }
    this.counts.delete(ref);
    const i = this.pos.get(ref);
    const last = this.list.length - 1;
    if (i !== last) {
      const moved = this.list[last];
      this.list[i] = moved;
      this.pos.set(moved, i);
    }
    this.list.length = last;
    this.pos.delete(ref);
    return true;
  }
  random(rand) {
    const n = this.list.length;
    return n === 0 ? undefined : this.list[Math.floor(rand() * n)];
  }
  clear() {
    this.list.length = 0;
    this.pos.clear();
    this.counts.clear();
  }
}

/** A bounded ring of values (own elements only). */
class Ring {
  items;
  next = 0;
  filled = 0;
  constructor(capacity) {
    this.items = [];
    for (let i = 0; i < capacity; i++) append(this.items, undefined); // defined, not assigned (nor read from an array-like)
  }
  push(value) {
    this.items[this.next] = value;
    this.next = (this.next + 1) % this.items.length;
    if (this.filled < this.items.length) this.filled++;
  }
  random(rand) {
    return this.filled === 0 ? undefined : this.items[Math.floor(rand() * this.filled)];
  }
  ordered() {
    const out = [];
    for (let i = 0; i < this.filled; i++) {
      append(out, this.items[(this.next - this.filled + i + this.items.length) % this.items.length]);
    }
    return out;
  }
}

class FuzzSentinel extends Error {}
/** Thrown on purpose by a finalizer, gc callback or debugOutput: must be reported, never escape. */
class CallbackSentinel extends FuzzSentinel {}
/** Thrown on purpose by a getter or trap of an argument: escapes the call that ran it. */
class GetterSentinel extends FuzzSentinel {}

function isStackOverflow(error) {
  try {
    // (A regular expression compiled this close to the limit fails with a SyntaxError of its own.)
    return (error instanceof RangeError || error instanceof SyntaxError) && String(error.message).includes('Maximum call stack');
  } catch {
    return true; // the check itself ran out of stack
  }
}

const descriptions = new WeakMap(); // objects the fuzzer made -> how the trace shows them

/** A value, as the trace shows it, without running any user code. */
function show(value) {
  switch (typeof value) {
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${String(value)}n`;
    case 'string':
      return JSON.stringify(value.length > 40 ? value.slice(0, 37) + '...' : value);
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return String(value);
    case 'symbol':
      return 'Symbol()';
    case 'function':
      return descriptions.get(value) ?? 'function';
    default: {
      if (value === null) return 'null';
      const known = descriptions.get(value);
      if (known !== undefined) return known;
      if (ArrayBuffer.isView(value)) {
        const name = Object.getPrototypeOf(value)?.constructor?.name ?? 'view';
        return `${name}(${value.byteLength} bytes)`;
      }
      if (Array.isArray(value)) {
        const parts = [];
        const n = Math.min(value.length, 8);
        for (let i = 0; i < n; i++) {
          const d = Object.getOwnPropertyDescriptor(value, i);
          append(parts, d === undefined ? '<hole>' : 'value' in d ? show(d.value) : '<accessor>');
        }
        if (value.length > n) append(parts, `...(${value.length})`);
        return `[${parts.join(', ')}]`;
      }
      return '{object}';
    }
  }
}

function describe(value, text) {
  descriptions.set(value, text);
  return value;
}

const CODE_CLASS = {
  ERR_INVALID_ARG_TYPE: 'TypeError',
  ERR_OUT_OF_RANGE: 'RangeError',
  ERR_HEAP_LIMIT: 'RangeError',
  ERR_INVALID_REF: 'RefheapError',
  ERR_HEAP_CLOSED: 'RefheapError',
  ERR_OS_MEMORY: 'RefheapError',
};

const TYPE = 'ERR_INVALID_ARG_TYPE';
const RANGE = 'ERR_OUT_OF_RANGE';
const BADREF = 'ERR_INVALID_REF';
const CLOSED = 'ERR_HEAP_CLOSED';

// ------------------------------------------------------------------ records

let heapUid = 0;

class HeapRec {
  uid = ++heapUid;
  heap;
  name;
  closed = false;
  held = new RefBag();
  shapes = new Map(); // ref -> { size, slots, type }
  borrowed = new Ring(64);
  seen = new Ring(128);
  types = [{ id: 0, name: 'block', finalize: false, uncollectable: false }];
  views = [];
  thresholds;
  enabled;
  debug = 0;
  maxBytes;
  failArmed = 0;
  isDefault;
  collecting = 0; // from refheap:gc:start / stop
  inCallback = 0;
  lastStop = null;
  resurrected = new Set();
  finalized = new Map(); // ref -> where its finalizer ran
  callbacksCopy = [];
  debugMine = true; // gc.debugOutput is the fuzzer's
  debugOutputs = 0; // times gc.debugOutput was replaced
  debugSets = 0; // setDebug calls
  lastDone = null; // the last "gc: done, ..." line
  constructor(heap, params) {
    this.heap = heap;
    this.name = heap.name;
    this.thresholds = params.thresholds;
    this.enabled = params.autoCollect;
    this.maxBytes = params.maxBytes ?? 0;
    this.isDefault = params.isDefault ?? false;
  }
  get label() {
    return `h${this.uid}`;
  }
}

// ------------------------------------------------------------------ fuzzer

const MAX_DEPTH = 4;
const NESTED_BUDGET = 60;
const MAX_OPEN_HEAPS = 5;

class Fuzzer {
  constructor(refheap, options) {
    this.rh = refheap;
    this.options = options;
    this.flags = new Set(options.enable ?? []);
    this.findings = [];
    this.trace = new Ring(80);
    this.deadSet = new Set();
    this.deadRing = new Ring(4096); // { ref, H }
    this.heapsByName = new Map();
    this.totals = { programs: 0, steps: 0, calls: 0, finalizers: 0, callbacks: 0, collections: 0, errors: 0, conversions: 0, deepSteps: 0, overflows: 0, deepEscapes: 0 };
    this.apiCount = 0;
    this.callsBy = new Map(); // API member -> calls
    this.finRuns = 0;
    this.gcRuns = 0;
    this.userRuns = 0;
    this.sentinelId = 0;
    this.pendingSentinels = new Map(); // id -> tick it was thrown at
    this.reportedSentinels = new Set();
    this.tickNo = 0;
    this.accessors = []; // installed prototype accessors, to remove
    this.accessorStore = new WeakMap();
    this.deep = false;
    this.depth = 0;
    this.budget = 0;
    this.throwsThisStep = 0;
    this.deepRate = options.deepRate ?? 0.01; // steps run near the stack limit
    this.namedAccessors = false;
    this.wasDeep = false;
    // The tick of the last deep step: until the next tick, refheap:gc messages it kept may still come
    // (published later, from a fresh stack), and a stop whose dispatch could not be made at all never.
    this.lateTick = -1;
    this.heaps = [];
    this.program = 0;
    this.step = 0;
    this.maxStack = 0;

    this.diagnostics = require('node:diagnostics_channel');
    this.onStart = (message) => this.onChannel('start', message);
    this.onStop = (message) => this.onChannel('stop', message);
    this.diagnostics.subscribe('refheap:gc:start', this.onStart);
    this.diagnostics.subscribe('refheap:gc:stop', this.onStop);
    process.on('warning', (warning) => this.onWarning(warning));
    this.orphanFinalizer = describe((ref) => this.userCode('orphan finalizer', null, () => this.nested(null, { ref })), 'orphanFinalizer');
    this.measureStack();
  }

  // ------------------------------------------------------------- plumbing

  finding(kind, message, extra = {}) {
    if (this.findings.length >= 5) return;
    append(this.findings, { kind, message, program: this.program, step: this.step, depth: this.depth, ...extra });
  }

  log(label, args, H) {
    const line = `${'  '.repeat(this.depth)}${H ? H.label + '.' : ''}${label}(${args.map(show).join(', ')})`;
    this.trace.push(line);
    if (this.options.trace) fs.writeSync(2, line + '\n');
  }

  note(text) {
    const line = `${'  '.repeat(this.depth)}// ${text}`;
    this.trace.push(line);
    if (this.options.trace) fs.writeSync(2, line + '\n');
  }

  rand() {
    return this.random();
  }
  int(n) {
    return Math.floor(this.random() * n);
  }
  chance(p) {
    return this.random() < p;
  }
  pick(list) {
    return list.length === 0 ? undefined : list[Math.floor(this.random() * list.length)];
  }

  openHeaps() {
    return this.heaps.filter((H) => !H.closed);
  }

  onChannel(phase, message) {
    // A subscriber must never throw: Node rethrows its error on the next tick, uncaught (near the stack limit, anything can throw).
    try {
      this.channelEvent(phase, message);
    } catch {}
  }

  channelEvent(phase, message) {
    const H = this.heapsByName.get(message?.heap);
    if (H === undefined) return;
    if (this.options.trace) this.note(`channel ${phase} ${H.label} ${JSON.stringify(message)}`);
    if (phase === 'start') {
      H.collecting++;
      this.gcRuns++;
      this.totals.collections++;
    } else {
      H.collecting--;
      H.lastStop = message;
    }
  }

  onWarning(warning) {
    const code = warning?.code;
    const message = String(warning?.message ?? '');
    if (code !== 'REFHEAP_CALLBACK_ERROR' && code !== 'REFHEAP_STATS_PAGE') {
      this.finding('unexpected-warning', `${warning?.name}: ${message} (code ${code})`);
      return;
    }
    if (this.options.trace) this.note(`warning ${code}: ${message.split('\n')[0].slice(0, 200)}`);
    for (const match of message.matchAll(/refheap-fuzz-sentinel#(\d+)/g)) this.reportedSentinels.add(Number(match[1]));
  }

  /** Whether a callback throws now (at most 40 per step: each is a warning). */
  mayThrow(p) {
    if (this.throwsThisStep >= 40 || !this.chance(p)) return false;
    this.throwsThisStep++;
    return true;
  }

  sentinel(kind) {
    const id = ++this.sentinelId;
    if (kind === 'callback') {
      const error = new CallbackSentinel(`refheap-fuzz-sentinel#${id} (thrown on purpose by a callback)`);
      this.pendingSentinels.set(id, { tick: this.tickNo, deep: this.deep }); // (once made: near the stack limit, making it can fail)
      if (this.options.trace) this.note(`throws #${id}`);
      return error;
    }
    return new GetterSentinel(`refheap-fuzz-sentinel#${id} (thrown on purpose by a getter)`);
  }

  measureStack() {
    let n = 0;
    const f = () => {
      n++;
      f();
    };
    try {
      f();
    } catch {}
    this.maxStack = n;
  }

  /**
   * Runs user code: counted, depth-limited, budgeted. `body` may throw a
   * sentinel on purpose; anything else it throws is a bug of the fuzzer
   * (or a stack overflow, on purpose, in a deep step).
   */
  userCode(what, H, body) {
    this.userRuns++;
    if (this.depth >= MAX_DEPTH || this.budget <= 0) return undefined;
    this.depth++;
    try {
      return body();
    } catch (error) {
      if (error instanceof FuzzSentinel) throw error;
      if (isStackOverflow(error)) {
        if (this.deep) throw error;
        this.finding('stack-overflow', `${what}: unexpected stack overflow`);
        return undefined;
      }
      this.finding('fuzzer-bug', `${what} threw ${error?.stack ?? show(error)}`);
      return undefined;
    } finally {
      this.depth--;
    }
  }

  /**
   * The one way the fuzzer calls the API: the call is traced, made, and its
   * outcome checked against `exp`:
   *   exp.ok        it must succeed (but for exp.borrowed: ERR_INVALID_REF allowed)
   *   exp.code      it must throw this code
   *   exp.codes     it must throw one of these
   *   (neither)     any outcome; an error must still be well formed
   *   exp.alloc     it allocates: ERR_HEAP_LIMIT (with maxBytes) / ERR_OS_MEMORY (armed) allowed
   *   exp.getters   a GetterSentinel thrown by an argument's getter may escape
   *   exp.snap      refs whose state, with the heap's, must not change if it throws
   * On a heap already closed every call but close() must throw ERR_HEAP_CLOSED.
   */
  api(H, label, fn, self, args, exp = {}) {
    this.apiCount++;
    this.totals.calls++;
    this.callsBy.set(label, (this.callsBy.get(label) ?? 0) + 1);
    if (this.depth > 0) this.budget--;
    const closedBefore = H !== null && H.closed;
    if (closedBefore && label !== 'close') exp = { code: CLOSED };
    if (this.options.breakCheck && exp.code === TYPE) exp = { ...exp, code: RANGE }; // --break: a wrong expectation on purpose
    this.log(label, args, H);
    let before = null;
    if (exp.snap !== undefined && H !== null && !closedBefore && !this.deep) before = this.snapshot(H, exp.snap);
    const counters = [this.apiCount, this.finRuns, this.gcRuns, this.userRuns];
    let value;
    let error;
    let threw = false;
    try {
      value = Reflect.apply(fn, self, args);
    } catch (e) {
      threw = true;
      error = e;
    }
    const quiet =
      this.apiCount === counters[0] && this.finRuns === counters[1] && this.gcRuns === counters[2] && this.userRuns === counters[3];
    const closedDuring = H !== null && !closedBefore && H.closed;
    const where = `${H ? H.label + '.' : ''}${label}(${args.map(show).join(', ')})`;
    if (!threw) {
      if ((exp.code !== undefined || exp.codes !== undefined) && !closedDuring) {
        this.finding('no-error', `${where} returned ${show(value)}; expected ${exp.code ?? exp.codes.join(' or ')}`);
      }
      return { ok: true, value, quiet };
    }
    this.totals.errors++;
    if (this.deep && isStackOverflow(error)) {
      this.totals.overflows++;
      return { ok: false, error, inconclusive: true, quiet };
    }
    if (error instanceof CallbackSentinel) {
      this.finding('callback-error-escaped', `${where} threw what a finalizer/gc callback/debugOutput threw: ${error.message}`);
      return { ok: false, error, quiet };
    }
    if (error instanceof GetterSentinel) {
      // A call none of whose arguments has a getter: what threw is an accessor on a prototype, which the API read (a hole of an array it made).
      if (!exp.getters) this.finding('getter-error-unexpected', `${where} threw the error of ${this.accessors.length ? 'a prototype accessor (the API read through the prototype chain)' : 'a getter'}: ${error.message}`);
      return { ok: false, error, sentinel: true, quiet };
    }
    const problem = this.errorProblem(error);
    if (problem !== null) {
      this.finding('bad-error', `${where} threw ${problem}`);
      return { ok: false, error, quiet };
    }
    const code = error.code;
    let allowed;
    if (exp.code !== undefined) allowed = [exp.code];
    else if (exp.codes !== undefined) allowed = exp.codes;
    else if (exp.ok) allowed = [];
    if (allowed !== undefined) {
      const extra = [];
      if (closedDuring) append(extra, CLOSED), append(extra, BADREF); // user code closed the heap during the call
      if (exp.borrowed) append(extra, BADREF);
      // User code ran during the call: a finalizer retried when the call started (one that could not be
      // called near the stack limit), or one run by a collection or a release, may have freed a block the
      // call names, before the call looked at it.
      if (!quiet) append(extra, BADREF);
      if (exp.alloc && H !== null && H.maxBytes > 0) append(extra, 'ERR_HEAP_LIMIT');
      if (exp.alloc && H !== null && H.failArmed > 0) append(extra, 'ERR_OS_MEMORY');
      if (!allowed.includes(code) && !extra.includes(code)) {
        this.finding('wrong-code', `${where} threw ${error.name} ${code}: ${error.message}; expected ${allowed.length ? allowed.join(' or ') : 'success'}`);
      }
    }
    if (code === 'ERR_OS_MEMORY' && H !== null) H.failArmed = 0;
    if (before !== null && quiet && code !== 'ERR_HEAP_LIMIT' && !H.closed) {
      const after = this.snapshot(H, exp.snap);
      if (after !== before) this.finding('failed-call-changed-state', `${where} threw ${code} but changed the heap:\n  before ${before}\n  after  ${after}`);
    }
    return { ok: false, error, code, quiet };
  }

  errorProblem(error) {
    if (!(error instanceof Error)) return `a non-Error: ${show(error)}`;
    const own = Object.getOwnPropertyDescriptor(error, 'code');
    const name = Object.getPrototypeOf(error)?.constructor?.name ?? '?';
    if (own === undefined || !('value' in own) || typeof own.value !== 'string') {
      return `${name} without an own "code": ${error.message}`;
    }
    const expected = CODE_CLASS[own.value];
    if (expected === undefined) return `${name} with an unknown code ${own.value}: ${error.message}`;
    const ok = expected === 'RefheapError' ? error instanceof this.rh.RefheapError : error instanceof globalThis[expected];
    if (!ok) return `${name} with code ${own.value} (expected a ${expected}): ${error.message}`;
    if (typeof error.message !== 'string' || error.message.length === 0) return `${name} ${own.value} with no message`;
    return null;
  }

  /** What a failed call must leave as it was: the heap's counters and the given blocks. */
  snapshot(H, refs) {
    const heap = H.heap;
    const depth = this.depth;
    const saveTrace = this.options.trace;
    this.options.trace = false;
    try {
      // (stats() runs no accessor code: its results are own properties, also under prototype
      // accessors. `parts` is a literal: an assignment to parts.gc would run an Object.prototype.gc setter.)
      const { peakMappedBytes: _p, arenas, gc, ...rest } = heap.stats();
      const parts = {
        stats: rest,
        arenas: arenas.current,
        gc: { enabled: gc.enabled, counts: gc.counts, thresholds: gc.thresholds, frozen: gc.frozen, garbage: gc.garbage, generations: gc.generations },
        count: heap.gc.getCount(),
        threshold: heap.gc.getThreshold(),
        debug: heap.gc.getDebug(),
        enabled: heap.gc.isEnabled(),
        frozen: heap.gc.getFreezeCount(),
        garbage: heap.gc.garbage.length,
        blocks: null,
        held: null,
      };
      const blocks = [];
      const list = refs === true ? [] : refs;
      for (let i = 0; i < list.length && i < 8; i++) {
        const ref = list[i];
        if (typeof ref !== 'number') continue;
        try {
          const slots = heap.slotCount(ref);
          const targets = [];
          for (let s = 0; s < slots && s < 4; s++) append(targets, heap.getRef(ref, s));
          append(blocks, [ref, heap.refcount(ref), heap.sizeOf(ref), Buffer.from(heap.read(ref, 0, Math.min(64, heap.sizeOf(ref)))).toString('hex'), targets]);
        } catch {
          append(blocks, [ref, 'dead']);
        }
      }
      parts.blocks = blocks;
      const held = [];
      for (let i = 0; i < H.held.list.length && i < 24; i++) {
        const ref = H.held.list[i];
        try {
          append(held, heap.refcount(ref));
        } catch (e) {
          append(held, String(e?.code));
        }
      }
      parts.held = held;
      return JSON.stringify(parts);
    } catch (error) {
      return `snapshot failed: ${error?.code ?? error?.message}`;
    } finally {
      this.depth = depth;
      this.options.trace = saveTrace;
    }
  }

  // ------------------------------------------------------------- programs

  async runProgram(seed) {
    this.random = seededRandom(seed ^ 0x5eed);
    this.program = seed;
    this.heaps = [];
    this.ghosts = new Ring(64); // refs of abandoned heaps
    this.detached = new Ring(16); // views of closed heaps
    this.step = 0;
    this.depth = 0;
    this.budget = NESTED_BUDGET;
    this.hostile = this.options.hostile || this.chance(0.3);
    this.note(`program ${seed}${this.hostile ? ' (hostile)' : ''}`);
    const steps = 30 + this.int(120);
    const initial = 1 + this.int(3);
    try {
      for (let i = 0; i < initial; i++) this.newHeap(true);
      for (this.step = 0; this.step < steps && this.findings.length === 0; this.step++) {
        if (this.chance(0.04)) await this.tick();
        this.topLevel();
        this.totals.steps++;
        if (this.findings.length === 0) this.checkAll();
      }
      if (this.findings.length === 0) {
        await this.tick();
        await this.tick();
        this.checkAll();
      }
    } finally {
      this.removeAccessors();
      this.depth = 0;
      if (this.findings.length === 0) this.teardown();
    }
    this.totals.programs++;
  }

  topLevel() {
    this.throwsThisStep = 0;
    this.depth = 0;
    this.budget = NESTED_BUDGET;
    const r = this.rand();
    if (r < 0.04) this.withAccessors();
    else if (r < 0.04 + this.deepRate) this.deepStep();
    else this.action(this.pickHeap(), {});
    this.depth = 0;
    for (const H of this.heaps) {
      // Every "start" has its "stop", on a heap closed during the collection too.
      if (H.collecting !== 0 && !this.deep && !this.wasDeep && this.lateTick !== this.tickNo) {
        this.finding('unbalanced-gc-events', `${H.label}: refheap:gc:start/stop unbalanced by ${H.collecting} after a step`);
      }
      H.collecting = 0;
      H.inCallback = 0;
      if (H.failArmed > 0 && --H.failArmed === 0 && !H.closed) {
        try {
          H.heap._failNthMapping(0);
        } catch {}
      }
    }
    this.wasDeep = false;
  }

  pickHeap() {
    const open = this.openHeaps();
    if (open.length === 0 || (this.heaps.length > open.length && this.chance(0.04))) {
      const closed = this.heaps.filter((H) => H.closed);
      if (closed.length > 0 && (open.length === 0 ? this.chance(0.5) : true)) return this.pick(closed);
    }
    if (open.length === 0) return this.newHeap(true) ?? this.pick(this.heaps);
    return this.pick(open);
  }

  async tick() {
    this.note('tick');
    let dropped = false;
    for (const H of this.heaps) {
      if (H.views.length > 0 && this.chance(0.5)) {
        const keep = [];
        for (const v of H.views) if (this.chance(0.5)) append(keep, v);
        dropped = dropped || keep.length < H.views.length;
        H.views = keep;
      }
    }
    // V8 collects the dropped views; their counts come back at the heap's next call.
    if (dropped && typeof global.gc === 'function') global.gc();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    // What a deep step kept has been published by now; the balance it leaves (a start whose stop could
    // not be dispatched at all) is its own, not the next step's.
    if (this.lateTick === this.tickNo) for (const H of this.heaps) H.collecting = 0;
    this.tickNo++;
    for (const [id, { tick: at, deep }] of this.pendingSentinels) {
      if (this.reportedSentinels.has(id)) {
        this.pendingSentinels.delete(id);
        this.reportedSentinels.delete(id);
      } else if (this.tickNo - at >= 2) {
        this.finding('callback-error-unreported', `the error #${id} a finalizer/gc callback/debugOutput threw${deep ? ' (near the stack limit)' : ''} was never reported as a REFHEAP_CALLBACK_ERROR warning`);
        this.pendingSentinels.delete(id);
      }
    }
  }

  checkAll() {
    this.depth = 0;
    const saveTrace = this.options.trace;
    for (const H of this.heaps) {
      if (H.heap.closed !== H.closed) {
        this.finding('closed-state', `${H.label}.closed is ${H.heap.closed}, the model says ${H.closed}`);
        H.closed = H.heap.closed;
      }
      if (H.closed) {
        if (this.chance(0.2)) {
          const r = this.api(H, 'refcount', H.heap.refcount, H.heap, [H.seen.random(this.random) ?? 1], { code: CLOSED });
          void r;
        }
        continue;
      }
      const v = this.api(H, '_verify', H.heap._verify, H.heap, [], { ok: true });
      if (v.ok && v.value !== '') this.finding('verify', `${H.label}._verify(): ${v.value}`);
      if (H.closed) continue;
      const list = H.held.list;
      const n = list.length;
      const sample = n <= 64 ? n : 64;
      for (let i = 0; i < sample; i++) {
        const ref = n <= 64 ? list[i] : list[this.int(n)];
        if (ref === undefined) continue;
        const want = H.held.count(ref);
        let count;
        try {
          count = H.heap.refcount(ref);
        } catch (error) {
          this.finding('held-ref-dead', `${H.label}: ref ${ref}, on which the program holds ${want} count(s), is not live: ${error?.code} ${error?.message}`);
          H.held.counts.delete(ref);
          continue;
        }
        if (count < want) this.finding('held-count', `${H.label}: refcount(${ref}) = ${count} < the ${want} count(s) the program holds`);
      }
      for (const ref of H.resurrected) {
        if (!H.held.has(ref)) {
          H.resurrected.delete(ref);
          continue;
        }
        try {
          if (H.heap.gc.isFinalized(ref) !== true) this.finding('resurrected-not-finalized', `${H.label}: gc.isFinalized(${ref}) is false after its finalizer resurrected it`);
        } catch (error) {
          this.finding('held-ref-dead', `${H.label}: isFinalized(${ref}) threw ${error?.code}`);
        }
        H.resurrected.delete(ref);
      }
    }
    // A freed ref stays invalid (SPEC 3): a few known-dead refs, on every open heap.
    for (let i = 0; i < 2; i++) {
      const dead = this.deadRing.random(this.random);
      if (dead === undefined) break;
      for (const H of this.openHeaps()) {
        try {
          const count = H.heap.refcount(dead.ref);
          this.finding('dead-ref-live', `ref ${dead.ref}, freed earlier (heap ${dead.label}), names a live block of ${H.label} (count ${count})`);
        } catch (error) {
          if (error?.code !== BADREF) this.finding('wrong-code', `${H.label}.refcount(dead ref ${dead.ref}) threw ${error?.code}, expected ${BADREF}`);
        }
      }
    }
    this.options.trace = saveTrace;
  }

  teardown() {
    for (const H of this.heaps) {
      if (H.closed) continue;
      const v = this.api(H, '_verify', H.heap._verify, H.heap, [], { ok: true });
      if (v.ok && v.value !== '') this.finding('verify', `${H.label}._verify() at the end: ${v.value}`);
      this.closeHeap(H, true);
    }
    this.heaps = [];
    this.heapsByName.clear();
  }

  // ------------------------------------------------------------- model

  /** A new reference the API returned. `many`: one of allocMany's, which user code run between its allocations may have seen (getObjects) and retained. */
  gotRef(H, ref, shape, many = false) {
    if (!Number.isSafeInteger(ref) || ref <= 0) {
      this.finding('bad-ref-returned', `${H.label}: a new ref ${show(ref)} is not a positive safe integer`);
      return;
    }
    if (this.deadSet.has(ref)) this.finding('dead-ref-live', `${H.label}: new ref ${ref} was a freed block's ref`);
    if (!many && H.held.has(ref) && H.shapes.has(ref)) {
      // A new block has a ref nobody holds; the program holding it means a live block was handed out again.
      this.finding('ref-reused-while-held', `${H.label}: a new block has ref ${ref}, which the program still holds ${H.held.count(ref)} count(s) on`);
    }
    H.held.add(ref);
    if (shape) H.shapes.set(ref, shape);
    H.seen.push(ref);
  }

  markDead(ref, H) {
    if (this.deadSet.has(ref)) return;
    if (this.deadRing.filled === this.deadRing.items.length) {
      const old = this.deadRing.items[this.deadRing.next];
      if (old) this.deadSet.delete(old.ref);
    }
    this.deadSet.add(ref);
    this.deadRing.push({ ref, label: H.label });
  }

  // A ref of a block that once lived, probed: dead refs are remembered.
  probeSeen(H) {
    const ref = H.seen.random(this.random);
    if (ref === undefined || H.closed || this.deadSet.has(ref)) return;
    const r = this.api(H, 'refcount', H.heap.refcount, H.heap, [ref], {});
    if (!r.ok && r.code === BADREF) {
      if (H.held.has(ref)) this.finding('held-ref-dead', `${H.label}: held ref ${ref} is invalid`);
      this.markDead(ref, H);
    }
  }

  // ------------------------------------------------------------- values

  /** A value no number parameter may accept: each must be refused as ERR_INVALID_ARG_TYPE without running anything. */
  typeBad({ allowUndefined = true, allowNull = true, allowString = true } = {}) {
    const trap = (what) => () => this.onConversion(what);
    const options = [
      () => true,
      () => 8n,
      () => Symbol('s'),
      () => describe({}, '{}'),
      () => describe([8], '[8]'),
      () => describe(() => 8, '() => 8'),
      () => describe({ valueOf: trap('valueOf') }, '{ valueOf }'),
      () => describe({ toString: trap('toString') }, '{ toString }'),
      () => describe({ [Symbol.toPrimitive]: trap('Symbol.toPrimitive') }, '{ [Symbol.toPrimitive] }'),
      () => describe(Object.create({ valueOf: trap('inherited valueOf') }), '{ inherited valueOf }'),
      () => describe(new Number(8), 'new Number(8)'),
      () => describe(new Proxy({}, this.trapHandler('Proxy({})')), 'Proxy({})'),
      () => describe(new Proxy(function f() {}, this.trapHandler('Proxy(function)')), 'Proxy(function)'),
      () => describe(
        Object.defineProperty({}, 'valueOf', { get: () => { this.onConversion('valueOf getter'); return () => 8; } }),
        '{ get valueOf }',
      ),
    ];
    if (allowString) append(options, () => '8'), append(options, () => '');
    if (allowUndefined) append(options, () => undefined);
    if (allowNull) append(options, () => null);
    return this.pick(options)();
  }

  trapHandler(what) {
    const handler = {};
    for (const trap of ['get', 'set', 'has', 'apply', 'construct', 'ownKeys', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'defineProperty', 'deleteProperty']) {
      handler[trap] = () => {
        this.onConversion(`${what} ${trap} trap`);
        throw this.sentinel('getter');
      };
    }
    return handler;
  }

  /** User code the API must never run: a conversion of an argument. */
  onConversion(what) {
    this.totals.conversions++;
    this.finding('conversion-ran', `the API ran ${what} of an argument (it must refuse the value without converting it)`);
    // Make it hurt, in case native code holds pointers across it.
    this.userCode(what, null, () => this.nested(null, {}));
    return 8;
  }

  /** A number that is not an integer in any parameter's range. */
  rangeBad() {
    return this.pick([-1, -0.5, 0.5, 1.5, NaN, Infinity, -Infinity, 2 ** 64, 2 ** 53, 1e300, -(2 ** 31), Number.MIN_VALUE, -(2 ** 53)]);
  }

  /** A number that names no live block (SPEC 3). */
  junkRef(H) {
    const held = H && H.held.random(this.random);
    const options = [NaN, -1, 0, 0.5, 2 ** 53, 2 ** 64, Infinity, -Infinity, 1e300, -(2 ** 52), Number.MIN_VALUE, -0];
    if (held !== undefined) {
      append(options, held + 0.5);
      append(options, -held);
      append(options, held * 2 ** 12);
    }
    return this.pick(options);
  }

  /**
   * An argument where a ref is wanted, with the error it must cause (or none).
   *   own: the program must own a count (for release): only held refs
   */
  refArg(H, { own = false, nullable = false } = {}) {
    const pBad = this.hostile ? 0.3 : 0.05;
    if (!this.chance(pBad) && !H.closed) {
      const held = H.held.random(this.random);
      if (held !== undefined && (own || this.chance(0.85))) return { ref: held, kind: 'held' };
      if (!own) {
        const b = H.borrowed.random(this.random);
        if (b !== undefined) return { ref: b, kind: 'borrowed' };
        if (held !== undefined) return { ref: held, kind: 'held' };
      }
    }
    return this.badRef(H, nullable);
  }

  badRef(H, nullable = false) {
    const r = this.rand();
    if (r < 0.2) return { ref: this.typeBad({ allowNull: !nullable }), kind: 'type', code: TYPE };
    if (r < 0.25) {
      const ghost = this.ghosts.random(this.random);
      if (ghost !== undefined) return { ref: ghost, kind: 'foreign', code: BADREF }; // a heap V8 collects (or has)
    }
    if (r < 0.45) {
      const dead = this.deadRing.random(this.random);
      if (dead !== undefined) return { ref: dead.ref, kind: 'dead', code: BADREF };
    }
    if (r < 0.7) {
      const others = this.openHeaps().filter((G) => G !== H && G.held.size > 0);
      const G = this.pick(others);
      if (G !== undefined) return { ref: G.held.random(this.random), kind: 'foreign', code: BADREF, foreign: G };
    }
    if (r < 0.85 && !H.closed) {
      const base = H.seen.random(this.random);
      if (base !== undefined) {
        const forged = base + this.pick([1, -1, 2, 65536, -65536, 2 ** 32, -(2 ** 32), 3 * 65536 + 1, 2 ** 36]);
        // A forged number may happen to name a live block: probe it first.
        const probe = this.api(H, 'refcount', H.heap.refcount, H.heap, [forged], {});
        if (probe.ok) return { ref: forged, kind: 'borrowed' };
        return { ref: forged, kind: 'forged', code: BADREF };
      }
    }
    return { ref: this.junkRef(H), kind: 'junk', code: BADREF };
  }

  /**
   * An integer argument in [lo, hi], or (sometimes) one that must be refused.
   * `exact`: hi is the parameter's real maximum (so hi + 1 is out of range);
   * otherwise only values out of every range are used.
   */
  intArg(lo, hi, { optional = false, exact = true } = {}) {
    const pBad = this.hostile ? 0.2 : 0.04;
    if (this.chance(pBad)) {
      if (this.chance(0.5)) return { value: this.typeBad({ allowUndefined: !optional }), code: TYPE };
      const value = this.chance(0.7) || !exact ? this.rangeBad() : this.pick([hi + 1, hi + 2, 2 ** 53, 2 ** 64]);
      return { value, code: RANGE };
    }
    const value = lo + this.int(hi - lo + 1);
    return { value: this.chance(0.02) && value === 0 ? -0 : value };
  }

  /** Sometimes a value no integer parameter accepts (a type or range error), else `valid`. */
  maybeBad(valid, p, { optional = false } = {}) {
    if (!this.chance(p)) return { value: valid };
    if (this.chance(0.5)) return { value: this.typeBad({ allowUndefined: !optional }), code: TYPE };
    return { value: this.rangeBad(), code: RANGE };
  }

  /** The code a type id argument must cause: undefined for a defined type. */
  typeCode(H, value) {
    if (!Number.isInteger(value) || value < 0 || value > 255) return RANGE;
    return H.types.some((t) => t.id === value) ? undefined : RANGE;
  }

  sizeArg() {
    const r = this.rand();
    if (r < 0.55) return this.int(65);
    if (r < 0.85) return this.int(513);
    if (r < 0.98) return 513 + this.int(4000);
    return 65536 + this.int(300000);
  }

  pickType(H) {
    return this.pick(H.types) ?? H.types[0];
  }

  /** The first expected error of a list of argument results, or undefined. */
  firstCode(results) {
    for (const r of results) if (r !== undefined && r.code !== undefined) return r.code;
    return undefined;
  }

  expFrom(code, extra = {}) {
    return code === undefined ? { ok: true, ...extra } : { code, ...extra };
  }

  // ------------------------------------------------------------- user code

  /** A few random actions, from inside user code. `ctx.ref` is a block being finalized, if any. */
  nested(H, ctx) {
    const n = this.pick([0, 1, 1, 2, 3]);
    for (let i = 0; i < n && this.budget > 0; i++) {
      let target = H;
      if (target === null || target.closed || this.chance(0.3)) target = this.pick(this.openHeaps()) ?? H;
      if (target === null || target === undefined) return;
      if (ctx.ref !== undefined && target === ctx.H && this.chance(0.5)) this.localAction(target, ctx.ref);
      else this.action(target, ctx, true);
    }
  }

  makeFinalizer(H) {
    const fin = (ref) => this.onFinalize(H, ref);
    return describe(fin, `finalizer(${H.label})`);
  }

  onFinalize(H, ref) {
    this.finRuns++;
    this.totals.finalizers++;
    this.userRuns++;
    const first = H.finalized.get(ref);
    // (Found here near the stack limit: a finalizer whose error's report ran out of stack was taken for
    // "not called" and called again; fixed in f525ca9. FLAGS.oldDispatcher excuses it, for older builds.)
    const excused = first !== undefined && first.includes('in a deep step') && first.includes('threw') && this.flags.has('oldDispatcher');
    let context = `step ${this.step}, depth ${this.depth}${this.deep ? ', in a deep step' : ''}${H.collecting > 0 ? ', in a collection' : ''}`;
    if (this.options.stacks) {
      try {
        context += ` [${new Error().stack.split('\n').slice(1, 14).map((l) => l.trim().replace(/\(.*[/]/, '(')).join(' < ')}]`;
      } catch {}
    }
    if (first !== undefined && !excused) this.finding('finalized-twice', `${H.label}: the finalizer of ${ref} ran a second time (${context}; the first time: ${first})`);
    // (Until its end says otherwise: near the stack limit, it can throw anywhere, even here.)
    else H.finalized.set(ref, this.deep ? `${context}; it threw` : context);
    if (this.depth >= MAX_DEPTH + 2) {
      if (first === undefined && this.deep) H.finalized.set(ref, `${context}; it returned`);
      return; // deep enough; still counted
    }
    const closedAtEntry = H.closed;
    let outcome = 'returned';
    this.depth++;
    this.note(`finalize ${H.label} ${ref}${H.collecting > 0 ? ' (in a collection)' : ''}`);
    try {
      if (closedAtEntry) {
        this.finding('finalizer-after-close', `${H.label}: a finalizer ran for ${ref} after close()`);
        return;
      }
      // The ref is valid during the call.
      const c = this.api(H, 'refcount', H.heap.refcount, H.heap, [ref], { ok: true });
      if (c.ok && !(c.value >= 0)) this.finding('finalize-refcount', `${H.label}: refcount(${ref}) = ${c.value} in its finalizer`);
      if (this.budget <= 0 || this.depth > MAX_DEPTH) return;
      const r = this.rand();
      if (r < 0.15) {
        const k = this.api(H, 'retain', H.heap.retain, H.heap, [ref], { ok: true });
        if (k.ok) {
          H.held.add(ref);
          H.resurrected.add(ref);
        }
      } else if (r < 0.22) {
        this.resurrectInSlot(H, ref);
      } else if (r < 0.25 && this.heaps.length > 0) {
        if (this.chance(0.3)) this.closeHeap(this.pick(this.openHeaps()) ?? H, false);
        else this.closeHeap(H, false);
      }
      this.nested(H, { ref, H });
      if (this.mayThrow(0.08)) throw this.sentinel('callback');
    } catch (error) {
      outcome = error instanceof FuzzSentinel ? 'threw on purpose' : isStackOverflow(error) ? 'threw a stack overflow' : 'threw';
      if (error instanceof FuzzSentinel) throw error;
      if (isStackOverflow(error) && this.deep) throw error;
      this.finding('fuzzer-bug', `finalizer threw ${error?.stack ?? show(error)}`);
    } finally {
      this.depth--;
      if (first === undefined && this.deep) H.finalized.set(ref, `${context}; it ${outcome}`);
    }
  }

  resurrectInSlot(H, ref) {
    for (let tries = 0; tries < 4; tries++) {
      const holder = H.held.random(this.random);
      if (holder === undefined) return;
      const shape = H.shapes.get(holder);
      if (!shape || shape.slots === 0) continue;
      this.api(H, 'setRef', H.heap.setRef, H.heap, [holder, this.int(shape.slots), ref], { ok: true });
      return;
    }
  }

  makeGcCallback(H) {
    const cb = (phase, info) => {
      this.totals.callbacks++;
      this.userRuns++;
      if (phase !== 'start' && phase !== 'stop') this.finding('gc-callback-args', `${H.label}: gc callback phase ${show(phase)}`);
      if (typeof info !== 'object' || info === null) {
        this.finding('gc-callback-args', `${H.label}: gc callback info ${show(info)}`);
      } else {
        const { generation, collected, uncollectable, durationMs } = info;
        if (!(Number.isInteger(generation) && generation >= 0 && generation <= 2)) this.finding('gc-callback-args', `${H.label}: info.generation ${show(generation)}`);
        for (const [k, v] of [['collected', collected], ['uncollectable', uncollectable]]) {
          if (!(Number.isInteger(v) && v >= 0)) this.finding('gc-callback-args', `${H.label}: info.${k} ${show(v)}`);
        }
        if (!(typeof durationMs === 'number' && durationMs >= 0)) this.finding('gc-callback-args', `${H.label}: info.durationMs ${show(durationMs)}`);
        if (phase === 'start' && (collected !== 0 || uncollectable !== 0 || durationMs !== 0)) {
          this.finding('gc-callback-args', `${H.label}: start info not zero: ${JSON.stringify(info)}`);
        }
      }
      H.inCallback++;
      this.note(`gc callback ${H.label} ${phase}`);
      try {
        this.userCode(`gc callback ${phase}`, H, () => {
          if (this.chance(0.03)) this.closeHeap(H, false);
          if (this.chance(0.05)) this.editCallbacks(H);
          this.nested(H, {});
          if (this.mayThrow(0.06)) throw this.sentinel('callback');
        });
      } finally {
        H.inCallback--;
      }
    };
    return describe(cb, `gcCallback(${H.label})`);
  }

  makeDebugOutput(H) {
    const out = (line) => {
      this.userRuns++;
      if (typeof line !== 'string' || !line.startsWith('gc: ')) this.finding('debug-line', `${H.label}: debugOutput got ${show(line)}`);
      else this.checkDebugLine(H, line);
      H.inCallback++;
      if (this.options.trace) this.note(`debugOutput ${H.label} ${line}`);
      try {
        this.userCode('debugOutput', H, () => {
          if (this.chance(0.15)) this.nested(H, {});
          if (this.mayThrow(0.03)) throw this.sentinel('callback');
        });
      } finally {
        H.inCallback--;
      }
    };
    return describe(out, `debugOutput(${H.label})`);
  }

  /** User code that runs while a collection of H is under way (as a callback's). */
  duringCollection(H, body) {
    H.inCallback++;
    try {
      return body();
    } finally {
      H.inCallback--;
    }
  }

  /** A debug line in CPython's format (SPEC 6). */
  checkDebugLine(H, line) {
    let m;
    if ((m = /^gc: done, (\d+) unreachable, (\d+) uncollectable, \d+\.\d{4}s elapsed$/.exec(line))) {
      H.lastDone = { unreachable: Number(m[1]), uncollectable: Number(m[2]) };
    } else if ((m = /^gc: (collectable|uncollectable) <([^]*) 0x[0-9a-f]+>$/.exec(line))) {
      const name = m[2];
      if (!H.types.some((t) => t.name === name) && !this.namedAccessors) {
        this.finding('debug-line', `${H.label}: ${show(line)} names a type this heap does not have (types: ${H.types.map((t) => show(t.name)).join(', ')})`);
      }
    } else if (/^gc: (collectable|uncollectable) </.test(line)) {
      this.finding('debug-line', `${H.label}: a malformed ${line.split(' ')[1]} line (${line.length} chars): ${show(line)} (CPython: "gc: collectable <Type 0x...>")`);
    } else if (!/^gc: (collecting generation [0-2]\.\.\.|objects in each generation: \d+ \d+ \d+|objects in permanent generation: \d+)$/.test(line)) {
      this.finding('debug-line', `${H.label}: an unknown debug line ${show(line)}`);
    }
  }

  /** A getter's body: user code, then a value. */
  getterCode(what, H, value, { mayThrow = true } = {}) {
    this.userCode(what, H, () => {
      if (this.chance(0.5)) this.nested(H, {});
      if (mayThrow && this.chance(0.05)) throw this.sentinel('getter');
    });
    return value;
  }

  // ------------------------------------------------------------- actions

  action(H, ctx, nested = false) {
    const table = Fuzzer.ACTIONS;
    let r = this.rand() * Fuzzer.ACTION_WEIGHT;
    for (const [name, weight] of table) {
      r -= weight;
      if (r <= 0) {
        this[`a_${name}`](H, ctx, nested);
        return;
      }
    }
    this.a_alloc(H, ctx, nested);
  }

  a_alloc(H) {
    const size = this.maybeBad(this.sizeArg(), 0.04);
    if (size.code === undefined && this.chance(0.01)) size.value = 2 ** 30 + 1 + this.int(5), size.code = RANGE;
    const slots = this.chance(0.5) ? { value: 0 } : this.intArg(0, 3, { optional: true, exact: false });
    if (slots.code === undefined && slots.value > 3) slots.value = 3;
    const T = this.pickType(H);
    let type = { value: T.id };
    if (this.chance(this.hostile ? 0.15 : 0.03)) {
      type = this.chance(0.5) ? { value: this.pick([200, 255, H.types.length + 3]) } : this.maybeBad(T.id, 1, { optional: true });
      if (type.code === undefined) type.code = this.typeCode(H, type.value);
    }
    const args = [size.value];
    const extra = this.chance(0.05);
    if (extra || slots.value !== 0 || slots.code || type.value !== 0 || type.code || this.chance(0.3)) append(args, slots.value);
    if (extra || type.value !== 0 || type.code || this.chance(0.2)) append(args, type.value);
    if (extra) append(args, this.typeBad()); // an extra argument: ignored, never converted
    const code = this.firstCode([size, args.length > 1 ? slots : undefined, args.length > 2 ? type : undefined]);
    const r = this.api(H, 'alloc', H.heap.alloc, H.heap, args, this.expFrom(code, { alloc: true, snap: code ? true : undefined }));
    if (!r.ok) return;
    const shape = { size: size.value, slots: args.length > 1 ? slots.value : 0, type: args.length > 2 ? type.value : 0 };
    this.gotRef(H, r.value, shape);
    if (this.chance(0.3) && !H.closed) this.checkFresh(H, r.value, shape);
  }

  checkFresh(H, ref, shape) {
    const heap = H.heap;
    const c = this.api(H, 'refcount', heap.refcount, heap, [ref], { ok: true });
    if (c.ok && c.value !== H.held.count(ref)) this.finding('fresh-block', `${H.label}: refcount of a new block is ${c.value}, expected ${H.held.count(ref)}`);
    const s = this.api(H, 'sizeOf', heap.sizeOf, heap, [ref], { ok: true });
    if (s.ok && s.value !== shape.size) this.finding('fresh-block', `${H.label}: sizeOf(${ref}) = ${s.value}, alloc'd ${shape.size}`);
    const n = this.api(H, 'slotCount', heap.slotCount, heap, [ref], { ok: true });
    if (n.ok && n.value !== shape.slots) this.finding('fresh-block', `${H.label}: slotCount(${ref}) = ${n.value}, alloc'd ${shape.slots}`);
    const t = this.api(H, 'typeOf', heap.typeOf, heap, [ref], { ok: true });
    if (t.ok && t.value !== shape.type) this.finding('fresh-block', `${H.label}: typeOf(${ref}) = ${t.value}, alloc'd ${shape.type}`);
    if (shape.size <= 4096) {
      const d = this.api(H, 'read', heap.read, heap, [ref], { ok: true });
      if (d.ok && (!(d.value instanceof Uint8Array) || d.value.length !== shape.size || d.value.some((b) => b !== 0))) {
        this.finding('fresh-block', `${H.label}: read(${ref}) of a new block is not ${shape.size} zero bytes`);
      }
    }
    if (shape.slots > 0) {
      const g = this.api(H, 'getRef', heap.getRef, heap, [ref, shape.slots - 1], { ok: true });
      if (g.ok && g.value !== null) this.finding('fresh-block', `${H.label}: a new block's slot holds ${g.value}`);
    }
  }

  a_allocMany(H) {
    const big = this.chance(0.05) && H.maxBytes > 0;
    const count = this.maybeBad(big ? 5000 + this.int(100000) : this.int(this.chance(0.9) ? 24 : 400), 0.05);
    if (count.code === undefined && this.chance(0.01)) count.value = 2 ** 27 + 1 + this.int(10), count.code = RANGE;
    const size = this.maybeBad(this.sizeArg(), 0.03);
    if (size.code === undefined && this.chance(0.01)) size.value = 2 ** 30 + 1, size.code = RANGE;
    const slots = this.chance(0.4) ? { value: 0 } : this.intArg(0, 3, { optional: true, exact: false });
    if (slots.code === undefined && slots.value > 3) slots.value = 3;
    const T = this.pickType(H);
    const args = [count.value, size.value];
    const type = { value: T.id };
    if (slots.value !== 0 || slots.code || T.id !== 0 || this.chance(0.3)) append(args, slots.value);
    if (T.id !== 0 || this.chance(0.2)) append(args, T.id);
    const code = this.firstCode([count, size, args.length > 2 ? slots : undefined, args.length > 3 ? type : undefined]);
    const r = this.api(H, 'allocMany', H.heap.allocMany, H.heap, args, this.expFrom(code, { alloc: true, snap: code ? true : undefined }));
    if (!r.ok) return;
    const refs = r.value;
    if (!(refs instanceof Float64Array) || refs.length !== count.value) {
      this.finding('allocMany-result', `${H.label}: allocMany(${count.value}, ...) returned ${show(refs)}`);
      return;
    }
    const shape = { size: size.value, slots: args.length > 2 ? slots.value : 0, type: args.length > 3 ? T.id : 0 };
    const distinct = new Set(refs);
    if (distinct.size !== refs.length) this.finding('allocMany-result', `${H.label}: allocMany returned duplicate refs`);
    for (const ref of refs) this.gotRef(H, ref, shape, true);
    if (r.quiet && refs.length > 0 && !H.closed) {
      const probe = refs[this.int(refs.length)];
      const c = this.api(H, 'refcount', H.heap.refcount, H.heap, [probe], { ok: true });
      if (c.ok && c.value !== H.held.count(probe)) this.finding('fresh-block', `${H.label}: refcount of an allocMany block is ${c.value}`);
    }
    // Keep the heaps small: give most of a big batch back at once.
    if (refs.length > 64 && !H.closed) {
      const back = [];
      for (const ref of refs) if (this.chance(0.9) && H.held.take(ref)) append(back, ref);
      const r2 = this.api(H, 'releaseMany', H.heap.releaseMany, H.heap, [Float64Array.from(back)], { ok: true });
      void r2;
    }
  }

  a_retain(H) {
    const a = this.refArg(H);
    const r = this.api(H, 'retain', H.heap.retain, H.heap, [a.ref], this.expFrom(a.code, { borrowed: a.kind === 'borrowed', snap: a.code ? [] : undefined }));
    if (r.ok) {
      if (r.value !== a.ref) this.finding('retain-result', `${H.label}: retain(${a.ref}) returned ${show(r.value)}`);
      H.held.add(a.ref);
      H.seen.push(a.ref);
    }
  }

  a_release(H) {
    let a = this.refArg(H, { own: true });
    if (a.kind === 'borrowed') a = this.badRef(H);
    if (a.kind === 'borrowed') return; // a live block that is not ours: releasing it would be over-release
    if (a.kind === 'held') H.held.take(a.ref); // given back before the call: if it failed, the count is lost, not doubled
    const r = this.api(H, 'release', H.heap.release, H.heap, [a.ref], this.expFrom(a.code, { snap: a.code ? [] : undefined }));
    void r;
    if (a.kind === 'held' && !H.held.has(a.ref) && this.chance(0.1)) this.probeSeen(H);
  }

  a_releaseMany(H) {
    const entries = []; // { value, owned, code }
    const k = this.int(6);
    for (let i = 0; i < k; i++) {
      const ref = H.held.random(this.random);
      if (ref === undefined || H.closed) break;
      H.held.take(ref);
      append(entries, { value: ref, owned: true });
    }
    const form = this.pick(['array', 'array', 'float64', 'inheap', 'arraylike', 'getters', 'proxy', 'sparse']);
    let badAt = -1;
    if (this.chance(this.hostile ? 0.4 : 0.1)) {
      let bad = this.chance(0.7) ? this.badRef(H) : { ref: this.typeBad(), code: TYPE };
      // A forged number is invalid when probed, but user code run by the call (getters; finalizers of the
      // refs released before it) may allocate the block it names: then it is released, over-released.
      if (bad.kind === 'forged') bad = { ref: this.junkRef(H), kind: 'junk', code: BADREF };
      // (A live block that is not ours is left out: releasing it would be over-release.)
      if (bad.kind !== 'borrowed') {
        badAt = this.int(entries.length + 1);
        const rebuilt = [];
        for (let i = 0; i <= entries.length; i++) {
          if (i === badAt) append(rebuilt, { value: bad.ref, owned: false, code: bad.code ?? BADREF });
          if (i < entries.length) append(rebuilt, entries[i]);
        }
        entries.length = 0;
        for (const e of rebuilt) append(entries, e);
      }
    }
    // The container.
    let list;
    let getters = false;
    let typeCode = badAt >= 0 && entries[badAt].code === TYPE;
    let sentinelAt = -1;
    let sparse = false;
    const values = entries.map((e) => e.value);
    let container; // 'inheap': the list lives in a block of this heap, seen through a view, and may name that block too
    if (form === 'inheap' && !typeCode && !H.closed && values.length > 0) {
      const c = this.api(H, 'alloc', H.heap.alloc, H.heap, [8 * (values.length + 1), 0, 0], { ok: true, alloc: true });
      const v = c.ok ? this.api(H, 'view', H.heap.view, H.heap, [c.value], { ok: true }) : { ok: false };
      if (c.ok && v.ok && !H.closed && v.value.byteLength === 8 * (values.length + 1) && v.value.byteOffset % 8 === 0) {
        container = c.value;
        this.gotRef(H, container, { size: 8 * (values.length + 1), slots: 0, type: 0 });
        // The container's own ref goes in too (its count is the program's): the view keeps its memory.
        H.held.take(container);
        const all = [container, ...values];
        list = new Float64Array(v.value.buffer, v.value.byteOffset, all.length);
        list.set(all);
        describe(list, `Float64Array over view(${container})[${all.map(show).join(', ')}]`);
        append(H.views, v.value);
        const shifted = [{ value: container, owned: true }, ...entries];
        entries.length = 0;
        for (const e of shifted) append(entries, e);
        if (badAt >= 0) badAt++;
      } else if (c.ok) this.gotRef(H, c.value, { size: 8 * (values.length + 1), slots: 0, type: 0 });
    }
    if (container !== undefined) {
      // (list made above)
    } else if ((form === 'float64' || form === 'inheap') && !typeCode) list = describe(Float64Array.from(values), `Float64Array[${values.map(show).join(', ')}]`);
    else if (form === 'arraylike') {
      list = {};
      values.forEach((v, i) => Object.defineProperty(list, i, { value: v, enumerable: true }));
      Object.defineProperty(list, 'length', { value: values.length });
      describe(list, `{ length: ${values.length}, ${values.map(show).join(', ')} }`);
    } else if (form === 'getters' || form === 'proxy') {
      getters = true;
      if (this.chance(0.15) && values.length > 0) sentinelAt = this.int(values.length);
      const read = (i) => {
        if (i === sentinelAt) {
          this.userRuns++;
          throw this.sentinel('getter');
        }
        return this.getterCode(`releaseMany element ${i}`, H, values[i], { mayThrow: false });
      };
      if (form === 'getters') {
        list = [];
        values.forEach((_, i) => Object.defineProperty(list, i, { get: () => read(i), enumerable: true, configurable: true }));
        describe(list, `[getters: ${values.map(show).join(', ')}]`);
      } else {
        const target = values.slice();
        list = new Proxy(target, {
          get: (t, key) => {
            if (key === 'length') return this.getterCode('releaseMany length', H, t.length, { mayThrow: false });
            const i = typeof key === 'string' ? Number(key) : NaN;
            if (Number.isInteger(i) && i >= 0 && i < t.length) return read(i);
            return Reflect.get(t, key);
          },
        });
        describe(list, `Proxy[${values.map(show).join(', ')}]`);
      }
    } else if (form === 'sparse' && this.accessors.length === 0 && badAt < 0) {
      // A hole reads as undefined: a type error at the hole, and nothing released.
      sparse = true;
      list = [];
      const hole = this.int(values.length + 1);
      let j = 0;
      for (let i = 0; i <= values.length; i++) {
        if (i === hole) continue;
        Object.defineProperty(list, i, { value: values[j++], enumerable: true, configurable: true, writable: true });
      }
      list.length = values.length + 1;
      describe(list, `sparse[hole at ${hole}; ${values.map(show).join(', ')}]`);
      badAt = hole;
      typeCode = true;
    } else list = values.slice();
    if (typeof list === 'object' && list !== null && !descriptions.has(list)) describe(list, show(values));
    // What it must do.
    let exp;
    if (sentinelAt >= 0 && (badAt < 0 || !typeCode || sentinelAt < badAt)) exp = { getters: true, codes: [] };
    else if (badAt >= 0) exp = { code: typeCode ? TYPE : BADREF };
    else exp = { ok: true };
    exp.getters = getters || this.accessors.length > 0;
    // Those before an invalid ref stay released (SPEC 4): only a call that releases nothing can be compared.
    if (!exp.ok && !getters && (typeCode || badAt === 0)) exp.snap = true;
    const r = this.api(H, 'releaseMany', H.heap.releaseMany, H.heap, [list], exp);
    // The model: what was released and what is still ours.
    let releasedUpTo = entries.length;
    if (!r.ok) {
      if (r.sentinel || r.code === TYPE || r.inconclusive) releasedUpTo = 0;
      else if (r.code === BADREF) {
        const index = r.error.index;
        if (!Number.isInteger(index)) this.finding('releaseMany-index', `${H.label}: ERR_INVALID_REF from releaseMany has index ${show(index)}`);
        else if (badAt >= 0 && !typeCode && index !== badAt) this.finding('releaseMany-index', `${H.label}: releaseMany's ERR_INVALID_REF has index ${index}, expected ${badAt}`);
        releasedUpTo = Number.isInteger(index) ? index : entries.length;
      } else if (r.code === CLOSED) releasedUpTo = entries.length; // closed: nothing is ours anymore
    }
    if (r.inconclusive) return; // counts lost: leaks only
    if (sparse) releasedUpTo = 0;
    for (let i = releasedUpTo; i < entries.length; i++) if (entries[i].owned && !H.closed) H.held.add(entries[i].value);
  }

  a_refcount(H) {
    const a = this.refArg(H);
    const r = this.api(H, 'refcount', H.heap.refcount, H.heap, [a.ref], this.expFrom(a.code, { borrowed: a.kind === 'borrowed', snap: a.code ? [] : undefined }));
    if (r.ok) {
      if (!(Number.isInteger(r.value) && r.value >= 0)) this.finding('refcount-result', `${H.label}: refcount(${a.ref}) = ${show(r.value)}`);
      if (a.kind === 'held' && r.value < H.held.count(a.ref)) this.finding('held-count', `${H.label}: refcount(${a.ref}) = ${r.value} < held ${H.held.count(a.ref)}`);
    }
  }

  /** A held (or borrowed) block with slots and its shape, or undefined. */
  slotted(H) {
    for (let i = 0; i < 6; i++) {
      const ref = H.held.random(this.random);
      if (ref === undefined) return undefined;
      const shape = H.shapes.get(ref);
      if (shape && shape.slots > 0) return { ref, shape };
    }
    return undefined;
  }

  a_setRef(H) {
    const s = this.slotted(H);
    let a;
    let slotCount;
    if (s === undefined || this.chance(this.hostile ? 0.25 : 0.03)) {
      a = this.refArg(H);
      slotCount = H.shapes.get(a.ref)?.slots;
    } else {
      a = { ref: s.ref, kind: 'held' };
      slotCount = s.shape.slots;
    }
    let slot = slotCount > 0 ? { value: this.int(slotCount) } : { value: 0, code: slotCount === 0 ? RANGE : undefined };
    if (this.chance(this.hostile ? 0.15 : 0.03)) slot = this.chance(0.5) ? { value: slotCount ?? 7, code: RANGE } : this.maybeBad(0, 1);
    let t;
    if (this.chance(0.2)) t = { ref: null, kind: 'null' };
    else t = this.refArg(H, { nullable: true });
    // Checked in order: the block, the slot (against the block's slots), the target.
    const unknown = a.code === undefined && slotCount === undefined; // a borrowed block of unknown shape
    const code = a.code ?? slot.code ?? t.code;
    const exp = unknown ? {} : this.expFrom(code, { borrowed: a.kind === 'borrowed' || t.kind === 'borrowed' });
    if (code !== undefined) exp.snap = [a.ref, t.ref].filter((x) => typeof x === 'number');
    const r = this.api(H, 'setRef', H.heap.setRef, H.heap, [a.ref, slot.value, t.ref], exp);
    if (r.ok && r.quiet && !H.closed && a.kind === 'held' && H.held.has(a.ref)) {
      const g = this.api(H, 'getRef', H.heap.getRef, H.heap, [a.ref, slot.value], { ok: true });
      if (g.ok && g.value !== t.ref) this.finding('setRef-getRef', `${H.label}: getRef(${a.ref}, ${slot.value}) = ${show(g.value)} after setRef(..., ${show(t.ref)})`);
    }
  }

  a_getRef(H) {
    const s = this.slotted(H);
    let a;
    let slotCount;
    if (s === undefined || this.chance(this.hostile ? 0.25 : 0.05)) {
      a = this.refArg(H);
      slotCount = H.shapes.get(a.ref)?.slots;
    } else {
      a = { ref: s.ref, kind: 'held' };
      slotCount = s.shape.slots;
    }
    let slot = slotCount > 0 ? { value: this.int(slotCount) } : { value: 0, code: slotCount === 0 ? RANGE : undefined };
    if (this.chance(this.hostile ? 0.15 : 0.03)) slot = this.chance(0.5) ? { value: slotCount ?? 7, code: RANGE } : this.maybeBad(0, 1);
    const code = a.code ?? slot.code;
    const unknown = a.code === undefined && slotCount === undefined;
    const exp = unknown ? {} : this.expFrom(code, { borrowed: a.kind === 'borrowed', snap: code ? [] : undefined });
    const r = this.api(H, 'getRef', H.heap.getRef, H.heap, [a.ref, slot.value], exp);
    if (r.ok && r.value !== null) {
      if (!Number.isSafeInteger(r.value) || r.value <= 0) this.finding('getRef-result', `${H.label}: getRef returned ${show(r.value)}`);
      else {
        H.borrowed.push(r.value);
        if (r.quiet) this.api(H, 'refcount', H.heap.refcount, H.heap, [r.value], { ok: true });
        if (this.chance(0.3) && r.quiet) {
          const k = this.api(H, 'retain', H.heap.retain, H.heap, [r.value], { ok: true });
          if (k.ok) H.held.add(r.value);
        }
      }
    }
  }

  a_shape(H) {
    const a = this.refArg(H);
    const which = this.pick(['slotCount', 'sizeOf', 'typeOf', 'isTracked', 'isFinalized']);
    const gc = which === 'isTracked' || which === 'isFinalized';
    const fn = gc ? H.heap.gc[which] : H.heap[which];
    const self = gc ? H.heap.gc : H.heap;
    const r = this.api(H, which, fn, self, [a.ref], this.expFrom(a.code, { borrowed: a.kind === 'borrowed', snap: a.code ? [] : undefined }));
    if (!r.ok) return;
    const shape = H.shapes.get(a.ref);
    if (shape === undefined) return;
    const want = { slotCount: shape.slots, sizeOf: shape.size, typeOf: shape.type, isTracked: shape.slots > 0 }[which];
    if (want !== undefined && r.value !== want) this.finding('shape', `${H.label}.${which}(${a.ref}) = ${show(r.value)}, expected ${show(want)}`);
    if (which === 'isFinalized' && typeof r.value !== 'boolean') this.finding('shape', `${H.label}.isFinalized returned ${show(r.value)}`);
  }

  /** A block (held), its size, and an offset argument for `width` bytes. */
  blockRange(H, width) {
    const a = this.refArg(H);
    const size = H.shapes.get(a.ref)?.size;
    let off;
    if (size === undefined) off = { value: 0 };
    else if (size < width) off = { value: 0, code: RANGE };
    else off = { value: this.int(size - width + 1) };
    if (this.chance(this.hostile ? 0.15 : 0.03)) {
      off = this.chance(0.5) && size !== undefined ? { value: Math.max(0, size - width + 1) + this.int(3), code: RANGE } : this.maybeBad(0, 1);
      if (off.code === undefined && size !== undefined && size < width) off.code = RANGE;
    }
    return { a, size, off };
  }

  a_scalar(H) {
    const kinds = [
      ['Uint8', 1, 'setUint8', 'getUint8'],
      ['Int32', 4, 'setInt32', 'getInt32'],
      ['Uint32', 4, 'setUint32', 'getUint32'],
      ['Float64', 8, 'setFloat64', 'getFloat64'],
      ['BigInt64', 8, 'setBigInt64', 'getBigInt64'],
    ];
    const [kind, width, setter, getter] = this.pick(kinds);
    const { a, size, off } = this.blockRange(H, width);
    const code0 = a.code ?? (size === undefined ? undefined : off.code);
    const unknown = a.code === undefined && size === undefined;
    if (this.chance(0.4)) {
      const r = this.api(H, getter, H.heap[getter], H.heap, [a.ref, off.value], unknown ? {} : this.expFrom(code0, { borrowed: a.kind === 'borrowed', snap: code0 ? [] : undefined }));
      if (r.ok && (kind === 'BigInt64' ? typeof r.value !== 'bigint' : typeof r.value !== 'number')) this.finding('scalar', `${H.label}.${getter} returned ${show(r.value)}`);
      return;
    }
    let value;
    let valueCode;
    if (kind === 'BigInt64') {
      value = this.pick([0n, 1n, -1n, 2n ** 63n, 2n ** 70n + 5n, -(2n ** 64n) - 3n, BigInt(this.int(1e9))]);
      if (this.chance(0.1)) {
        value = this.pick([5, 1.5, '5', null, undefined, describe({ valueOf: () => this.onConversion('bigint valueOf') }, '{ valueOf }')]);
        valueCode = TYPE;
      }
    } else {
      value = this.pick([0, 1, -1, 255, 256, -129, 2 ** 31, 2 ** 32 + 7, -(2 ** 40), 1.5, -2.5, NaN, Infinity, -Infinity, -0, 1e300, this.int(1e9), Math.PI]);
      if (this.chance(0.1)) {
        value = this.typeBad();
        valueCode = TYPE;
      }
    }
    const code = code0 ?? valueCode;
    const exp = unknown ? {} : this.expFrom(code, { borrowed: a.kind === 'borrowed', snap: code ? [a.ref].filter((x) => typeof x === 'number') : undefined });
    const r = this.api(H, setter, H.heap[setter], H.heap, [a.ref, off.value, value], exp);
    if (!r.ok || !r.quiet || H.closed || a.kind !== 'held' || !H.held.has(a.ref)) return;
    const g = this.api(H, getter, H.heap[getter], H.heap, [a.ref, off.value], { ok: true });
    if (!g.ok) return;
    const dv = new DataView(new ArrayBuffer(8));
    dv[setter](0, value, true);
    const want = dv[getter](0, true);
    if (!Object.is(g.value, want)) this.finding('scalar', `${H.label}.${setter}(${a.ref}, ${off.value}, ${show(value)}) then ${getter} = ${show(g.value)}; DataView gives ${show(want)}`);
  }

  /** A source for write(): a view of some kind (with its bytes as they are now), or a value that is no view. */
  writeSource(H) {
    const r = this.rand();
    const n = this.int(24);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = this.int(256);
    if (r < 0.3) return { src: bytes, bytes: bytes.slice() };
    if (r < 0.4) {
      const f = new Float64Array(1 + this.int(3));
      for (let i = 0; i < f.length; i++) f[i] = this.rand() * 1e6;
      return { src: f, bytes: new Uint8Array(f.buffer.slice(0)) };
    }
    if (r < 0.5) {
      const buf = new ArrayBuffer(n + 4);
      new Uint8Array(buf).set(bytes, 2);
      const dv = new DataView(buf, 2, n);
      return { src: dv, bytes: bytes.slice() };
    }
    if (r < 0.58) {
      const sab = new SharedArrayBuffer(Math.max(n, 1));
      const v = new Uint8Array(sab, 0, n);
      v.set(bytes);
      return { src: v, bytes: bytes.slice() };
    }
    if (r < 0.64) {
      const ab = new ArrayBuffer(8);
      const v = new Uint8Array(ab);
      structuredClone(ab, { transfer: [ab] }); // detached: covers no bytes
      return { src: v, bytes: new Uint8Array(0) };
    }
    if (r < 0.7) {
      const ab = new ArrayBuffer(16, { maxByteLength: 32 });
      const v = new Uint8Array(ab);
      v.set(bytes.subarray(0, 16));
      if (this.chance(0.5)) ab.resize(this.int(16));
      return { src: v, bytes: new Uint8Array(ab.slice(0)) };
    }
    if (r < 0.8) {
      const view = this.pick(H.views);
      if (view !== undefined && view.byteLength > 0) {
        const start = this.int(view.length);
        const sub = view.subarray(start, start + this.int(view.length - start + 1));
        return { src: sub, bytes: sub.slice() };
      }
      return { src: bytes, bytes: bytes.slice() };
    }
    if (r < 0.83) return { src: Buffer.from(bytes), bytes: bytes.slice() };
    if (r < 0.85) {
      const v = this.detached.random(this.random); // a view of a closed heap: detached, no bytes
      if (v !== undefined) return { src: v, bytes: new Uint8Array(0) };
      return { src: bytes, bytes: bytes.slice() };
    }
    // Not views.
    const bad = this.pick([
      () => [1, 2, 3],
      () => new ArrayBuffer(4),
      () => 'abc',
      () => null,
      () => undefined,
      () => 5,
      () => describe(new Proxy(new Uint8Array(4), this.trapHandler('Proxy(Uint8Array)')), 'Proxy(Uint8Array)'),
      () => describe({ buffer: new ArrayBuffer(4), byteLength: 4, byteOffset: 0, length: 4 }, '{ view-like }'),
      () => this.typeBad(),
    ])();
    return { src: bad, code: TYPE };
  }

  a_write(H) {
    const a = this.refArg(H);
    const size = H.shapes.get(a.ref)?.size;
    const s = this.writeSource(H);
    let off = { value: size === undefined ? 0 : this.int(size + 1) };
    if (this.chance(this.hostile ? 0.15 : 0.03)) off = this.chance(0.5) && size !== undefined ? { value: size + 1, code: RANGE } : this.maybeBad(0, 1);
    let code = a.code ?? off.code ?? s.code;
    if (code === undefined && size !== undefined && off.value + s.bytes.length > size) code = RANGE;
    const unknown = a.code === undefined && size === undefined;
    const exp = unknown ? {} : this.expFrom(code, { borrowed: a.kind === 'borrowed', snap: code ? [a.ref].filter((x) => typeof x === 'number') : undefined });
    const r = this.api(H, 'write', H.heap.write, H.heap, [a.ref, off.value, s.src], exp);
    if (!r.ok || !r.quiet || H.closed || a.kind !== 'held' || !H.held.has(a.ref) || s.bytes.length === 0) return;
    const back = this.api(H, 'read', H.heap.read, H.heap, [a.ref, off.value, s.bytes.length], { ok: true });
    if (back.ok && Buffer.compare(Buffer.from(back.value), Buffer.from(s.bytes)) !== 0) {
      this.finding('write-read', `${H.label}: read after write(${a.ref}, ${off.value}, ${show(s.src)}) gives ${Buffer.from(back.value).toString('hex')}, wrote ${Buffer.from(s.bytes).toString('hex')}`);
    }
  }

  a_read(H) {
    const a = this.refArg(H);
    const size = H.shapes.get(a.ref)?.size;
    const args = [a.ref];
    let code = a.code;
    if (this.chance(0.7)) {
      let off = { value: size === undefined ? 0 : this.int(size + 1) };
      if (this.chance(this.hostile ? 0.15 : 0.03)) off = this.chance(0.5) && size !== undefined ? { value: size + 1, code: RANGE } : this.maybeBad(0, 1, { optional: true });
      append(args, off.value);
      code = code ?? off.code;
      if (this.chance(0.6)) {
        const rest = size === undefined ? 0 : Math.max(0, size - (Number.isInteger(off.value) ? off.value : 0));
        let len = { value: this.int(rest + 1) };
        if (this.chance(this.hostile ? 0.15 : 0.03)) len = this.chance(0.5) && size !== undefined ? { value: rest + 1, code: RANGE } : this.maybeBad(0, 1, { optional: true });
        append(args, len.value);
        code = code ?? len.code;
      }
    }
    const unknown = a.code === undefined && size === undefined;
    const r = this.api(H, 'read', H.heap.read, H.heap, args, unknown ? {} : this.expFrom(code, { borrowed: a.kind === 'borrowed', snap: code ? [] : undefined }));
    if (r.ok && !(r.value instanceof Uint8Array)) this.finding('read-result', `${H.label}: read returned ${show(r.value)}`);
  }

  a_view(H) {
    const a = this.refArg(H);
    const r = this.api(H, 'view', H.heap.view, H.heap, [a.ref], this.expFrom(a.code, { borrowed: a.kind === 'borrowed', snap: a.code ? [] : undefined }));
    if (!r.ok) return;
    const v = r.value;
    if (!(v instanceof Uint8Array)) {
      this.finding('view-result', `${H.label}: view returned ${show(v)}`);
      return;
    }
    const size = H.shapes.get(a.ref)?.size;
    if (size !== undefined && v.length !== size && !H.closed) this.finding('view-result', `${H.label}: view(${a.ref}) has ${v.length} bytes, the block ${size}`);
    append(H.views, v);
    if (v.length > 0 && r.quiet && !H.closed && this.chance(0.5)) {
      const i = this.int(v.length);
      const x = this.int(256);
      v[i] = x;
      const g = this.api(H, 'getUint8', H.heap.getUint8, H.heap, [a.ref, i], { ok: true, borrowed: a.kind === 'borrowed' });
      if (g.ok && g.value !== x) this.finding('view-result', `${H.label}: a byte stored through view(${a.ref}) reads back as ${g.value}`);
    }
  }

  a_typeName(H) {
    const T = this.pickType(H);
    let t = { value: T.id };
    if (this.chance(this.hostile ? 0.3 : 0.1)) {
      t = this.chance(0.5) ? { value: this.pick([H.types.length + 1, 255, 256]) } : this.maybeBad(0, 1);
      if (t.code === undefined) t.code = this.typeCode(H, t.value);
    }
    const r = this.api(H, 'typeName', H.heap.typeName, H.heap, [t.value], this.expFrom(t.code, { snap: t.code ? [] : undefined }));
    if (r.ok && t.code === undefined && r.value !== T.name) this.finding('typeName', `${H.label}.typeName(${T.id}) = ${show(r.value)}, defined as ${show(T.name)}`);
  }

  a_defineType(H) {
    // The last two are longer than a fixed line buffer would hold (whole debug lines).
    const names = [`T${this.int(1000)}`, '', 'ünïcødé ☃', 'a>b <c 0x1>', 'x'.repeat(300), '☃'.repeat(90)];
    const name = this.chance(0.93) ? { value: this.pick(names) } : { value: this.typeBad({ allowString: false }), code: TYPE };
    const finalize = this.chance(0.6);
    const uncollectable = this.chance(0.15);
    let options;
    let optCode;
    let getters = false;
    const r0 = this.rand();
    const fin = finalize ? this.makeFinalizer(H) : undefined;
    if (r0 < 0.08) {
      options = this.pick([null, 5, 'x', true]);
      optCode = TYPE;
    } else if (r0 < 0.15) options = undefined;
    else if (r0 < 0.35) {
      getters = true;
      options = {};
      Object.defineProperty(options, 'finalize', { get: () => this.getterCode('defineType options.finalize', H, fin), enumerable: true });
      Object.defineProperty(options, 'uncollectable', { get: () => this.getterCode('defineType options.uncollectable', H, uncollectable), enumerable: true });
      describe(options, `{ get finalize, get uncollectable }`);
    } else if (r0 < 0.42) {
      getters = true;
      options = new Proxy({ finalize: fin, uncollectable }, { get: (t, k) => this.getterCode(`defineType options Proxy ${String(k)}`, H, t[k]) });
      describe(options, 'Proxy(options)');
    } else {
      options = {};
      if (finalize || this.chance(0.3)) options.finalize = fin;
      if (uncollectable || this.chance(0.3)) options.uncollectable = uncollectable;
      describe(options, `{ finalize: ${show(fin)}, uncollectable: ${uncollectable} }`);
    }
    if (optCode === undefined && this.chance(this.hostile ? 0.2 : 0.05) && options !== undefined && !getters) {
      if (this.chance(0.5)) options.finalize = this.pick([5, 'f', null, {}]);
      else options.uncollectable = this.pick([1, 'yes', null, {}]);
      optCode = TYPE;
    }
    let code = optCode ?? name.code;
    const atMax = H.types.length >= 256;
    if (code === undefined && atMax) code = RANGE;
    const args = options === undefined && this.chance(0.5) ? [name.value] : [name.value, options];
    let exp = this.expFrom(code, { getters, snap: code && !getters ? [] : undefined });
    if (this.namedAccessors) exp = { getters: true }; // options inherit what a program put on Object.prototype
    const r = this.api(H, 'defineType', H.heap.defineType, H.heap, args, exp);
    if (!r.ok) return;
    const id = r.value;
    if (!(Number.isInteger(id) && id >= 1 && id <= 255) || H.types.some((t) => t.id === id)) {
      this.finding('defineType-result', `${H.label}.defineType returned ${show(id)}`);
      return;
    }
    append(H.types, { id, name: name.value, finalize, uncollectable });
    if (!H.closed && this.chance(0.3)) {
      const t = this.api(H, 'typeName', H.heap.typeName, H.heap, [id], { ok: true });
      if (t.ok && t.value !== name.value) this.finding('typeName', `${H.label}.typeName(${id}) = ${show(t.value)} after defineType(${show(name.value)})`);
    }
  }

  a_manyTypes(H) {
    // Up to the limit (255 types besides "block"), then one more.
    const n = 1 + this.int(40);
    for (let i = 0; i < n && !H.closed; i++) {
      const full = H.types.length >= 256;
      const exp = full ? { code: RANGE } : this.namedAccessors ? { getters: true } : { ok: true };
      const r = this.api(H, 'defineType', H.heap.defineType, H.heap, [`M${i}`], exp);
      if (r.ok) append(H.types, { id: r.value, name: `M${i}`, finalize: false, uncollectable: false });
      if (full) return;
    }
  }

  a_trim(H) {
    const r = this.api(H, 'trim', H.heap.trim, H.heap, this.chance(0.1) ? [this.typeBad()] : [], { ok: true });
    if (r.ok && !(Number.isInteger(r.value) && r.value >= 0)) this.finding('trim', `${H.label}.trim() = ${show(r.value)}`);
  }

  a_stats(H) {
    const which = this.pick(['stats', 'stats', 'debugMallocStats', 'getStats']);
    const fn = which === 'getStats' ? H.heap.gc.getStats : H.heap[which];
    const self = which === 'getStats' ? H.heap.gc : H.heap;
    const r = this.api(H, which, fn, self, [], { ok: true });
    if (!r.ok) return;
    const problems = [];
    const own = (value, n) => Array.isArray(value) && Object.keys(value).length === n && value.length === n;
    const rows = (value) => Array.isArray(value) && Object.keys(value).length === value.length;
    if (which === 'debugMallocStats') {
      if (typeof r.value !== 'string' || !r.value.includes('Small block threshold')) append(problems, show(r.value));
    } else if (which === 'getStats') {
      const g = r.value;
      if (!own(g, 3) || g.some((x) => typeof x !== 'object' || typeof x.collections !== 'number' || typeof x.collected !== 'number')) append(problems, JSON.stringify(g));
    } else {
      // Its shape: plain data, own properties and elements only (whatever a program put on the prototypes).
      const s = r.value;
      if (typeof s !== 'object' || s === null) append(problems, show(s));
      else {
        for (const key of ['name', 'pid', 'heapId', 'mappedBytes', 'liveBlocks', 'trackedBlocks', 'allocations', 'frees', 'arenas', 'pools', 'sizeClasses', 'largeBlocks', 'gc']) {
          if (!Object.prototype.hasOwnProperty.call(s, key)) append(problems, `no own ${key}`);
        }
        const gc = s.gc;
        if (typeof gc !== 'object' || gc === null) append(problems, `gc ${show(gc)}`);
        else {
          if (!own(gc.counts, 3)) append(problems, `gc.counts ${show(gc.counts)} (own keys ${Object.keys(gc.counts ?? {})})`);
          if (!own(gc.thresholds, 3)) append(problems, `gc.thresholds ${show(gc.thresholds)}`);
          if (!own(gc.generations, 3)) append(problems, `gc.generations ${show(gc.generations)}`);
        }
        if (!rows(s.sizeClasses) || s.sizeClasses.some((c) => typeof c?.blockSize !== 'number')) append(problems, `sizeClasses ${show(s.sizeClasses)}`);
        // Its values, when nothing ran since: the gc calls it mirrors (SPEC 7).
        if (r.quiet && problems.length === 0 && !H.closed) {
          const g = H.heap.gc;
          const same = (a, b) => b.every((x, i) => a[i] === x);
          if (!same(gc.counts, g.getCount())) append(problems, `gc.counts ${JSON.stringify(gc.counts)} vs getCount() ${JSON.stringify(g.getCount())}`);
          if (!same(gc.thresholds, g.getThreshold())) append(problems, `gc.thresholds ${JSON.stringify(gc.thresholds)} vs getThreshold()`);
          if (gc.enabled !== g.isEnabled()) append(problems, `gc.enabled ${gc.enabled} vs isEnabled()`);
          if (gc.frozen !== g.getFreezeCount()) append(problems, `gc.frozen ${gc.frozen} vs getFreezeCount()`);
          if (gc.garbage !== g.garbage.length) append(problems, `gc.garbage ${gc.garbage} vs garbage.length`);
          if (s.name !== H.name) append(problems, `name ${show(s.name)}`);
          if (!(s.liveBlocks >= H.held.size)) append(problems, `liveBlocks ${s.liveBlocks} < ${H.held.size} held`);
          if (!(s.trackedBlocks <= s.liveBlocks)) append(problems, `trackedBlocks ${s.trackedBlocks} > liveBlocks ${s.liveBlocks}`);
          if (s.allocations - s.frees !== s.liveBlocks) append(problems, `allocations ${s.allocations} - frees ${s.frees} != liveBlocks ${s.liveBlocks}`);
          const inClasses = s.sizeClasses.reduce((n, c) => n + c.blocksInUse, 0);
          if (inClasses + s.largeBlocks.count !== s.liveBlocks) append(problems, `blocks in size classes ${inClasses} + large ${s.largeBlocks.count} != liveBlocks ${s.liveBlocks}`);
        }
      }
    }
    if (problems.length > 0) this.finding('stats', `${H.label}.${which}()${this.accessors.length ? ' under prototype accessors' : ''}: ${problems.join('; ')}`);
  }

  a_close(H, ctx, nested) {
    if (!nested && this.chance(0.5)) return; // rarer at the top
    this.closeHeap(H, false);
  }

  closeHeap(H, final) {
    const wasClosed = H.closed;
    const r = this.api(H, 'close', this.chance(0.2) ? H.heap[Symbol.dispose] : H.heap.close, H.heap, this.chance(0.1) ? [this.typeBad()] : [], { ok: true });
    if (!r.ok) return;
    if (!wasClosed) {
      H.closed = true;
      for (const ref of H.held.list) this.markDead(ref, H);
      for (let i = 0; i < H.seen.filled; i++) if (H.seen.items[i] !== undefined) this.markDead(H.seen.items[i], H);
      H.held.clear();
      for (const v of H.views) {
        if (v.byteLength !== 0) this.finding('view-after-close', `${H.label}: a view still has ${v.byteLength} bytes after close()`);
        this.detached.push(v);
      }
      H.views = [];
    }
    if (H.heap.closed !== true) this.finding('closed-state', `${H.label}.closed is false after close()`);
    if (!final && this.chance(0.2)) {
      // Every call now throws ERR_HEAP_CLOSED, whatever its arguments; close() again does nothing.
      const again = this.api(H, 'close', H.heap.close, H.heap, [], { ok: true });
      void again;
    }
  }

  /** Options for new Heap(), with the error they must cause. */
  heapOptions() {
    const params = { thresholds: [700, 10, 10], autoCollect: true, maxBytes: 0 };
    const pBad = this.hostile ? 0.12 : 0.03;
    const fields = Object.create(null); // (no inherited accessor answers for a field not set)
    const codes = Object.create(null); // field -> code
    const name = `fz${++heapUid}-${this.program}`;
    fields.name = this.chance(0.8) ? name : undefined;
    if (this.chance(pBad)) {
      fields.name = this.pick([5, null, describe(new String('x'), 'new String("x")'), describe({ toString: () => this.onConversion('name toString') }, '{ toString }')]);
      codes.name = TYPE;
    }
    if (this.chance(0.3)) {
      fields.maxBytes = this.pick([0, 2 ** 20, 2 * 2 ** 20, 3 * 2 ** 20, 6 * 2 ** 20]);
      params.maxBytes = fields.maxBytes;
    }
    if (this.chance(pBad)) {
      const bad = this.chance(0.5) ? { value: this.typeBad({ allowUndefined: false }), code: TYPE } : { value: this.rangeBad(), code: RANGE };
      fields.maxBytes = bad.value;
      codes.maxBytes = bad.code;
    }
    if (this.chance(0.7)) {
      const n = 1 + this.int(3);
      const t = [];
      for (let i = 0; i < n; i++) append(t, i === 0 ? this.pick([0, 1, 2, 3, 5, 10, 40, 700]) : this.pick([0, 1, 2, 5, 10, undefined]));
      for (let i = 0; i < n; i++) if (t[i] !== undefined) params.thresholds[i] = t[i];
      fields.thresholds = t;
      if (this.chance(pBad)) {
        const i = this.int(n);
        const bad = this.chance(0.5) ? { value: this.typeBad({ allowUndefined: i === 0 }), code: TYPE } : { value: this.pick([-1, 1.5, 2 ** 31, NaN]), code: RANGE };
        t[i] = bad.value;
        if (i === 0 && bad.value === undefined) bad.code = TYPE;
        codes.thresholds = bad.code;
      }
      if (this.chance(0.15)) {
        // Elements behind getters (run once each).
        const values = t.slice();
        const arr = [];
        values.forEach((v, i) => Object.defineProperty(arr, i, { get: () => this.getterCode(`thresholds[${i}]`, null, v), enumerable: true, configurable: true }));
        fields.thresholds = describe(arr, `[getters: ${values.map(show).join(', ')}]`);
      }
    }
    if (this.chance(pBad)) {
      fields.thresholds = this.pick([5, 'x', describe({ 0: 1, length: 1 }, '{ 0: 1, length: 1 }'), describe([], '[]'), describe([1, 2, 3, 4], '[1, 2, 3, 4]')]);
      codes.thresholds = Array.isArray(fields.thresholds) ? RANGE : TYPE;
    }
    if (this.chance(0.5)) {
      fields.autoCollect = this.chance(0.8);
      params.autoCollect = fields.autoCollect;
    }
    if (this.chance(pBad)) {
      fields.autoCollect = this.pick([1, 'yes', null, describe({ valueOf: () => this.onConversion('autoCollect valueOf') }, '{ valueOf }')]);
      codes.autoCollect = TYPE;
    }
    fields.publish = this.chance(0.92) || this.accessors.length > 0 ? false : this.chance(0.5) ? true : undefined;
    if (this.chance(pBad)) {
      fields.publish = this.pick([0, 'no', null]);
      codes.publish = TYPE;
    }
    // The order of the checks: name, thresholds, autoCollect, publish (lib), then maxBytes (native).
    const code = codes.name ?? codes.thresholds ?? codes.autoCollect ?? codes.publish ?? codes.maxBytes;
    // The container.
    const form = this.rand();
    let options;
    let getters = typeof fields.thresholds === 'object' && fields.thresholds !== null && descriptions.get(fields.thresholds)?.startsWith('[getters');
    if (form < 0.1 && code === undefined) {
      getters = true;
      options = {};
      for (const [k, v] of Object.entries(fields)) Object.defineProperty(options, k, { get: () => this.getterCode(`Heap options.${k}`, null, v), enumerable: true });
      describe(options, `{ getters: ${Object.keys(fields).join(', ')} }`);
    } else if (form < 0.15 && code === undefined) {
      getters = true;
      options = new Proxy({ ...fields }, { get: (t, k) => this.getterCode(`Heap options Proxy ${String(k)}`, null, t[k]) });
      describe(options, 'Proxy(options)');
    } else if (form < 0.2) {
      options = Object.create(fields); // inherited options count too
      describe(options, `Object.create({ ${Object.entries(fields).map(([k, v]) => `${k}: ${show(v)}`).join(', ')} })`);
    } else {
      options = { ...fields };
      describe(options, `{ ${Object.entries(fields).map(([k, v]) => `${k}: ${show(v)}`).join(', ')} }`);
    }
    if (this.chance(pBad / 2)) return { options: this.pick([null, 5, 'x']), code: TYPE, params, name };
    return { options, code, getters, params, name: fields.name };
  }

  newHeap(initial = false) {
    if (this.openHeaps().length >= MAX_OPEN_HEAPS) return undefined;
    // (Not while accessors are on the prototypes: a heap that publishes starts a timer, and Node's timer
    // queue is an array that an Array.prototype / Object.prototype accessor would catch.)
    if (!initial && this.accessors.length === 0 && this.chance(0.08) && !this.heaps.some((H) => H.isDefault && !H.closed)) return this.adoptDefaultHeap();
    const o = initial ? { options: { name: `fz${++heapUid}-${this.program}`, publish: false, thresholds: [this.pick([1, 3, 10, 50, 700]), this.pick([1, 2, 10]), this.pick([1, 2, 10])], maxBytes: this.chance(0.2) ? 2 ** 21 : 0 }, params: null } : this.heapOptions();
    if (initial) {
      o.params = { thresholds: o.options.thresholds.slice(), autoCollect: true, maxBytes: o.options.maxBytes };
      describe(o.options, JSON.stringify(o.options));
    }
    let exp = o.code !== undefined ? { code: o.code, getters: o.getters } : o.getters ? { getters: true } : { ok: true };
    if (this.namedAccessors) exp = { getters: true }; // options inherit what a program put on Object.prototype
    const r = this.api(null, 'new Heap', (options) => new this.rh.Heap(options), null, o.options === undefined ? [] : [o.options], exp);
    if (!r.ok) return undefined;
    return this.register(r.value, o.params);
  }

  adoptDefaultHeap() {
    const r = this.api(null, 'getDefaultHeap', this.rh.getDefaultHeap, null, [], { ok: true });
    if (!r.ok) return undefined;
    const heap = r.value;
    const G = this.register(heap, { thresholds: heap.gc.getThreshold(), autoCollect: heap.gc.isEnabled(), maxBytes: 0, isDefault: true });
    return G;
  }

  register(heap, params) {
    // The same heap twice (getDefaultHeap() called again from user code run while the first call was under way): one record.
    const known = this.heaps.find((x) => x.heap === heap);
    if (known !== undefined) return known;
    const H = new HeapRec(heap, params);
    if (params.isDefault) {
      H.debug = heap.gc.getDebug();
    }
    append(this.heaps, H);
    this.heapsByName.set(H.name, H);
    // Callbacks and debug lines into the fuzzer (the default would write to stderr).
    heap.gc.debugOutput = this.makeDebugOutput(H);
    const n = this.int(3);
    for (let i = 0; i < n; i++) append(heap.gc.callbacks, this.makeGcCallback(H));
    H.callbacksCopy = heap.gc.callbacks.slice();
    for (let i = 0; i < 1 + this.int(3); i++) {
      const finalize = this.chance(0.8);
      const uncollectable = this.chance(0.15);
      const name = `Init${i}`;
      const id = heap.defineType(name, { finalize: finalize ? this.makeFinalizer(H) : undefined, uncollectable });
      append(H.types, { id, name, finalize, uncollectable });
    }
    if (this.chance(0.3)) {
      H.debug = this.pick([1, 2, 4, 3, 7, 32, 38, 39]);
      heap.gc.setDebug(H.debug);
    }
    this.note(`${H.label} = ${H.name} (heap id ${heap.id}) thresholds ${H.thresholds} maxBytes ${H.maxBytes} types ${H.types.length}`);
    return H;
  }

  a_newHeap(H, ctx, nested) {
    if (nested && this.chance(0.5)) return;
    this.newHeap(false);
  }

  /** heap.gc, or (for the default heap, while it is the default) the module's `gc`. */
  gcOf(H) {
    if (H.isDefault && !H.closed && this.chance(0.5)) return this.rh.gc;
    return H.heap.gc;
  }

  a_collect(H) {
    const gc = this.gcOf(H);
    const args = [];
    let code;
    if (this.chance(0.6)) {
      const g = this.intArg(0, 2, { optional: true });
      append(args, g.value);
      code = g.code;
    }
    const inCollection = H.collecting > 0 || H.inCallback > 0;
    if (!inCollection) {
      H.lastStop = null;
      H.lastDone = null;
    }
    const debugBefore = H.debugSets;
    const debugOutputsBefore = H.debugOutputs;
    const r = this.api(H, 'gc.collect', gc.collect, gc, args, this.expFrom(code, { snap: code ? [] : undefined }));
    if (!r.ok) return;
    if (!(Number.isInteger(r.value) && r.value >= 0)) this.finding('collect-result', `${H.label}.gc.collect() = ${show(r.value)}`);
    else if (inCollection && r.value !== 0) this.finding('collect-result', `${H.label}.gc.collect() from inside a collection returned ${r.value}, expected 0`);
    else if (!inCollection && !this.deep && !H.closed) {
      const stop = H.lastStop;
      if (stop == null) this.finding('collect-events', `${H.label}.gc.collect(${args.map(show).join(', ')}) = ${r.value} published no refheap:gc:stop (collecting ${H.collecting}, in callback ${H.inCallback})`);
      else if (stop.collected + stop.uncollectable !== r.value) this.finding('collect-result', `${H.label}.gc.collect() = ${r.value} but its stop event says ${stop.collected} collected + ${stop.uncollectable} uncollectable`);
      else if ((H.debug & 1) !== 0 && H.debugSets === debugBefore && H.debugMine && H.debugOutputs === debugOutputsBefore) {
        const done = H.lastDone;
        if (done === null) this.finding('debug-line', `${H.label}.gc.collect() under DEBUG_STATS wrote no "gc: done" line (getDebug() ${H.heap.gc.getDebug()}, model ${H.debug}, default heap ${H.isDefault})`);
        else if (done.unreachable !== r.value || done.uncollectable !== stop.uncollectable) {
          this.finding('debug-line', `${H.label}.gc.collect() = ${r.value} (${stop.uncollectable} uncollectable) but "gc: done, ${done.unreachable} unreachable, ${done.uncollectable} uncollectable"`);
        }
      }
    }
  }

  a_enable(H) {
    const gc = this.gcOf(H);
    const which = this.pick(['enable', 'disable', 'isEnabled']);
    const args = this.chance(0.1) ? [this.typeBad()] : [];
    const r = this.api(H, `gc.${which}`, gc[which], gc, args, { ok: true });
    if (!r.ok || H.closed) return;
    if (which === 'enable') H.enabled = true;
    else if (which === 'disable') H.enabled = false;
    else if (r.value !== H.enabled) this.finding('isEnabled', `${H.label}.gc.isEnabled() = ${r.value}, set ${H.enabled}`);
  }

  a_getCount(H) {
    const gc = this.gcOf(H);
    const r = this.api(H, 'gc.getCount', gc.getCount, gc, [], { ok: true });
    if (r.ok && !(Array.isArray(r.value) && Object.keys(r.value).length === 3 && r.value.every((x) => Number.isInteger(x) && x >= 0))) {
      this.finding('getCount', `${H.label}.gc.getCount() = ${show(r.value)}`);
    }
  }

  a_threshold(H) {
    const gc = this.gcOf(H);
    if (this.chance(0.3)) {
      const r = this.api(H, 'gc.getThreshold', gc.getThreshold, gc, [], { ok: true });
      if (r.ok && !H.closed && !(Array.isArray(r.value) && Object.keys(r.value).length === 3 && r.value.every((x, i) => x === H.thresholds[i]))) {
        this.finding('threshold', `${H.label}.gc.getThreshold() = ${show(r.value)}, set ${JSON.stringify(H.thresholds)}`);
      }
      return;
    }
    const n = this.chance(0.05) ? 0 : 1 + this.int(3);
    const args = [];
    const parts = [];
    for (let i = 0; i < n; i++) {
      const t = this.chance(0.97) ? { value: this.pick([0, 1, 2, 3, 5, 10, 50, 700, 2 ** 31 - 1]) } : this.intArg(0, 2 ** 31 - 1, { optional: i > 0 });
      append(args, t.value);
      append(parts, t);
    }
    let code = this.firstCode(parts);
    if (n === 0) code = TYPE;
    const r = this.api(H, 'gc.setThreshold', gc.setThreshold, gc, args, this.expFrom(code, { snap: code ? [] : undefined }));
    if (r.ok && !H.closed) args.forEach((v, i) => { if (v !== undefined) H.thresholds[i] = v === 0 ? 0 : v; });
  }

  a_debug(H) {
    const gc = this.gcOf(H);
    if (this.chance(0.3)) {
      const r = this.api(H, 'gc.getDebug', gc.getDebug, gc, [], { ok: true });
      if (r.ok && !H.closed && r.value !== H.debug) this.finding('debug', `${H.label}.gc.getDebug() = ${r.value}, set ${H.debug}`);
      return;
    }
    let f = { value: this.pick([0, 1, 2, 4, 3, 6, 7, 32, 38, 39, 64, 2 ** 40, 2 ** 53 - 1]) };
    if (this.chance(this.hostile ? 0.2 : 0.05)) f = this.chance(0.5) ? { value: this.typeBad(), code: TYPE } : { value: this.pick([-1, 1.5, NaN, 2 ** 53, Infinity]), code: RANGE };
    const r = this.api(H, 'gc.setDebug', gc.setDebug, gc, [f.value], this.expFrom(f.code, { snap: f.code ? [] : undefined }));
    if (r.ok && !H.closed) H.debug = f.value;
    H.debugSets++; // (even a failed call may have run user code: count it)
  }

  a_garbage(H) {
    const gc = this.gcOf(H);
    const r = this.api(H, 'gc.garbage', () => gc.garbage, null, [], { ok: true });
    if (!r.ok) return;
    const g = r.value;
    if (!Array.isArray(g) || Object.keys(g).length !== g.length) {
      this.finding('garbage', `${H.label}.gc.garbage = ${show(g)}`);
      return;
    }
    for (const ref of g) H.borrowed.push(ref);
    if (g.length > 0 && r.quiet && !H.closed) {
      const ref = this.pick(g);
      const c = this.api(H, 'refcount', H.heap.refcount, H.heap, [ref], { ok: true });
      void c;
      if (this.chance(0.3)) {
        const k = this.api(H, 'retain', H.heap.retain, H.heap, [ref], { ok: true });
        if (k.ok) H.held.add(ref);
      }
    }
  }

  a_clearGarbage(H) {
    const gc = this.gcOf(H);
    const before = H.closed ? undefined : this.api(H, 'gc.garbage', () => gc.garbage, null, [], { ok: true });
    const r = this.api(H, 'gc.clearGarbage', gc.clearGarbage, gc, [], { ok: true });
    if (r.ok && before?.ok && r.quiet && r.value !== before.value.length) {
      this.finding('clearGarbage', `${H.label}.gc.clearGarbage() = ${r.value}, garbage had ${before.value.length}`);
    }
    if (r.ok && r.quiet && !H.closed) {
      const after = this.api(H, 'gc.garbage', () => gc.garbage, null, [], { ok: true });
      if (after.ok && after.quiet && after.value.length !== 0) this.finding('clearGarbage', `${H.label}.gc.garbage has ${after.value.length} blocks right after clearGarbage()`);
    }
  }

  a_getObjects(H) {
    const gc = this.gcOf(H);
    const args = [];
    let code;
    const r0 = this.rand();
    if (r0 < 0.3) append(args, null);
    else if (r0 < 0.4) append(args, undefined);
    else if (r0 < 0.8) {
      const g = this.intArg(0, 2, { optional: true });
      append(args, g.value);
      code = g.value === null ? undefined : g.code;
    }
    const r = this.api(H, 'gc.getObjects', gc.getObjects, gc, args, this.expFrom(code, { snap: code ? [] : undefined }));
    if (r.ok) this.checkRefList(H, r.value, 'gc.getObjects', r.quiet);
  }

  /** A borrowed list of refs the API returned: an own-element array of live blocks (when nothing ran since). */
  checkRefList(H, list, what, quiet) {
    if (!Array.isArray(list) || Object.keys(list).length !== list.length) {
      this.finding('ref-list', `${H.label}.${what} returned ${show(list)}`);
      return;
    }
    for (let i = 0; i < list.length && i < 16; i++) {
      const ref = list[this.int(list.length)];
      H.borrowed.push(ref);
      if (quiet && !H.closed && i < 3) this.api(H, 'refcount', H.heap.refcount, H.heap, [ref], { ok: true });
    }
  }

  a_related(H) {
    const gc = this.gcOf(H);
    const which = this.chance(0.5) ? 'getReferrers' : 'getReferents';
    const n = this.int(4);
    const args = [];
    let code;
    let borrowed = false;
    for (let i = 0; i < n; i++) {
      const a = this.refArg(H);
      append(args, a.ref);
      // Every element is read before any is resolved: a type error anywhere comes first.
      if (a.code === TYPE) code = TYPE;
      else code = code ?? a.code;
      borrowed = borrowed || a.kind === 'borrowed';
    }
    const r = this.api(H, `gc.${which}`, gc[which], gc, args, this.expFrom(code, { borrowed, snap: code ? [] : undefined }));
    if (!r.ok) return;
    this.checkRefList(H, r.value, `gc.${which}`, r.quiet);
    if (which === 'getReferents' && r.quiet && !H.closed && args.length === 1 && H.shapes.has(args[0]) && H.held.has(args[0])) {
      const want = [];
      const slots = H.shapes.get(args[0]).slots;
      for (let s = 0; s < slots; s++) {
        const g = H.heap.getRef(args[0], s);
        if (g !== null) append(want, g);
      }
      if (want.length !== r.value.length || want.some((x, i) => r.value[i] !== x)) {
        this.finding('getReferents', `${H.label}.gc.getReferents(${args[0]}) = ${show(r.value)}, its slots hold ${show(want)}`);
      }
    }
  }

  a_freeze(H) {
    const gc = this.gcOf(H);
    const which = this.pick(['freeze', 'unfreeze', 'getFreezeCount']);
    const r = this.api(H, `gc.${which}`, gc[which], gc, [], { ok: true });
    if (r.ok && which === 'getFreezeCount' && !(Number.isInteger(r.value) && r.value >= 0)) this.finding('freeze', `${H.label}.gc.getFreezeCount() = ${show(r.value)}`);
    // Right after freeze() no tracked block is left in generations 0-2; after unfreeze(), none is frozen (when nothing ran meanwhile).
    if (r.ok && r.quiet && !H.closed && H.collecting === 0 && H.inCallback === 0 && which !== 'getFreezeCount') {
      if (which === 'freeze') {
        const objs = this.api(H, 'gc.getObjects', H.heap.gc.getObjects, H.heap.gc, [], { ok: true });
        if (objs.ok && objs.quiet && objs.value.length !== 0) this.finding('freeze', `${H.label}.gc.getObjects() right after freeze() has ${objs.value.length} blocks`);
      } else {
        const n = this.api(H, 'gc.getFreezeCount', H.heap.gc.getFreezeCount, H.heap.gc, [], { ok: true });
        if (n.ok && n.quiet && n.value !== 0) this.finding('freeze', `${H.label}.gc.getFreezeCount() right after unfreeze() is ${n.value}`);
      }
    }
  }

  editCallbacks(H) {
    const gc = H.heap.gc;
    const r = this.rand();
    this.note(`${H.label}: edit gc.callbacks`);
    // The fuzzer's own copy of what it last put there (reading gc.callbacks could run a Proxy's traps).
    const list = H.callbacksCopy ?? [];
    const put = (value, copy) => {
      gc.callbacks = value;
      H.callbacksCopy = copy;
    };
    if (r < 0.45) {
      const copy = list.slice();
      append(copy, this.makeGcCallback(H));
      put(copy, copy);
    } else if (r < 0.7) {
      const copy = list.slice();
      if (copy.length > 0) removeAt(copy, this.int(copy.length));
      put(copy, copy);
    } else if (r < 0.8) {
      // Entries that are no callbacks: each is reported, the others still run.
      const value = describe([this.makeGcCallback(H), this.pick([5, null, 'x', {}]), this.makeGcCallback(H)], '[cb, junk, cb]');
      put(value, []);
    } else if (r < 0.85) {
      put(this.pick([null, 5, 'x', {}]), []);
    } else if (r < 0.92) {
      const target = [this.makeGcCallback(H)];
      H.callbacksCopy = target.slice();
      gc.callbacks = describe(new Proxy(target, { get: (t, k) => this.duringCollection(H, () => this.getterCode(`gc.callbacks Proxy ${String(k)}`, H, Reflect.get(t, k))) }), 'Proxy(callbacks)');
    } else {
      put([], []);
    }
  }

  a_callbacks(H) {
    if (H.closed) return;
    this.editCallbacks(H);
  }

  a_debugOutput(H) {
    if (H.closed) return;
    const gc = H.heap.gc;
    const r = this.rand();
    this.note(`${H.label}: set gc.debugOutput`);
    const set = (value) => {
      Object.defineProperty(gc, 'debugOutput', { value, writable: true, configurable: true, enumerable: true });
      H.debugMine = typeof value === 'function';
      H.debugOutputs++;
    };
    if (r < 0.6) set(this.makeDebugOutput(H));
    else if (r < 0.75) set(this.pick([5, null, 'x']));
    else if (r < 0.9) {
      const out = this.makeDebugOutput(H);
      const get = () => {
        try {
          return this.duringCollection(H, () => this.getterCode('debugOutput getter', H, out));
        } catch (error) {
          H.debugOutputs++; // that line was not written, on purpose
          throw error;
        }
      };
      Object.defineProperty(gc, 'debugOutput', { get, configurable: true, enumerable: true });
      H.debugMine = true;
      H.debugOutputs++;
    } else {
      set(this.makeDebugOutput(H));
    }
  }

  /** A small graph of new blocks, cycles included, that the program then lets go of: food for the collector. */
  a_garbageGraph(H) {
    const n = 2 + this.int(7);
    const blocks = [];
    for (let i = 0; i < n; i++) {
      const T = this.pickType(H);
      const slots = 1 + this.int(3);
      const size = this.int(48);
      const r = this.api(H, 'alloc', H.heap.alloc, H.heap, [size, slots, T.id], { ok: true, alloc: true });
      if (!r.ok) break;
      this.gotRef(H, r.value, { size, slots, type: T.id });
      append(blocks, { ref: r.value, slots });
    }
    if (H.closed) return;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i];
      const next = blocks[(i + 1) % blocks.length];
      if (!H.held.has(b.ref) || !H.held.has(next.ref)) continue;
      this.api(H, 'setRef', H.heap.setRef, H.heap, [b.ref, 0, next.ref], { ok: true });
      if (b.slots > 1 && this.chance(0.5)) {
        const other = this.pick(blocks);
        if (H.held.has(other.ref)) this.api(H, 'setRef', H.heap.setRef, H.heap, [b.ref, 1, other.ref], { ok: true });
      }
      if (H.closed) return;
    }
    for (const b of blocks) {
      if (this.chance(0.85) && H.held.take(b.ref)) this.api(H, 'release', H.heap.release, H.heap, [b.ref], { ok: true });
      if (H.closed) return;
    }
  }

  a_chain(H, ctx, nested) {
    if (nested || this.accessors.length > 0) return;
    const n = 200 + this.int(this.chance(0.2) ? 20000 : 2000);
    const T = this.pick(H.types.filter((t) => !t.finalize || this.chance(0.2))) ?? H.types[0];
    this.note(`${H.label}: a chain of ${n}`);
    const r = this.api(H, 'allocMany', H.heap.allocMany, H.heap, [n, 0, 1, T.id], { ok: true, alloc: true });
    if (!r.ok || H.closed) return;
    const refs = r.value;
    for (let i = 0; i + 1 < refs.length && !H.closed; i++) H.heap.setRef(refs[i], 0, refs[i + 1]);
    if (H.closed) return;
    if (this.chance(0.5)) H.heap.setRef(refs[refs.length - 1], 0, refs[0]); // a ring: the collector's
    const keep = refs[0];
    const rest = refs.subarray(1);
    H.heap.releaseMany(rest);
    for (let i = 0; i < 3; i++) H.seen.push(refs[this.int(refs.length)]);
    for (const ref of refs) H.shapes.set(ref, { size: 0, slots: 1, type: T.id });
    this.gotRef(H, keep, { size: 0, slots: 1, type: T.id }, true);
    if (this.chance(0.7)) {
      H.held.take(keep);
      this.api(H, 'release', H.heap.release, H.heap, [keep], { ok: true });
    }
  }

  /**
   * Lets go of a heap without close(): V8 collects it (at a later tick) and
   * that closes it (SPEC 4). Its refs stay foreign to every other heap.
   */
  a_abandon(H, ctx, nested) {
    if (nested || H.closed || H.isDefault || this.openHeaps().length < 2) return;
    this.note(`abandon ${H.label} (no close(): V8 collects it)`);
    for (let i = 0; i < H.seen.filled; i++) if (H.seen.items[i] !== undefined) this.ghosts.push(H.seen.items[i]);
    const i = this.heaps.indexOf(H);
    if (i >= 0) this.heaps.splice(i, 1);
    this.heapsByName.delete(H.name);
    H.heap = null;
    H.views = [];
    H.held.clear();
  }

  a_verify(H) {
    const r = this.api(H, '_verify', H.heap._verify, H.heap, [], { ok: true });
    if (r.ok && r.value !== '') this.finding('verify', `${H.label}._verify() (depth ${this.depth}): ${r.value}`);
  }

  a_failMapping(H) {
    if (H.closed) return;
    const n = 1 + this.int(3);
    this.api(H, '_failNthMapping', H.heap._failNthMapping, H.heap, [n], { ok: true });
    H.failArmed = 6;
  }

  /** A ref of this heap, used on another heap: ERR_INVALID_REF there, and nothing changes on either. */
  a_foreign(H) {
    const G = this.pick(this.openHeaps().filter((x) => x !== H));
    const ref = H.held.random(this.random) ?? H.seen.random(this.random);
    if (G === undefined || ref === undefined) return;
    const which = this.pick(['release', 'retain', 'refcount', 'setRef-target', 'setRef-block', 'getRef', 'view', 'read', 'isTracked', 'getReferrers', 'releaseMany']);
    const g = G.heap;
    const theirs = this.pick(G.held.list.filter((x) => (G.shapes.get(x)?.slots ?? 0) > 0));
    const before = H.closed ? null : this.snapshot(H, [ref]);
    const counters = [this.apiCount, this.finRuns, this.gcRuns, this.userRuns];
    switch (which) {
      case 'release': this.api(G, 'release', g.release, g, [ref], { code: BADREF, snap: [] }); break;
      case 'retain': this.api(G, 'retain', g.retain, g, [ref], { code: BADREF, snap: [] }); break;
      case 'refcount': this.api(G, 'refcount', g.refcount, g, [ref], { code: BADREF, snap: [] }); break;
      case 'setRef-target':
        if (theirs !== undefined) this.api(G, 'setRef', g.setRef, g, [theirs, 0, ref], { code: BADREF, snap: [theirs] });
        break;
      case 'setRef-block': this.api(G, 'setRef', g.setRef, g, [ref, 0, null], { code: BADREF, snap: [] }); break;
      case 'getRef': this.api(G, 'getRef', g.getRef, g, [ref, 0], { code: BADREF, snap: [] }); break;
      case 'view': this.api(G, 'view', g.view, g, [ref], { code: BADREF, snap: [] }); break;
      case 'read': this.api(G, 'read', g.read, g, [ref], { code: BADREF, snap: [] }); break;
      case 'isTracked': this.api(G, 'gc.isTracked', g.gc.isTracked, g.gc, [ref], { code: BADREF, snap: [] }); break;
      case 'getReferrers': this.api(G, 'gc.getReferrers', g.gc.getReferrers, g.gc, [ref], { code: BADREF, snap: [] }); break;
      case 'releaseMany': {
        const mine = G.held.random(this.random);
        const list = mine !== undefined && this.chance(0.5) ? [mine, ref] : [ref];
        if (list.length === 2) G.held.take(mine);
        const r = this.api(G, 'releaseMany', g.releaseMany, g, [list], { code: BADREF });
        if (!r.ok && r.code === BADREF && r.error.index !== list.length - 1) this.finding('releaseMany-index', `${G.label}.releaseMany(${show(list)}) index ${show(r.error.index)}`);
        break;
      }
    }
    // 1 call (or 2: releaseMany of one of G's refs first, which may run user code)
    const quiet = this.finRuns === counters[1] && this.gcRuns === counters[2] && this.userRuns === counters[3];
    if (before !== null && !H.closed && quiet) {
      const after = this.snapshot(H, [ref]);
      if (after !== before) this.finding('failed-call-changed-state', `${which} on ${G.label} with ${H.label}'s ref ${ref} changed ${H.label}:\n  before ${before}\n  after  ${after}`);
    }
  }

  a_dead(H) {
    this.probeSeen(H);
    const dead = this.deadRing.random(this.random);
    if (dead === undefined) return;
    const which = this.pick(['release', 'retain', 'refcount', 'getRef', 'sizeOf', 'view', 'isFinalized']);
    const gcFn = which === 'isFinalized';
    const fn = gcFn ? H.heap.gc.isFinalized : H.heap[which];
    const args = which === 'getRef' ? [dead.ref, 0] : [dead.ref];
    this.api(H, which, fn, gcFn ? H.heap.gc : H.heap, args, { code: BADREF, snap: [] });
  }

  /** Actions with the block being finalized at hand. */
  localAction(H, ref) {
    const heap = H.heap;
    const r = this.rand();
    if (r < 0.15) {
      const g = this.api(H, 'gc.getReferents', heap.gc.getReferents, heap.gc, [ref], { ok: true });
      if (g.ok && g.value.length > 0) {
        const n = this.pick(g.value);
        H.borrowed.push(n);
        if (this.chance(0.5)) {
          const k = this.api(H, 'retain', heap.retain, heap, [n], { ok: true });
          if (k.ok) H.held.add(n);
        }
      }
    } else if (r < 0.3) {
      const slots = this.api(H, 'slotCount', heap.slotCount, heap, [ref], { ok: true });
      if (slots.ok && slots.value > 0) {
        const target = this.chance(0.5) ? null : (H.held.random(this.random) ?? null);
        this.api(H, 'setRef', heap.setRef, heap, [ref, this.int(slots.value), target], { ok: true });
      }
    } else if (r < 0.4) {
      const g = this.api(H, 'gc.getReferrers', heap.gc.getReferrers, heap.gc, [ref], { ok: true });
      if (g.ok) for (const x of g.value) H.borrowed.push(x);
    } else if (r < 0.5) {
      const v = this.api(H, 'view', heap.view, heap, [ref], { ok: true });
      if (v.ok) {
        append(H.views, v.value);
        H.resurrected.add(ref);
      }
    } else if (r < 0.6) {
      const objs = this.api(H, 'gc.getObjects', heap.gc.getObjects, heap.gc, [], { ok: true });
      if (objs.ok) this.checkRefList(H, objs.value, 'gc.getObjects (in a finalizer)', objs.quiet);
    } else if (r < 0.7) {
      const size = this.api(H, 'sizeOf', heap.sizeOf, heap, [ref], { ok: true });
      if (size.ok && size.value >= 4) this.api(H, 'setUint32', heap.setUint32, heap, [ref, this.int(size.value - 3), this.int(2 ** 32)], { ok: true });
      this.api(H, 'read', heap.read, heap, [ref], { ok: true });
    } else if (r < 0.75) {
      this.api(H, 'gc.isFinalized', heap.gc.isFinalized, heap.gc, [ref], { ok: true });
      this.api(H, 'gc.isTracked', heap.gc.isTracked, heap.gc, [ref], { ok: true });
    } else {
      this.action(H, { ref, H }, true);
    }
  }

  // ------------------------------------------------------ special steps

  /** Indexed (and some named) accessors on Array.prototype / Object.prototype for a few actions, then removed. */
  withAccessors() {
    const n = 1 + this.int(3);
    for (let i = 0; i < n; i++) {
      const onArray = this.chance(0.6);
      const proto = onArray ? Array.prototype : Object.prototype;
      let key = String(this.pick([0, 0, 1, 2, 3, 5, 8]));
      if (!onArray && this.chance(0.4)) {
        const names = ['length', 'finalize', 'uncollectable', 'maxBytes', 'thresholds', 'autoCollect', 'publish', 'index', 'then'];
        for (const k of ['liveBlocks', 'counts', 'generations', 'sizeClasses', 'collections', 'gc']) append(names, k);
        key = this.pick(names);
        this.namedAccessors = true;
      }
      if (Object.getOwnPropertyDescriptor(proto, key) !== undefined) continue;
      // transparent: reads back what was stored (as if own); junk: the same, else junk; swallow: stores
      // nothing and reads undefined; throws: the same as junk, or throws.
      const mode = this.pick(['transparent', 'transparent', 'junk', 'swallow', 'throws']);
      const store = this.accessorStore;
      const H = this.pick(this.openHeaps()) ?? null;
      const self = this;
      const label = `${onArray ? 'Array' : 'Object'}.prototype[${JSON.stringify(key)}] (${mode})`;
      Object.defineProperty(proto, key, {
        configurable: true,
        enumerable: false,
        get() {
          self.userRuns++;
          if (self.options.trace) self.note(`${label} get from ${new Error().stack.split('\n').slice(2, 7).map((l) => l.trim()).join(' < ')}`);
          if (self.depth < MAX_DEPTH && self.budget > 0 && self.chance(0.3)) self.userCode(`${label} get`, H, () => self.nested(H, {}));
          if (mode === 'throws' && self.chance(0.5)) throw self.sentinel('getter');
          if (mode === 'swallow') return undefined;
          const box = (typeof this === 'object' && this !== null) || typeof this === 'function' ? store.get(this) : undefined;
          if (box !== undefined && key in box) return box[key];
          if (mode === 'junk') {
            if (key === 'finalize') return self.orphanFinalizer;
            const dead = self.deadRing.random(self.random);
            return self.pick([undefined, NaN, -1, 1.5, dead?.ref, 'junk']);
          }
          return undefined;
        },
        set(value) {
          self.userRuns++;
          if (self.options.trace) self.note(`${label} set from ${new Error().stack.split('\n').slice(2, 7).map((l) => l.trim()).join(' < ')}`);
          if (self.depth < MAX_DEPTH && self.budget > 0 && self.chance(0.3)) self.userCode(`${label} set`, H, () => self.nested(H, {}));
          if (mode !== 'swallow' && ((typeof this === 'object' && this !== null) || typeof this === 'function')) {
            let box = store.get(this);
            if (box === undefined) store.set(this, (box = Object.create(null)));
            box[key] = value;
          }
        },
      });
      append(this.accessors, { proto, key });
      this.note(`install ${label}`);
    }
    // process.emitWarning queues a process.nextTick, and Node's tick queue is
    // an array of 2048 slots: once it has to grow, its new array has holes
    // that it fills with [[Set]], which an accessor on an index catches, and
    // the queue is stuck for good (processTicksAndRejections spins). So the
    // warnings refheap reports meanwhile are held here and emitted once the
    // accessors are gone (a shim of the harness: Node's problem, not refheap's).
    const emitWarning = process.emitWarning;
    const held = new Map();
    process.emitWarning = (...args) => void held.set(held.size, args);
    try {
      const k = 1 + this.int(6);
      for (let i = 0; i < k && this.findings.length === 0; i++) {
        this.budget = NESTED_BUDGET;
        this.action(this.pickHeap(), {});
      }
    } finally {
      this.removeAccessors();
      process.emitWarning = emitWarning;
      for (const args of held.values()) Reflect.apply(emitWarning, process, args);
    }
  }

  removeAccessors() {
    for (const { proto, key } of this.accessors) delete proto[key];
    if (this.accessors.length > 0) this.note('accessors removed');
    this.accessors.length = 0;
    this.namedAccessors = false;
  }

  /**
   * An accessor for "code" (and "index") on Object.prototype, around one
   * failing call of each kind of error: each must still have its own code
   * (the fuzzer's own records read "code" too, so it is never left on for
   * other actions).
   */
  a_protoCode(H, ctx, nested) {
    if (nested || H.closed) return;
    let ran = 0;
    const store = new WeakMap();
    for (const key of ['code', 'index']) {
      Object.defineProperty(Object.prototype, key, {
        configurable: true,
        get() { ran++; return typeof this === 'object' && this !== null ? store.get(this) : undefined; },
        set(v) { ran++; if (typeof this === 'object' && this !== null) store.set(this, v); },
      });
    }
    const errors = [];
    const attempt = (label, thunk) => {
      try {
        thunk();
        append(errors, [label, null]);
      } catch (error) {
        append(errors, [label, error, Object.getOwnPropertyDescriptor(error, 'code')?.value]);
      }
    };
    try {
      attempt('new Heap({ name: 5 })', () => new this.rh.Heap({ name: 5, publish: false }));
      attempt('new Heap({ thresholds: [-1] })', () => new this.rh.Heap({ thresholds: [-1], publish: false }));
      attempt('defineType("x", 5)', () => H.heap.defineType('x', 5));
      attempt('alloc("8")', () => H.heap.alloc('8'));
      attempt('alloc(-1)', () => H.heap.alloc(-1));
      attempt('release(0.5)', () => H.heap.release(0.5));
      attempt('releaseMany([0.5])', () => H.heap.releaseMany([0.5]));
    } finally {
      delete Object.prototype.code;
      delete Object.prototype.index;
    }
    this.note(`Object.prototype.code accessor ran ${ran} time(s)`);
    const want = { 'new Heap({ name: 5 })': TYPE, 'new Heap({ thresholds: [-1] })': RANGE, 'defineType("x", 5)': TYPE, 'alloc("8")': TYPE, 'alloc(-1)': RANGE, 'release(0.5)': BADREF, 'releaseMany([0.5])': BADREF };
    for (const [label, error, code] of errors) {
      if (error === null) this.finding('no-error', `${label} under an Object.prototype.code accessor did not throw`);
      // A getter this fuzzer put on Object.prototype ("thresholds", say) threw first, on purpose.
      else if (error instanceof GetterSentinel) continue;
      else if (code !== want[label]) this.finding('bad-error', `${label} under an Object.prototype "code" accessor threw a ${error.name} whose own code is ${show(code)}, expected ${want[label]} (the accessor's setter ran instead)`);
    }
  }

  /** One action near the stack limit: finalizers and callbacks that cannot be called must be retried or reported, nothing lost. */
  deepStep() {
    const H = this.pick(this.openHeaps());
    if (H === undefined) return;
    const at = (n, thunk) => (n > 0 ? at(n - 1, thunk) : thunk());
    if (this.maxAt === undefined) {
      // How deep `at` itself can go: the largest n for which at(n) reaches its thunk.
      let lo = 0;
      let hi = 1 << 20;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        let reached = false;
        try {
          at(mid, () => (reached = true));
        } catch {}
        if (reached) lo = mid;
        else hi = mid - 1;
      }
      this.maxAt = lo;
    }
    // Leave between 0 and ~120 KiB of stack (984 KiB in all) for the action.
    const framesPerKiB = this.maxAt / 984;
    const back = Math.floor(this.rand() * this.rand() * 120 * framesPerKiB);
    const target = Math.max(0, this.maxAt - back);
    this.note(`deep step at ${target} of ${this.maxAt} frames`);
    this.totals.deepSteps++;
    this.deep = true;
    this.wasDeep = true;
    // The refheap:gc:start/stop subscribers stay: refheap publishes only where a subscriber has room to run
    // (else later, from a fresh stack), so a subscriber's overflow never becomes an uncaught exception.
    const thunk = () => {
      this.budget = 10;
      this.action(H, {});
    };
    try {
      at(target, thunk);
    } catch (error) {
      if (isStackOverflow(error)) this.totals.deepEscapes++;
      else if (!(error instanceof FuzzSentinel)) this.finding('fuzzer-bug', `deep step threw ${error?.stack ?? show(error)}`);
    } finally {
      this.deep = false;
      this.depth = 0;
      this.lateTick = this.tickNo;
    }
    this.resync();
  }

  /**
   * After a deep step: a call may have done its work and the fuzzer's
   * bookkeeping after it run out of stack. Counts are safe (taken after a
   * call succeeds, given back before it is made: at worst a leak); the rest
   * of the model is read back from the heaps.
   */
  resync() {
    const closed = (H) => {
      if (!H.heap.closed || H.closed) return H.closed;
      H.closed = true;
      for (const ref of H.held.list) this.markDead(ref, H);
      H.held.clear();
      H.views = [];
      return true;
    };
    for (const H of this.heaps) {
      if (closed(H)) continue;
      // (Each call may first run a finalizer that could not be called in the deep step: which may close the heap.)
      try {
        const gc = H.heap.gc;
        H.thresholds = gc.getThreshold().slice();
        H.debug = gc.getDebug();
        H.debugSets++;
        H.enabled = gc.isEnabled();
        for (let id = Math.max(...H.types.map((t) => t.id)) + 1; id <= 255; id++) {
          let name;
          try {
            name = H.heap.typeName(id);
          } catch (error) {
            if (error?.code === CLOSED) throw error;
            break;
          }
          append(H.types, { id, name, finalize: false, uncollectable: false });
        }
      } catch (error) {
        if (error?.code !== CLOSED) this.finding('fuzzer-bug', `resync: ${error?.stack ?? show(error)}`);
        closed(H);
      }
    }
  }
}

Fuzzer.ACTIONS = [
  ['alloc', 12],
  ['allocMany', 3],
  ['retain', 5],
  ['release', 10],
  ['releaseMany', 5],
  ['refcount', 3],
  ['setRef', 10],
  ['getRef', 4],
  ['shape', 3],
  ['write', 3],
  ['read', 2],
  ['scalar', 6],
  ['view', 2],
  ['typeName', 1],
  ['defineType', 1.5],
  ['manyTypes', 0.1],
  ['trim', 1],
  ['stats', 2],
  ['close', 0.4],
  ['newHeap', 0.6],
  ['collect', 5],
  ['enable', 1],
  ['getCount', 1],
  ['threshold', 1.5],
  ['debug', 1.5],
  ['garbage', 1.5],
  ['clearGarbage', 1],
  ['getObjects', 1.5],
  ['related', 2],
  ['freeze', 1],
  ['callbacks', 1],
  ['debugOutput', 0.5],
  ['garbageGraph', 6],
  ['chain', 0.3],
  ['verify', 0.7],
  ['failMapping', 0.3],
  ['foreign', 1.5],
  ['dead', 1.5],
  ['protoCode', 0.3],
  ['abandon', 0.15],
];
Fuzzer.ACTION_WEIGHT = Fuzzer.ACTIONS.reduce((sum, [, w]) => sum + w, 0);

// -------------------------------------------------------------- child mode

async function child(args) {
  let statsDir;
  if (!process.env.REFHEAP_STATS_DIR) {
    statsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-fuzz-stats-'));
    process.env.REFHEAP_STATS_DIR = statsDir;
    process.on('exit', () => fs.rmSync(statsDir, { recursive: true, force: true }));
  }
  // Node's nextTick queue is an array with holes at first: an accessor a
  // program puts on Array.prototype would catch its writes. Fill it once.
  for (let i = 0; i < 64; i++) await new Promise((resolve) => process.nextTick(resolve));
  const refheap = require(ROOT);
  const fz = new Fuzzer(refheap, { trace: args.trace, hostile: args.hostile, enable: args.enable, breakCheck: args.breakCheck, deepRate: args.deepRate, stacks: process.env.REFHEAP_JS_FUZZ_STACKS === '1' });
  // (No stats() here before the programs: lib/stats.ts caches how to build
  // HeapStats at the first call, which may be made under accessors.)
  const write = (obj) => fs.writeSync(1, JSON.stringify(obj) + '\n');
  const started = Date.now();
  for (let i = 0; i < args.programs; i++) {
    const seed = (args.seed + i) >>> 0;
    const t0 = Date.now();
    const calls0 = fz.totals.calls;
    const steps0 = fz.totals.steps;
    write({ t: 'start', seed });
    if (args.selfCrash && i === 1) process.kill(process.pid, 'SIGSEGV'); // --self-crash: how a crash is reported
    try {
      await fz.runProgram(seed);
    } catch (error) {
      fz.finding('fuzzer-bug', `runProgram threw ${error?.stack ?? show(error)}`);
    }
    if (fz.findings.length > 0) {
      write({ t: 'finding', seed, findings: fz.findings, trace: fz.trace.ordered() });
      process.exitCode = 3;
      return;
    }
    write({ t: 'done', seed, steps: fz.totals.steps - steps0, calls: fz.totals.calls - calls0, ms: Date.now() - t0 });
  }
  write({ t: 'summary', ...fz.totals, by: Object.fromEntries(fz.callsBy), ms: Date.now() - started });
}

// ------------------------------------------------------------- runner mode

function childArgs(args, seed, programs, extra = []) {
  const list = ['--expose-gc', '--no-warnings', __filename, '--child', '--seed', String(seed), '--programs', String(programs)];
  if (args.enable.length > 0) append(list, '--enable'), append(list, args.enable.join(','));
  if (args.hostile) append(list, '--hostile');
  if (args.breakCheck) append(list, '--break');
  if (args.selfCrash) append(list, '--self-crash');
  if (args.deepRate !== undefined) append(list, '--deep-rate'), append(list, String(args.deepRate));
  for (const x of extra) append(list, x);
  return list;
}

/** Runs one batch in a child; resolves with { programs, steps, calls, failure? }. */
function runBatch(args, seed, programs, timeoutMs) {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, childArgs(args, seed, programs), {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let out = '';
    let err = '';
    let lastStart = seed;
    const result = { seed, programs: 0, steps: 0, calls: 0, finalizers: 0, callbacks: 0, collections: 0 };
    proc.stdout.on('data', (chunk) => {
      out += chunk;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        let msg;
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.t === 'start') lastStart = msg.seed;
        else if (msg.t === 'done') {
          result.programs++;
          result.steps += msg.steps;
          result.calls += msg.calls;
        } else if (msg.t === 'finding') result.failure = { kind: 'finding', seed: msg.seed, findings: msg.findings, trace: msg.trace };
        else if (msg.t === 'summary') Object.assign(result, { finalizers: msg.finalizers, callbacks: msg.callbacks, collections: msg.collections, by: msg.by });
      }
    });
    proc.stderr.on('data', (chunk) => {
      err += chunk;
      if (err.length > 200000) err = err.slice(-100000);
    });
    const timer = setTimeout(() => {
      result.failure ??= { kind: 'hang', seed: lastStart, message: `no exit after ${timeoutMs} ms` };
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (!result.failure && (code !== 0 || signal !== null)) {
        result.failure = { kind: signal ? 'crash' : 'exit', seed: lastStart, message: `child ${signal ? 'killed by ' + signal : 'exited with ' + code}`, stderr: err.slice(-4000) };
      }
      if (result.failure) {
        result.failure.batch = { seed, programs };
        result.failure.stderr ??= err.slice(-4000);
      }
      resolve(result);
    });
  });
}

function replayCommand(args, seed) {
  const parts = ['node', '--expose-gc', 'scripts/fuzz-js.js', '--child', '--seed', String(seed), '--programs', '1', '--trace'];
  if (args.enable.length > 0) parts.push('--enable', args.enable.join(','));
  if (args.hostile) parts.push('--hostile');
  return parts.join(' ');
}

function formatFailure(args, f) {
  const lines = [];
  lines.push(`FAILURE (${f.kind}) in program seed ${f.seed} (batch --seed ${f.batch?.seed} --programs ${f.batch?.programs})`);
  if (f.message) lines.push(`  ${f.message}`);
  for (const x of f.findings ?? []) lines.push(`  [${x.kind}] step ${x.step}, depth ${x.depth}: ${x.message}`);
  if (f.trace) {
    lines.push('  last calls:');
    for (const t of f.trace.slice(-80)) lines.push(`    ${t}`);
  }
  if (f.stderr && f.kind !== 'finding') lines.push('  stderr:', f.stderr.split('\n').slice(-30).map((l) => '    ' + l).join('\n'));
  lines.push(`  replay: ${replayCommand(args, f.seed)}`);
  lines.push(`  replay the whole batch: node --expose-gc scripts/fuzz-js.js --child --seed ${f.batch?.seed} --programs ${f.batch?.programs}${args.enable.length ? ' --enable ' + args.enable.join(',') : ''}${args.hostile ? ' --hostile' : ''}`);
  return lines.join('\n');
}

async function runner(args) {
  const deadline = args.seconds > 0 ? Date.now() + args.seconds * 1000 : Infinity;
  let nextSeed = args.seed;
  const totals = { programs: 0, steps: 0, calls: 0, finalizers: 0, callbacks: 0, collections: 0, batches: 0, by: {} };
  const started = Date.now();
  let failure = null;
  let stop = false;
  process.on('SIGINT', () => {
    stop = true;
    console.log('\nstopping after the running batches...');
  });
  let lastReport = 0;
  const report = (final = false) => {
    const s = (Date.now() - started) / 1000;
    const line = `${s.toFixed(0)}s: ${totals.programs} programs, ${totals.steps} steps, ${totals.calls} calls ` +
      `(${(totals.programs / s).toFixed(1)} programs/s, ${(totals.steps / s).toFixed(0)} steps/s, ${(totals.calls / s).toFixed(0)} calls/s); ` +
      `${totals.finalizers} finalizers, ${totals.callbacks} gc callbacks, ${totals.collections} collections; next seed ${nextSeed}`;
    if (final && args.json) console.log(JSON.stringify({ ...totals, seconds: s, failure }));
    else console.log(line);
    if (final && !args.json) {
      const by = Object.entries(totals.by).sort((a, b) => b[1] - a[1]);
      console.log(`calls by API member (${by.length}): ${by.map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
  };
  const worker = async () => {
    while (!stop && failure === null && Date.now() < deadline) {
      const seed = nextSeed;
      nextSeed = (nextSeed + args.batch) >>> 0;
      const r = await runBatch(args, seed, args.batch, args.timeoutMs);
      totals.batches++;
      for (const k of ['programs', 'steps', 'calls', 'finalizers', 'callbacks', 'collections']) totals[k] += r[k] ?? 0;
      for (const [k, v] of Object.entries(r.by ?? {})) totals.by[k] = (totals.by[k] ?? 0) + v;
      if (r.failure && failure === null) failure = r.failure;
      if (Date.now() - lastReport > 10000) {
        lastReport = Date.now();
        report();
      }
    }
  };
  const workers = [];
  for (let i = 0; i < args.jobs; i++) append(workers, worker());
  await Promise.all(workers);
  report(true);
  if (failure !== null) {
    console.log(formatFailure(args, failure));
    process.exitCode = 1;
  }
}

function parseArgs(argv) {
  const args = { child: false, seed: undefined, programs: 1, seconds: 0, jobs: 1, batch: 25, enable: [], hostile: false, trace: false, breakCheck: false, json: false, timeoutMs: 120000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--child': args.child = true; break;
      case '--seed': args.seed = Number(value()) >>> 0; break;
      case '--programs': args.programs = Number(value()); break;
      case '--seconds': args.seconds = Number(value()); break;
      case '--jobs': args.jobs = Number(value()); break;
      case '--batch': args.batch = Number(value()); break;
      case '--enable': args.enable = value().split(',').filter(Boolean); break;
      case '--hostile': args.hostile = true; break;
      case '--trace': args.trace = true; break;
      case '--break': args.breakCheck = true; break;
      case '--self-crash': args.selfCrash = true; break;
      case '--deep-rate': args.deepRate = Number(value()); break;
      case '--json': args.json = true; break;
      case '--timeout-ms': args.timeoutMs = Number(value()); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  for (const f of args.enable) if (!(f in FLAGS)) usage(`unknown flag ${f} (known: ${Object.keys(FLAGS).join(', ')})`);
  if (args.seed === undefined) args.seed = args.child ? 1 : (Date.now() ^ (process.pid << 16)) >>> 0;
  return args;
}

function usage(problem) {
  if (problem) console.error(problem);
  console.error(`usage: node scripts/fuzz-js.js [--seconds N] [--jobs J] [--seed S] [--batch K] [--enable ${Object.keys(FLAGS).join(',')}] [--hostile] [--json]
       node scripts/fuzz-js.js --child --seed S [--programs N] [--trace] [--enable ...] [--hostile] [--break]`);
  process.exit(2);
}

module.exports = { runBatch, formatFailure, replayCommand, FLAGS };

if (require.main === module) {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) child(args);
  else runner(args);
}
