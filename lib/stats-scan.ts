/**
 * Finding the live statistics pages in the stats directory. Pages of
 * processes that are gone (killed before they could remove them, or whose
 * pid now names another process) are skipped and removed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { currentUid, directoryProblem } from './stats-dir';
import { isPageHeader, readStatsPage, type StatsPage } from './stats-page';

const PAGE_NAME = /^(\d+)\.(\d+)$/;
const TEMPORARY_NAME = /^\.(\d+)\.\d+\.new$/;

export interface Scan {
  pages: StatsPage[];
  /** One line per file that was refused. */
  problems: string[];
  /** Files of dead processes that were removed. */
  removed: string[];
}

/** From /proc/<pid>/stat: the state letter and field 22, the start time in ticks after boot. */
function procStat(pid: number): { state: string; start: number } | undefined {
  try {
    const line = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = line.slice(line.lastIndexOf(')') + 2).split(' ');  // fields from number 3 on
    return { state: fields[0]!, start: Number(fields[22 - 3]) };
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` runs, and is the same process that wrote a page recording
 * `processStart` (0: unknown). A zombie has ended: its parent just has not
 * collected its status yet.
 */
export function processAlive(pid: number, processStart = 0): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(pid);
  if (stat === undefined) return true;  // no /proc: kill() is all we know
  return stat.state !== 'Z' && stat.state !== 'X' && (processStart === 0 || stat.start === processStart);
}

/**
 * Removes `file` if it is a page (or a page's temporary file) that process
 * `pid` made: ours, mode 0600, a page's magic, `pid` in its header (or, for
 * a temporary file, nothing written yet). Anything
 * else (a user's file that merely has a page's name) stays. The name is
 * removed only if it still names the file that was checked.
 */
function removeDeadPage(file: string, pid: number, temporary = false): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    const info = fs.fstatSync(fd);
    if (!info.isFile() || info.uid !== currentUid() || (info.mode & 0o777 & ~0o600) !== 0) return false;
    const header = Buffer.alloc(40);
    const read = fs.readSync(fd, header, 0, 40, 0);
    // A temporary file may be caught before its header was written: empty, or zeros.
    const unwritten = temporary && header.subarray(0, read).every((byte) => byte === 0);
    if (!unwritten && (read !== 40 || (info.mode & 0o777) !== 0o600 || !isPageHeader(header, pid))) return false;
    const now = fs.lstatSync(file);
    if (now.ino !== info.ino || now.dev !== info.dev) return false;
    fs.unlinkSync(file);
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The pages in `dir`, optionally only those of `pid` (and `heapId`), sorted by pid and heap id. */
export function scanPages(dir: string, only: { pid?: number; heapId?: number } = {}): Scan {
  const scan: Scan = { pages: [], problems: [], removed: [] };
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return scan;  // no heap has published yet
    scan.problems.push(`cannot read ${dir}: ${(error as Error).message}`);
    return scan;
  }
  const problem = directoryProblem(dir);
  if (problem !== undefined) {
    scan.problems.push(`refusing ${dir}: ${problem}`);
    return scan;
  }
  const entries = names
    .map((name) => ({ name, match: PAGE_NAME.exec(name) }))
    .filter((entry) => entry.match !== null)
    .map(({ name, match }) => ({ file: path.join(dir, name), pid: Number(match![1]), heapId: Number(match![2]) }))
    .filter((entry) => (only.pid === undefined || entry.pid === only.pid) && (only.heapId === undefined || entry.heapId === only.heapId))
    .sort((a, b) => a.pid - b.pid || a.heapId - b.heapId);
  for (const entry of entries) {
    try {
      const page = readStatsPage(entry.file);
      if (page.pid !== entry.pid || page.heapId !== entry.heapId) {
        scan.problems.push(`${entry.file}: is malformed: it says it is ${page.pid}.${page.heapId}`);
      } else if (processAlive(page.pid, page.processStart)) {
        scan.pages.push(page);
      } else if (removeDeadPage(entry.file, entry.pid)) {
        scan.removed.push(entry.file);
      }
    } catch (error) {
      // A dead process may have left its page half-written: remove it quietly.
      if (!processAlive(entry.pid) && removeDeadPage(entry.file, entry.pid)) scan.removed.push(entry.file);
      else scan.problems.push((error as Error).message);
    }
  }
  for (const name of names) {
    const match = TEMPORARY_NAME.exec(name);
    const file = path.join(dir, name);
    if (match && !processAlive(Number(match[1])) && removeDeadPage(file, Number(match[1]), true)) scan.removed.push(file);
  }
  return scan;
}
