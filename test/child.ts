/**
 * Helpers for tests that run refheap outside vitest's own process: child
 * processes and worker threads load the built package (dist/, what
 * `require('refheap')` resolves to), never the TypeScript source.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

/** The repository root: `require(ROOT)` loads the built package. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Fails early, with the fix, when the package has not been built. */
export function expectBuilt(): void {
  expect(existsSync(path.join(ROOT, 'dist', 'index.js')), 'dist/ is missing: run `npm run build`').toBe(true);
  expect(existsSync(path.join(ROOT, 'dist', 'index.mjs')), 'dist/index.mjs is missing: run `npm run build:ts`').toBe(true);
}

/** A line of source that loads the built package into `name` (default `refheap`). */
export function requireBuilt(name = 'refheap'): string {
  return `const ${name} = require(${JSON.stringify(ROOT)});`;
}

export interface ChildOptions {
  /** Extra node flags, e.g. ['--expose-gc']. */
  flags?: string[];
  /** Run the source as an ES module. */
  esm?: boolean;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs `source` in a fresh `node` and waits for it, bounded. */
export function runNode(source: string, options: ChildOptions = {}): SpawnSyncReturns<string> {
  const args = [...(options.flags ?? [])];
  if (options.esm) args.push('--input-type=module');
  args.push('-e', source);
  return spawnSync(process.execPath, args, {
    cwd: options.cwd ?? ROOT,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 30_000,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
}

/** What a native crash leaves on standard error. */
const CRASH_TEXT = /Segmentation fault|Aborted|core dumped|AddressSanitizer|LeakSanitizer|FATAL ERROR|Fatal error|double free|free\(\): |munmap_chunk|corrupted|Assertion .* failed|napi_/;

/** The child exited by itself with `code` (not by a signal, not a crash). */
export function expectExit(result: SpawnSyncReturns<string>, code: number): void {
  const context = `status ${result.status}, signal ${result.signal}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  expect(result.error, context).toBeUndefined();
  expect(result.signal, context).toBeNull();
  expect(result.status, context).toBe(code);
  expect(result.stderr, context).not.toMatch(CRASH_TEXT);
}

/** The last line of standard output, parsed as JSON (children report that way). */
export function lastJson<T = any>(result: SpawnSyncReturns<string>): T {
  const lines = result.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}
