/**
 * Worker threads (SPEC section 8): a heap belongs to the thread that created
 * it, refs do not cross heaps, and a thread's heaps are closed when it exits,
 * however it exits. The workers load the built package, as users' would.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { Heap, RefheapError } from '../lib/index';
import { expectBuilt, expectExit, lastJson, requireBuilt, ROOT, runNode } from './child';
import { expectConsistent, expectError, rssBytes } from './helpers';

const MiB = 1024 * 1024;

/** Starts a worker on `source` (CommonJS, with `refheap` and `parentPort` in scope). */
function startWorker(source: string, workerData?: unknown): Worker {
  const prelude = `${requireBuilt()} const { parentPort, workerData } = require('node:worker_threads');\n`;
  return new Worker(prelude + source, { eval: true, workerData, stdout: false, stderr: false });
}

/** Resolves once the worker has exited, with its messages, exit code and uncaught error (if any). */
function runWorker(worker: Worker): Promise<{ messages: any[]; code: number; error?: string }> {
  const messages: any[] = [];
  let error: string | undefined;
  worker.on('message', (m) => messages.push(m));
  worker.on('error', (e) => (error = e.message));
  return new Promise((resolve) => {
    worker.on('exit', (code) => resolve(error === undefined ? { messages, code } : { messages, code, error }));
  });
}

function nextMessage(worker: Worker): Promise<any> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('worker threads', () => {
  beforeAll(expectBuilt);

  it('several workers at once each use a heap of their own and report its stats', async () => {
    const workerSource = `
      const { Heap } = refheap;
      const { seed, count } = workerData;
      const heap = new Heap({ name: 'worker-' + seed });
      const refs = [];
      // Sizes across the small classes and past them into large blocks.
      for (let i = 0; i < count; i++) {
        const size = (i * 37 + seed) % 700;
        const ref = heap.alloc(size, i % 3);
        if (size >= 4) heap.setUint32(ref, 0, (i * 2654435761 + seed) >>> 0);
        if (size >= 8) heap.setUint8(ref, size - 1, (i + seed) & 0xff);
        refs.push(ref);
      }
      // Chains through slots: block i holds block i - 1.
      for (let i = 1; i < count; i++) if (heap.slotCount(refs[i]) > 0) heap.setRef(refs[i], 0, refs[i - 1]);
      let bad = 0;
      for (let i = 0; i < count; i++) {
        const size = (i * 37 + seed) % 700;
        if (heap.sizeOf(refs[i]) !== size) bad++;
        if (size >= 4 && heap.getUint32(refs[i], 0) !== ((i * 2654435761 + seed) >>> 0)) bad++;
        if (size >= 8 && heap.getUint8(refs[i], size - 1) !== ((i + seed) & 0xff)) bad++;
        if (heap.slotCount(refs[i]) > 0 && i > 0 && heap.getRef(refs[i], 0) !== refs[i - 1]) bad++;
      }
      const live = heap.stats();
      const verifyLive = heap._verify();
      heap.releaseMany(refs);
      const after = heap.stats();
      parentPort.postMessage({
        id: heap.id, name: live.name, bad, verifyLive, verifyAfter: heap._verify(),
        live: { liveBlocks: live.liveBlocks, mappedBytes: live.mappedBytes, allocations: live.allocations, largeBlocks: live.largeBlocks.count },
        after: { liveBlocks: after.liveBlocks, allocatedBytes: after.allocatedBytes, frees: after.frees },
      });
      heap.close();
    `;
    const count = 20_000;
    const own = new Heap();
    const ownRef = own.alloc(16);
    const runs = await Promise.all([1, 2, 3, 4].map((seed) => runWorker(startWorker(workerSource, { seed, count }))));
    const reports = runs.map((run) => {
      expect(run.code).toBe(0);
      expect(run.messages).toHaveLength(1);
      return run.messages[0];
    });
    for (const [i, report] of reports.entries()) {
      expect(report.name).toBe(`worker-${i + 1}`);
      expect(report.bad).toBe(0);
      expect(report.verifyLive).toBe('');
      expect(report.verifyAfter).toBe('');
      expect(report.live.liveBlocks).toBe(count);
      expect(report.live.allocations).toBe(count);
      expect(report.live.mappedBytes).toBeGreaterThan(count * 16);
      expect(report.live.largeBlocks).toBeGreaterThan(0);
      // The chains freed with their heads: nothing left behind.
      expect(report.after.liveBlocks).toBe(0);
      expect(report.after.allocatedBytes).toBe(0);
      expect(report.after.frees).toBe(count);
    }
    const ids = [own.id, ...reports.map((r) => r.id)];
    expect(new Set(ids).size).toBe(ids.length);
    // The main thread's heap was not disturbed by four others working at once.
    expect(own.refcount(ownRef)).toBe(1);
    expectConsistent(own);
    own.close();
  });

  it('a ref from a heap in one thread is invalid in a heap of another', async () => {
    const heap = new Heap();
    const mine = heap.alloc(24, 1);
    heap.setUint32(mine, 0, 0xfeed);
    const worker = startWorker(`
      const { Heap, RefheapError } = refheap;
      const heap = new Heap();
      const theirs = heap.alloc(24, 1);
      const attempt = (fn) => { try { fn(); return 'no error'; } catch (e) { return (e instanceof RefheapError ? '' : 'not a RefheapError: ') + e.code; } };
      parentPort.on('message', ({ ref, done }) => {
        if (done) { heap.close(); parentPort.close(); return; }
        parentPort.postMessage({
          theirs,
          refcount: attempt(() => heap.refcount(ref)),
          release: attempt(() => heap.release(ref)),
          setRef: attempt(() => heap.setRef(theirs, 0, ref)),
          read: attempt(() => heap.read(ref)),
          ownStillValid: heap.refcount(theirs) === 1 && heap.getRef(theirs, 0) === null,
          verify: heap._verify(),
        });
      });
    `);
    const exited = runWorker(worker);
    const replied = nextMessage(worker);
    worker.postMessage({ ref: mine });
    const reply = await replied;
    expect(reply).toMatchObject({
      refcount: 'ERR_INVALID_REF',
      release: 'ERR_INVALID_REF',
      setRef: 'ERR_INVALID_REF',
      read: 'ERR_INVALID_REF',
      ownStillValid: true,
      verify: '',
    });
    // And the other way round, while the worker's heap is alive.
    expectError(() => heap.refcount(reply.theirs), RefheapError, 'ERR_INVALID_REF');
    expectError(() => heap.setRef(mine, 0, reply.theirs), RefheapError, 'ERR_INVALID_REF');
    worker.postMessage({ done: true });
    expect((await exited).code).toBe(0);
    // After the worker has gone its ref names nothing at all.
    expectError(() => heap.release(reply.theirs), RefheapError, 'ERR_INVALID_REF');
    expect(heap.refcount(mine)).toBe(1);
    expect(heap.getUint32(mine, 0)).toBe(0xfeed);
    expect(heap.getRef(mine, 0)).toBeNull();
    expectConsistent(heap);
    heap.close();
  });

  it('a view sent to another thread arrives as a copy; the block stays where it is', async () => {
    const heap = new Heap();
    const ref = heap.alloc(600);
    const view = heap.view(ref);
    view.fill(7);
    const worker = startWorker(`
      parentPort.once('message', (copy) => {
        const before = copy[0];
        copy.fill(1);  // its own copy: the parent's block must not change
        parentPort.postMessage({ before, length: copy.length, isUint8Array: copy instanceof Uint8Array });
      });
    `);
    const exited = runWorker(worker);
    const replied = nextMessage(worker);
    // Listing the buffer for transfer must not move the block's memory away
    // (Node copies or refuses an untransferable buffer).
    try {
      worker.postMessage(view, [view.buffer]);
    } catch {
      worker.postMessage(view);
    }
    expect(await replied).toEqual({ before: 7, length: 600, isUint8Array: true });
    expect((await exited).code).toBe(0);
    expect(view.byteLength).toBe(600);
    expect(heap.getUint8(ref, 599)).toBe(7);
    expect(heap.refcount(ref)).toBe(2);
    expectConsistent(heap);
    heap.close();
  });

  it('a worker started by a worker has heaps of its own, closed when it exits', async () => {
    const worker = startWorker(`
      const { Worker } = require('node:worker_threads');
      const { Heap } = refheap;
      const heap = new Heap();
      const ref = heap.alloc(32, 1);
      heap.setUint32(ref, 0, 1234);
      const inner = new Worker(${JSON.stringify(requireBuilt())} + \`
        const { parentPort } = require('node:worker_threads');
        const heap = new refheap.Heap();
        const view = heap.view(heap.alloc(${MiB}));
        view.fill(3);
        parentPort.postMessage(heap.id);
        process.exit(0);  // without close(), with a view alive
      \`, { eval: true });
      let innerId;
      inner.on('message', (id) => (innerId = id));
      inner.on('exit', (code) => {
        parentPort.postMessage({ code, innerId, outerId: heap.id, value: heap.getUint32(ref, 0), verify: heap._verify() });
        heap.close();
      });
    `);
    const own = new Heap();
    const { messages, code } = await runWorker(worker);
    expect(code).toBe(0);
    expect(messages).toHaveLength(1);
    const report = messages[0];
    expect(report).toMatchObject({ code: 0, value: 1234, verify: '' });
    expect(new Set([own.id, report.innerId, report.outerId]).size).toBe(3);
    own.close();
  });

  it('terminating a worker in the middle of a tight allocation loop does not crash the process', () => {
    // In a child process, so that a crash shows as its signal rather than
    // as vitest's fork dying ("Worker exited unexpectedly"). Every kind of
    // call, the failing ones too, so that termination lands in any of them
    // (it once aborted in an error being built); test/termination.test.ts
    // does this for each member on its own, many times over.
    const loop = `
      const { Heap } = refheap;
      const { parentPort } = require('node:worker_threads');
      const heap = new Heap();
      const node = heap.defineType('node');
      const keep = [];
      let n = 0;
      parentPort.postMessage('ready');
      for (;;) {
        const a = heap.alloc(n % 900, 2, n & 1 ? node : 0);
        const b = heap.alloc(40, 1);
        heap.setRef(a, 0, b);
        heap.setRef(b, 0, a);  // a cycle: never freed until the heap goes
        heap.release(b);
        const many = heap.allocMany(64, n % 300);
        const v = heap.view(a);
        if (v.length > 0) v[0] = n & 0xff;
        heap.write(a, 0, heap.read(a, 0, Math.min(8, v.length)));
        heap.releaseMany(many);
        try { heap.refcount(-1); } catch {}
        try { heap.releaseMany([a, 1.5]); } catch { heap.retain(a); }
        try { heap.alloc('x'); } catch {}
        try { heap.read(a, 1e9); } catch {}
        try { heap.setRef(a, 0, 12345); } catch {}
        if (v.length >= 8) { heap.setBigInt64(a, 0, 5n); heap.getBigInt64(a, 0); heap.getFloat64(a, 0); }
        if (n % 50 === 0) { heap.stats(); heap.debugMallocStats(); heap.typeName(node); heap.trim(); }
        if (n % 500 === 0) { const other = new Heap(); other.view(other.alloc(10)); if (n % 1000 === 0) other.close(); }
        if (n % 3 === 0) keep.push(a); else heap.release(a);
        if (keep.length > 2000) heap.releaseMany(keep.splice(0, 1000));
        n++;
      }
    `;
    const result = runNode(`
      ${requireBuilt()}
      const { Worker } = require('node:worker_threads');
      const pageSize = require(${JSON.stringify(path.join(ROOT, 'dist', 'native.js'))}).layout.osPageSize;
      const rss = () => Number(require('fs').readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * pageSize;
      const heap = new refheap.Heap();
      const ref = heap.alloc(64, 2);
      const rssStart = rss();
      (async () => {
        const codes = [];
        for (let round = 0; round < 10; round++) {
          const worker = new Worker(${JSON.stringify(requireBuilt())} + ${JSON.stringify(loop)}, { eval: true });
          const exited = new Promise((resolve) => worker.on('exit', resolve));
          await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
          await new Promise((resolve) => setTimeout(resolve, (round * 7) % 23));
          await worker.terminate();
          codes.push(await exited);
        }
        // The parent is healthy and its own heap untouched.
        const before = heap.refcount(ref);
        const other = heap.alloc(1000);
        heap.setRef(ref, 1, other);
        heap.release(other);
        console.log(JSON.stringify({ codes, before, other: heap.refcount(other), verify: heap._verify(), grown: rss() - rssStart }));
        heap.close();
      })();
    `, { timeoutMs: 60_000, flags: ['--no-concurrent-array-buffer-sweeping'] });  // Node's own race: see termination.test.ts
    expectExit(result, 0);
    const report = lastJson(result);
    expect(report).toMatchObject({ codes: Array(10).fill(1), before: 1, other: 1, verify: '' });
    // Ten abandoned heaps, each with cycles: their memory went with their threads.
    expect(report.grown).toBeLessThan(64 * MiB);
  });

  it('a worker terminated while it creates heaps ends cleanly', () => {
    // Creating a heap makes some 60 functions; Node-API refuses them once
    // termination begins, which must end the call, not the process. In a
    // child process, so that an abort shows as one, not as a lost test run.
    const result = runNode(`
      const { Worker } = require('node:worker_threads');
      (async () => {
        for (let i = 0; i < 60; i++) {
          const worker = new Worker(${JSON.stringify(requireBuilt())} +
            'for (;;) new refheap.Heap({ publish: ' + (i % 2 === 0) + ' }).close();', { eval: true });
          await new Promise((resolve) => setTimeout(resolve, 2 + ((i * 7) % 25)));
          await worker.terminate();
        }
        console.log('done');
      })();
    `, { timeoutMs: 60_000 });
    expectExit(result, 0);
    expect(result.stdout.trim()).toBe('done');
  });

  it('a worker that exits without closing its heaps gives their memory back', async () => {
    // The worker maps about 200 MiB, touches all of it, keeps views of some
    // of it, and exits without close(). The cleanup hook must unmap it.
    const before = rssBytes();
    const worker = startWorker(`
      const { Heap } = refheap;
      const small = new Heap();
      small.allocMany(200_000, 500);             // ~100 MiB in pools, zeroed (touched)
      const large = new Heap();
      const views = [];
      for (let i = 0; i < 100; i++) {
        const ref = large.alloc(${MiB});         // 100 large blocks of their own
        const view = large.view(ref);
        view.fill(i + 1);                        // the OS hands them out untouched
        if (i % 2 === 0) views.push(view); else large.release(ref);  // half held only by views
      }
      const mapped = small.stats().mappedBytes + large.stats().mappedBytes;
      parentPort.postMessage({ mapped, sample: views[7][12345] });
      parentPort.once('message', () => { globalThis.keep = views; process.exit(0); });
    `);
    const exited = runWorker(worker);
    const report = await nextMessage(worker);
    const peak = rssBytes();
    worker.postMessage('exit');
    expect((await exited).code).toBe(0);
    // The unmapping is done by the time the worker has exited; RSS can lag a little.
    const deadline = Date.now() + 10_000;
    while (rssBytes() - before >= 40 * MiB && Date.now() < deadline) await sleep(20);
    const after = rssBytes();
    expect(report.sample).toBe(15);
    expect(report.mapped).toBeGreaterThan(190 * MiB);
    expect(peak - before).toBeGreaterThan(150 * MiB);
    expect(after - before, `RSS before ${before}, peak ${peak}, after ${after}`).toBeLessThan(40 * MiB);
  });

  it('a worker can exit at any stage of its heaps\' lives', async () => {
    const stages: Record<string, string> = {
      created: `new Heap();`,
      blocks: `const h = new Heap(); const r = h.alloc(100, 2); h.setRef(r, 0, r); h.allocMany(1000, 64); h.alloc(${4 * MiB});`,
      views: `const h = new Heap(); globalThis.v = [h.view(h.alloc(10)), h.view(h.alloc(${MiB}))];`,
      closed: `const h = new Heap(); h.view(h.alloc(10)); h.close();`,
      unreachable: `(() => { const h = new Heap(); h.alloc(${MiB}); })();`,
    };
    const exits = ['', 'process.exit(3);', 'throw new Error("boom");'];
    const runs: Promise<{ stage: string; exit: string; code: number; error?: string }>[] = [];
    for (const [stage, body] of Object.entries(stages)) {
      for (const exit of exits) {
        const worker = startWorker(`const { Heap } = refheap; ${body} ${exit}`);
        runs.push(runWorker(worker).then(({ code, error }) => (error === undefined ? { stage, exit, code } : { stage, exit, code, error })));
      }
    }
    for (const run of await Promise.all(runs)) {
      if (run.exit === '') expect(run).toEqual({ stage: run.stage, exit: '', code: 0 });
      else if (run.exit.startsWith('process')) expect(run).toEqual({ stage: run.stage, exit: run.exit, code: 3 });
      else expect(run).toEqual({ stage: run.stage, exit: run.exit, code: 1, error: 'boom' });
    }
    // The main thread still allocates.
    using heap = new Heap();
    expect(heap.refcount(heap.alloc(8))).toBe(1);
  });
});
