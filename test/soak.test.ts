/**
 * The soak (scripts/soak.js), bounded: REFHEAP_SOAK_SECONDS (default 60) of
 * cycles at 0.25 GiB must end with every check passed and the RSS drift
 * measured (which takes six cycles: give it 30 s or more) and under 5 %; and
 * the drift check must catch a deliberate leak. The soak runs in a process
 * of its own, on the built package (dist/).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { expectBuilt, ROOT } from './child';

const SECONDS = Number(process.env.REFHEAP_SOAK_SECONDS ?? 60);
const LEAK_SECONDS = Math.max(20, Math.round(SECONDS / 3));

interface SoakResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the soak without blocking this process (vitest keeps its own clock). */
function soak(args: string[], timeoutMs: number): Promise<SoakResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/soak.js', ...args, '--json'], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

function summaryOf(result: SoakResult): any {
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

const context = (result: SoakResult) =>
  `status ${result.status}, signal ${result.signal}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr.slice(-4000)}`;

describe('soak', () => {
  it(`${SECONDS} s of cycles at 0.25 GiB: every check passes, RSS drift measured and under 5 %`, async () => {
    expectBuilt();
    expect(Number.isFinite(SECONDS) && SECONDS > 0, 'REFHEAP_SOAK_SECONDS must be a positive number').toBe(true);
    const result = await soak(['--seconds', String(SECONDS), '--gib', '0.25'], (SECONDS + 120) * 1000);
    expect(result.signal, context(result)).toBeNull();
    expect(result.status, context(result)).toBe(0);
    const summary = summaryOf(result);
    expect(summary.ok, context(result)).toBe(true);
    expect(summary.problem).toBeUndefined();
    expect(summary.driftProblem, context(result)).toBeUndefined();
    expect(summary.seconds).toBeGreaterThanOrEqual(SECONDS);
    expect(summary.completedCycles).toBeGreaterThanOrEqual(6); // 3 of warm-up, 3 to compare
    expect(summary.drift).toBeLessThanOrEqual(0.05);
    expect(summary.retained).toBeLessThanOrEqual(0.05);
    expect(summary.rssWarmup).toBeGreaterThan(0.25 * 2 ** 30); // the data really was resident
    expect(summary.blocksAllocated).toBeGreaterThan(summary.completedCycles * 300_000);
    expect(summary.collections).toBeGreaterThan(0);
    expect(summary.verifyChecks).toBeGreaterThanOrEqual(summary.cycles);
    expect(summary.samples).toBeGreaterThanOrEqual(SECONDS / 2); // one a second, when no single step takes longer
    expect(summary.finalized).toBeGreaterThan(0);
    expect(summary.garbageCleared).toBeGreaterThan(0);
    // the human summary: duration, cycles, blocks, collections, RSS at warm-up and end, drift, max pause
    expect(result.stdout).toMatch(/^soak: [\d.]+ s, \d+ cycles/m);
    expect(result.stdout).toMatch(/[\d,]+ blocks allocated, [\d,]+ collections/);
    expect(result.stdout).toMatch(/after warm-up .* at the end .* drift [+-][\d.]+ %/);
    expect(result.stdout).toMatch(/max pause [\d.]+ ms/);
    expect(result.stdout).toMatch(/^soak: every check passed$/m);
  }, (SECONDS + 150) * 1000);

  it('fails, with the figures, when the workload leaks (--leak-every 20, 0.05 GiB)', async () => {
    const result = await soak(['--seconds', String(LEAK_SECONDS), '--gib', '0.05', '--leak-every', '20'], (LEAK_SECONDS + 120) * 1000);
    expect(result.signal, context(result)).toBeNull();
    expect(result.status, context(result)).toBe(1);
    const summary = summaryOf(result);
    expect(summary.leaked).toBeGreaterThan(0);
    // the counters agree with what the workload holds (it counts its leak): only the RSS checks catch it
    expect(summary.problem, context(result)).toMatch(/^RSS (drifted|after teardown grew)/);
    expect(Math.max(summary.drift, summary.retained)).toBeGreaterThan(0.05);
    expect(result.stdout).toMatch(/^soak: FAILED: RSS/m);
  }, (LEAK_SECONDS + 150) * 1000);

  it('refuses bad arguments with exit status 2', async () => {
    const result = await soak(['--gib', 'lots'], 30_000);
    expect(result.status, context(result)).toBe(2);
    expect(result.stderr).toMatch(/--gib must be a positive number/);
  });
});
