import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = path.join(__dirname, '..', 'bin', 'refheap.js');
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('refheap stress', () => {
  it('runs each shape, checks the heap and reports as one JSON document', () => {
    const result = run('stress', '--blocks', '2000', '--seconds', '0.8', '--json');
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.ok).toBe(true);
    expect(report.reports.map((r: { shape: string }) => r.shape)).toEqual(['pairs', 'ring', 'tree', 'random']);
    for (const r of report.reports) {
      expect(r.rounds).toBeGreaterThan(0);
      expect(r.blocksAllocated).toBe(r.rounds * 2000);
      expect(r.invariantChecks).toBeGreaterThan(0);
      expect(r.rssBefore).toBeGreaterThan(0);
    }
    const cyclic = report.reports.filter((r: { shape: string }) => r.shape !== 'tree');
    for (const r of cyclic) expect(r.collected).toBeGreaterThan(0); // cycles were left to the collector
  });

  it('prints text without a progress bar when piped', () => {
    const result = run('stress', '--shape', 'ring', '--blocks', '1000', '--seconds', '0.2');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^ring: \d+ graphs of 1000 blocks/);
    expect(result.stdout).toMatch(/stress: every check passed/);
    expect(result.stderr).toBe('');
  });

  it('exits 1 when a check fails (a heap limit it cannot stay under)', () => {
    const result = run('stress', '--shape', 'tree', '--blocks', '100000', '--seconds', '0.2', '--max-bytes', '1048576', '--json');
    expect(result.status).toBe(1);
    expect(JSON.parse(result.stdout).reports[0].problem).toMatch(/maxBytes/);
  });

  it.each([
    [['stress', '--shape', 'cube']],
    [['stress', '--blocks', '-3']],
    [['stress', '--seconds', 'soon']],
    [['stress', '--bogus']],
    [['no-such-command']],
  ])('exits 2 on a usage error: %j', (args) => {
    const result = run(...args);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/error/);
  });

  it('--help exits 0', () => {
    const result = run('stress', '--help');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/--shape <shape>/);
  });
});
