/**
 * worker.terminate() at any moment must not crash the process (issue 8).
 * Between terminate() and V8 stopping the worker's JavaScript, Node-API
 * refuses every call that could run JavaScript (creating an ArrayBuffer or
 * a function, reading a property, converting a value), and a binding that
 * does not expect it writes through a null pointer or aborts.
 *
 * For every member of the public API, a worker calls it in a tight loop and
 * is terminated at a random moment, REFHEAP_TERMINATION_ITERATIONS times
 * (default 200). The workers run in a child process, several at once, so
 * that a crash shows as the child's exit signal rather than killing vitest.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { expectBuilt, requireBuilt, ROOT } from './child';

const ITERATIONS = Number(process.env.REFHEAP_TERMINATION_ITERATIONS ?? 200);
const LANES = 3;  // workers at once per child: enough to keep two cores busy while others start and stop

/**
 * A member under test: `body` runs forever in the worker, after `setup`.
 * `load` cases have no loop: the worker is terminated while it starts and
 * loads the addon.
 */
interface Case {
  name: string;
  setup?: string;
  body?: string;
  load?: boolean;
}

/** What every worker has before its loop: a heap with cycles, garbage, finalizers, types and buffers. */
const PRELUDE = `
${requireBuilt()}
const { Heap, DEBUG_STATS, DEBUG_COLLECTABLE, DEBUG_UNCOLLECTABLE } = refheap;
const { parentPort } = require('node:worker_threads');
const heap = new Heap({ publish: false });
const Node = heap.defineType('node', { finalize(ref) { heap.refcount(ref); } });
const Keep = heap.defineType('keep', { uncollectable: true });
const cycle = (type) => {
  const x = heap.alloc(8, 1, type), y = heap.alloc(8, 1, type);
  heap.setRef(x, 0, y); heap.setRef(y, 0, x);
  heap.release(x); heap.release(y);
};
cycle(Keep);
heap.gc.collect();  // gc.garbage now holds the Keep cycle
for (let i = 0; i < 20; i++) { cycle(Node); cycle(0); }  // work for the next collection
const a = heap.alloc(64, 2), b = heap.alloc(64, 2), big = heap.alloc(4096);
heap.setRef(a, 0, b); heap.setRef(b, 0, a);
const bytes = new Uint8Array(16).fill(7);
const shared = new Uint8Array(new SharedArrayBuffer(16));
let n = 0;
`;

/** A `load` case's worker: loads the package and makes a heap, then ends. */
const LOADER = `${requireBuilt()} new refheap.Heap({ publish: false }).stats();`;

const blockCalls: Case[] = [
  { name: 'alloc', body: `heap.alloc(n++ % 700, n % 3);` },
  { name: 'allocMany', body: `heap.allocMany(64, n++ % 600, n % 2);` },
  { name: 'retain', body: `heap.retain(a);` },
  { name: 'release', body: `heap.retain(a); heap.release(a);` },
  { name: 'release, freeing a chain', body: `const x = heap.alloc(16, 1); heap.setRef(x, 0, heap.alloc(16)); heap.release(heap.getRef(x, 0)); heap.release(x);` },
  { name: 'releaseMany (array)', body: `heap.retain(a); heap.retain(b); heap.releaseMany([a, b]);` },
  { name: 'releaseMany (Float64Array)', body: `heap.releaseMany(heap.allocMany(32, 16));` },
  { name: 'refcount', body: `heap.refcount(a);` },
  { name: 'setRef', body: `heap.setRef(a, 1, n++ & 1 ? b : null);` },
  { name: 'getRef', body: `heap.getRef(a, 0);` },
  { name: 'slotCount', body: `heap.slotCount(a);` },
  { name: 'sizeOf', body: `heap.sizeOf(a);` },
  { name: 'typeOf', body: `heap.typeOf(a);` },
  { name: 'defineType', body: `try { heap.defineType('t' + n++, { finalize() {} }); } catch {}` },  // past 255 types: the error
  { name: 'typeName', body: `heap.typeName(Node);` },
];

const dataCalls: Case[] = [
  { name: 'getUint8 / setUint8', body: `heap.setUint8(a, 3, n++); heap.getUint8(a, 3);` },
  { name: 'getInt32 / setInt32', body: `heap.setInt32(a, 4, -n++); heap.getInt32(a, 4);` },
  { name: 'getUint32 / setUint32', body: `heap.setUint32(a, 8, n++); heap.getUint32(a, 8);` },
  { name: 'getFloat64 / setFloat64', body: `heap.setFloat64(a, 16, n++ / 3); heap.getFloat64(a, 16);` },
  { name: 'getBigInt64 / setBigInt64', body: `heap.setBigInt64(a, 24, BigInt(n++)); heap.getBigInt64(a, 24);` },
  { name: 'write', body: `heap.write(a, n++ % 48, bytes);` },
  { name: 'write (SharedArrayBuffer, DataView)', body: `heap.write(a, 0, shared); heap.write(a, 0, new DataView(shared.buffer));` },
  { name: 'read', body: `heap.read(a); heap.read(big, 100, 1000);` },
  { name: 'view', body: `heap.view(n++ & 1 ? a : big)[0] = n & 0xff;` },
];

const collectorCalls: Case[] = [
  { name: 'gc.enable / gc.disable', body: `heap.gc.enable(); heap.gc.disable();` },
  { name: 'gc.isEnabled', body: `heap.gc.isEnabled();` },
  { name: 'gc.collect, running finalizers', body: `cycle(Node); cycle(0); heap.gc.collect(n++ % 3);` },
  { name: 'gc.getCount', body: `heap.gc.getCount();` },
  { name: 'gc.getThreshold / gc.setThreshold', body: `heap.gc.setThreshold(700, n++ % 20, 10); heap.gc.getThreshold();` },
  { name: 'gc.getDebug / gc.setDebug', body: `heap.gc.setDebug(n++ % 64); heap.gc.getDebug();` },
  { name: 'gc.garbage', body: `heap.gc.garbage;` },
  { name: 'gc.clearGarbage', setup: `const keep = new Heap({ publish: false }); const K = keep.defineType('k', { uncollectable: true });`,
    body: `const x = keep.alloc(8, 1, K); keep.setRef(x, 0, x); keep.release(x); keep.gc.collect(); keep.gc.clearGarbage();` },
  { name: 'gc.getObjects', body: `heap.gc.getObjects(); heap.gc.getObjects(n++ % 3);` },
  { name: 'gc.getReferrers', body: `heap.gc.getReferrers(a, b);` },
  { name: 'gc.getReferents', body: `heap.gc.getReferents(a, b);` },
  { name: 'gc.isTracked / gc.isFinalized', body: `heap.gc.isTracked(a); heap.gc.isFinalized(a);` },
  { name: 'gc.freeze / gc.unfreeze / gc.getFreezeCount', body: `heap.gc.freeze(); heap.gc.getFreezeCount(); heap.gc.unfreeze();` },
  { name: 'gc.getStats', body: `heap.gc.getStats();` },
  { name: 'gc.callbacks running', setup: `heap.gc.callbacks.push((phase, info) => { if (phase === 'stop') heap.gc.getCount(); });`,
    body: `cycle(0); heap.gc.collect(0);` },
  { name: 'gc.debugOutput running', setup: `heap.gc.setDebug(DEBUG_STATS | DEBUG_COLLECTABLE | DEBUG_UNCOLLECTABLE); heap.gc.debugOutput = (line) => line.length;`,
    body: `cycle(Node); heap.gc.collect();` },
  { name: 'finalizers running on release', body: `heap.release(heap.alloc(8, 0, Node));` },
  { name: 'automatic collection inside alloc', setup: `heap.gc.setThreshold(10);`, body: `cycle(Node);` },
  { name: 'the module gc (default heap)', body: `refheap.gc.collect(0); refheap.gc.getCount();` },
];

const lifecycleCalls: Case[] = [
  { name: 'loading the addon', load: true },
  { name: 'new Heap()', body: `new Heap({ publish: (n++ & 1) === 0, name: 'h' + n, thresholds: [100, 5, 5] });` },
  { name: 'close (with live views)', body: `const h = new Heap({ publish: n++ % 4 === 0 }); h.view(h.alloc(10)); h.view(h.alloc(1000)); h.close();` },
  { name: '[Symbol.dispose]', body: `const h = new Heap({ publish: false }); h.alloc(10, 1); h[Symbol.dispose]();` },
  { name: 'id / closed', body: `heap.id; heap.closed;` },
  { name: 'stats', body: `heap.stats();` },
  { name: 'debugMallocStats', body: `heap.debugMallocStats();` },
  { name: 'trim', body: `heap.release(heap.alloc(600)); heap.trim();` },
  { name: '_verify', body: `heap._verify();` },
];

// Each throw builds an error while the worker may be being terminated.
const errorPaths: Case[] = [
  { name: 'ERR_INVALID_REF (RefheapError)', body: `try { heap.refcount(12345); } catch {}` },
  { name: 'ERR_INVALID_REF with index (releaseMany)', body: `try { heap.releaseMany([heap.alloc(8), 1.5]); } catch {}` },
  { name: 'ERR_INVALID_ARG_TYPE', body: `try { heap.alloc('x'); } catch {} try { heap.releaseMany([1, 'x']); } catch {}` },
  { name: 'ERR_OUT_OF_RANGE', body: `try { heap.alloc(1.5); } catch {} try { heap.read(a, 1e9); } catch {}` },
  { name: 'ERR_HEAP_CLOSED', setup: `const closed = new Heap({ publish: false }); closed.close();`, body: `try { closed.alloc(8); } catch {} try { closed.stats(); } catch {}` },
  { name: 'ERR_HEAP_LIMIT', setup: `const small = new Heap({ publish: false, maxBytes: 1 << 20 });`, body: `try { small.alloc(1 << 21); } catch {}` },
];

/**
 * The child: runs every case ITERATIONS times, LANES workers at once, and
 * prints one JSON line: how many times each case ran, and what went wrong.
 */
const RUNNER = `
const { Worker } = require('node:worker_threads');
const { cases, iterations, lanes, prelude, loader } = JSON.parse(process.env.REFHEAP_TERMINATION_PLAN);
const ran = Object.fromEntries(cases.map((c) => [c.name, 0]));
const began = {};
const failures = [];
const jobs = cases.flatMap((c) => Array.from({ length: iterations }, () => c));

// A delay of up to 3 ms; below 1 ms (timers cannot) by spinning.
function pause(ms) {
  if (ms >= 1) return new Promise((resolve) => setTimeout(resolve, ms));
  const end = performance.now() + ms;
  while (performance.now() < end);
  return Promise.resolve();
}

function runOnce(c) {
  const source = c.load ? loader : prelude + (c.setup ?? '') +
    "\\nparentPort.postMessage('ready');\\nfor (;;) {\\n" + c.body + "\\n}";
  return new Promise((resolve) => {
    const worker = new Worker(source, { eval: true, stderr: true });
    let error, stderr = '';
    worker.stderr.on('data', (data) => { if (stderr.length < 4000) stderr += data; });
    worker.on('error', (e) => (error = e));
    const hang = setTimeout(() => { error = new Error('never became ready'); worker.terminate(); }, 30000);
    const stop = () => { clearTimeout(hang); pause(Math.random() * 3).then(() => worker.terminate()); };
    if (c.load) pause(Math.random() * 40).then(stop); else worker.once('message', stop);
    worker.on('exit', (code) => {
      clearTimeout(hang);
      ran[c.name]++;
      if (error) failures.push(c.name + ': ' + (error.stack ?? error) + (stderr ? '\\nstderr: ' + stderr : ''));
      else if (!c.load && code !== 1) failures.push(c.name + ': exit code ' + code + (stderr ? '\\nstderr: ' + stderr : ''));
      resolve();
    });
  });
}

(async () => {
  // Each case's name as its first run starts (and its time once all ended):
  // after a crash, the last names printed say which cases were running.
  const lane = async () => {
    for (let job; (job = jobs.shift()) !== undefined; ) {
      if (began[job.name] === undefined) console.log('> ' + job.name), (began[job.name] = Date.now());
      await runOnce(job);
      if (ran[job.name] === iterations) console.log('< ' + job.name + ' ' + (Date.now() - began[job.name]) + ' ms');
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  const cpu = process.cpuUsage();
  console.log(JSON.stringify({ ran, failures: failures.slice(0, 20), cpuMs: Math.round((cpu.user + cpu.system) / 1000) }));
})();
`;

/**
 * Node.js itself (20.20 at least) can crash when a worker that made external
 * ArrayBuffers (refheap's views) is terminated: Environment::RunCleanup
 * cleans each buffer's CallbackInfo while V8's concurrent sweeper, on
 * another thread, frees a dead buffer's backing store and with it that
 * CallbackInfo (SIGSEGV in CallbackInfo::Clean). A 20-line addon that only
 * makes external ArrayBuffers crashed that way too, once in 6,000
 * terminations (refheap's view case: twice in about 1,000). Sweeping array
 * buffers on the worker's own thread takes that race away (none in 6,000
 * and 7,200), so that a crash here is refheap's.
 */
const NODE_FLAGS = ['--no-concurrent-array-buffer-sweeping'];

/** Runs `cases` in a child; resolves with its exit and report. Kills it at `deadlineMs`. */
function runChild(cases: Case[], deadlineMs: number) {
  const plan = JSON.stringify({ cases, iterations: ITERATIONS, lanes: LANES, prelude: PRELUDE, loader: LOADER });
  const child = spawn(process.execPath, [...NODE_FLAGS, '-e', RUNNER], {
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: '', REFHEAP_TERMINATION_PLAN: plan },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data) => (stdout += data));
  child.stderr.on('data', (data) => (stderr += data));
  const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  return new Promise<{ signal: NodeJS.Signals | null; status: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ signal, status, stdout, stderr });
    });
  });
}

/** The child survived, every case ran ITERATIONS times, and no worker failed on its own. */
async function expectSurvives(cases: Case[]) {
  expectBuilt();
  const started = Date.now();
  const result = await runChild(cases, deadlineMs(cases));
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (process.env.REFHEAP_TERMINATION_VERBOSE) console.log(`${seconds}s\n${result.stdout}`);  // each case's time, CPU time
  const context = `after ${seconds}s: status ${result.status}, signal ${result.signal}\nstdout:\n${result.stdout.slice(-3000)}\nstderr:\n${result.stderr.slice(-6000)}`;
  expect(result.signal, context).toBeNull();
  expect(result.status, context).toBe(0);
  expect(result.stderr, context).not.toMatch(/FATAL ERROR|Segmentation fault|Aborted|napi_/);
  const report = JSON.parse(result.stdout.trim().split('\n').pop() as string) as { ran: Record<string, number>; failures: string[] };
  expect(report.failures, context).toEqual([]);
  expect(report.ran).toEqual(Object.fromEntries(cases.map((c) => [c.name, ITERATIONS])));
}

/**
 * A run (start a worker, load the package, loop, terminate) costs some
 * 40 ms of CPU, three quarters of it Node starting and stopping the worker:
 * about 20 ms of wall time on two idle cores. The deadline allows 250 ms a
 * run, for a machine busy with other work; past it the child is killed and
 * the test fails.
 */
const deadlineMs = (cases: Case[]) => 60_000 + (cases.length * ITERATIONS * 250) / LANES;
const timeout = (cases: Case[]) => deadlineMs(cases) + 30_000;

describe(`a worker terminated at a random moment, ${ITERATIONS} times per member, does not crash the process`, () => {
  it('in the block calls', () => expectSurvives(blockCalls), timeout(blockCalls));
  it('in the data calls', () => expectSurvives(dataCalls), timeout(dataCalls));
  it('in the collector calls, its finalizers and callbacks', () => expectSurvives(collectorCalls), timeout(collectorCalls));
  it('while it loads the addon, creates, publishes and closes heaps, and reads statistics', () =>
    expectSurvives(lifecycleCalls), timeout(lifecycleCalls));
  it('while it throws each kind of error', () => expectSurvives(errorPaths), timeout(errorPaths));
});
