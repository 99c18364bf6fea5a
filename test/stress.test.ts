import { describe, expect, it } from 'vitest';
import { runStress, STRESS_SHAPES } from '../lib/stress';

describe('stress workload', () => {
  it.each(STRESS_SHAPES)('%s: builds and drops graphs with every check passing', (shape) => {
    const report = runStress({ blocks: 2000, shape, seconds: 0.2 });
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.rounds).toBeGreaterThan(0);
    expect(report.blocksAllocated).toBe(report.rounds * 2000);
    expect(report.invariantChecks).toBeGreaterThan(0);
    expect(report.mappedBytesAfter).toBeLessThanOrEqual(2 ** 20);
  });

  it('reports a heap limit it cannot stay under as a failure, not a crash', () => {
    const report = runStress({ blocks: 100_000, shape: 'tree', seconds: 0.2, maxBytes: 2 ** 20 });
    expect(report.ok).toBe(false);
    expect(report.problem).toMatch(/maxBytes/);
  });
});
