/**
 * Where live statistics pages are kept (SPEC section 9), and the checks that
 * keep that place private: `$REFHEAP_STATS_DIR`, else `/dev/shm/refheap-<uid>`
 * (memory, never disk), else `<tmpdir>/refheap-<uid>` where there is no
 * `/dev/shm`. Writers and readers both insist on a real directory (not a
 * link) owned by the user with no access for anyone else.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function currentUid(): number | undefined {
  return process.getuid?.();
}

export function statsDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REFHEAP_STATS_DIR) return path.resolve(env.REFHEAP_STATS_DIR);
  const uid = currentUid() ?? 'user';
  const shared = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
  return path.join(shared, `refheap-${uid}`);
}

/** Why `dir` must not be used, or undefined when it is fine. A missing directory is a problem too. */
export function directoryProblem(dir: string): string | undefined {
  let info: fs.Stats;
  try {
    info = fs.lstatSync(dir);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message;
  }
  if (info.isSymbolicLink()) return 'it is a symbolic link';
  if (!info.isDirectory()) return 'it is not a directory';
  if (info.uid !== currentUid()) return `it belongs to uid ${info.uid}, not to you`;
  const mode = info.mode & 0o777;
  if ((mode & 0o077) !== 0) return `its mode is 0${mode.toString(8)}; it must be 0700`;
  return undefined;
}

/** Creates `dir` (mode 0700) if missing; why it cannot be used, or undefined. */
export function prepareStatsDirectory(dir: string): string | undefined {
  if (currentUid() === undefined) return 'live statistics pages need a POSIX system';
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    return (error as Error).message;
  }
  return directoryProblem(dir);
}
