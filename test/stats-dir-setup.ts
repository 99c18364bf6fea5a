/**
 * vitest global setup: every heap the tests create (in test processes and
 * their children) publishes its statistics page into a private temporary
 * directory, not into the user's /dev/shm/refheap-<uid>, and the directory
 * goes when the run ends (with whatever killed children left in it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'refheap-test-stats-'));
  process.env.REFHEAP_STATS_DIR = dir;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
